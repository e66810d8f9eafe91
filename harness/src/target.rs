//! Targets: a server someone else runs (a URL), or one the harness launches from a named spec
//! in `targets.yaml` on a free port, waits for, and stops by its pid.
//!
//! A launch spec's strings may use `{port}`, `{secret}` (a fresh JWT secret per launch, also
//! used to mint scenario tokens), `{workdir}` (a temporary directory per launch, for the
//! database), `{bin_dir}` (the directory of the harness's own executable, so a release
//! harness launches release servers and `CARGO_TARGET_DIR` is honoured) and `{env:NAME}` (the
//! harness's environment variable NAME, empty if unset, e.g. a database server's URL). `setup`
//! commands (loading fixtures) run once per launch, before the server starts.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Config(String),
    #[error("cannot start {name}: {detail}")]
    Launch { name: String, detail: String },
    #[error("{name} did not become ready on port {port} within {timeout:?}{log}")]
    NotReady {
        name: String,
        port: u16,
        timeout: Duration,
        log: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `targets.yaml`: named launch specs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    pub targets: BTreeMap<String, LaunchSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSpec {
    /// Program and arguments.
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Commands run before each launch (fixtures), with the same environment.
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// Working directory, relative to the targets file.
    #[serde(default)]
    pub cwd: Option<String>,
    /// HTTP path that answers 200 once the server is ready.
    #[serde(default = "default_ready")]
    pub ready: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Loads an extra SQL file (`{sql}`), e.g. the load mode's users; same environment.
    #[serde(default)]
    pub seed: Option<Vec<String>>,
}

fn default_ready() -> String {
    "/health".to_owned()
}

/// What `--target` named.
#[derive(Debug, Clone)]
pub enum Target {
    Url {
        url: String,
        secret: Option<String>,
    },
    Launch {
        name: String,
        spec: LaunchSpec,
        base: PathBuf,
    },
}

impl Target {
    /// `http://…` is a URL; anything else names a spec in `targets_file`.
    pub fn resolve(
        name: &str,
        targets_file: &Path,
        secret: Option<String>,
    ) -> Result<Self, TargetError> {
        if name.starts_with("http://") || name.starts_with("https://") {
            return Ok(Target::Url {
                url: name.trim_end_matches('/').to_owned(),
                secret,
            });
        }
        let text = std::fs::read_to_string(targets_file).map_err(|e| {
            TargetError::Config(format!(
                "target {name:?} is not a URL and {} cannot be read: {e}",
                targets_file.display()
            ))
        })?;
        let file: TargetsFile = serde_saphyr::from_str(&text)
            .map_err(|e| TargetError::Config(format!("{}: {e}", targets_file.display())))?;
        let spec = file.targets.get(name).cloned().ok_or_else(|| {
            TargetError::Config(format!(
                "no target {name:?} in {} (known: {})",
                targets_file.display(),
                file.targets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let base = targets_file
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Target::Launch {
            name: name.to_owned(),
            spec,
            base,
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Url { url, .. } => url,
            Target::Launch { name, .. } => name,
        }
    }

    /// Makes the target reachable: launches it if it is a spec.
    pub async fn start(&self) -> Result<RunningTarget, TargetError> {
        self.start_with_sql(None).await
    }

    /// Like [`Target::start`], loading `extra_sql` with the spec's `seed` command first.
    pub async fn start_with_sql(
        &self,
        extra_sql: Option<&str>,
    ) -> Result<RunningTarget, TargetError> {
        match self {
            Target::Url { url, secret } => {
                let addr = resolve_addr(url)?;
                Ok(RunningTarget {
                    base_url: url.clone(),
                    addr,
                    secret: secret.clone(),
                    process: None,
                })
            }
            Target::Launch { name, spec, base } => {
                let port = free_port()?;
                let workdir = tempfile::tempdir()?;
                let secret = random_secret();
                let mut launched = Launched {
                    name: name.clone(),
                    spec: spec.clone(),
                    cwd: spec
                        .cwd
                        .as_ref()
                        .map_or_else(|| base.clone(), |c| base.join(c)),
                    port,
                    secret: secret.clone(),
                    workdir,
                    child: None,
                };
                launched.setup().await?;
                if let Some(sql) = extra_sql {
                    launched.seed(sql).await?;
                }
                launched.spawn().await?;
                Ok(RunningTarget {
                    base_url: format!("http://127.0.0.1:{port}"),
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    secret: Some(secret),
                    process: Some(launched),
                })
            }
        }
    }
}

fn resolve_addr(url: &str) -> Result<SocketAddr, TargetError> {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:80")
    };
    with_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| TargetError::Config(format!("cannot resolve {url}")))
}

/// A free loopback port (the kernel picks it; it is released for the server to bind).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_secret() -> String {
    (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect()
}

/// A reachable target; launched ones can be stopped, killed and started again.
pub struct RunningTarget {
    pub base_url: String,
    pub addr: SocketAddr,
    /// The JWT secret, when the harness knows it.
    pub secret: Option<String>,
    process: Option<Launched>,
}

impl RunningTarget {
    pub fn pid(&self) -> Option<u32> {
        self.process
            .as_ref()
            .and_then(|p| p.child.as_ref())
            .and_then(Child::id)
    }

    /// How a launched server ended, if it has (a URL target: always `None`).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process
            .as_mut()
            .and_then(|p| p.child.as_mut())
            .and_then(|child| child.try_wait().ok().flatten())
    }

    /// A launched server's output (stdout and stderr) from byte `offset` on, and the offset to
    /// read from next time; `None` for a URL target or if the log cannot be read.
    pub fn log_since(&self, offset: u64) -> Option<(String, u64)> {
        use std::io::{Read, Seek, SeekFrom};
        let process = self.process.as_ref()?;
        let mut file = std::fs::File::open(process.log_path()).ok()?;
        let end = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(offset.min(end))).ok()?;
        let mut bytes = Vec::new();
        file.take(end.saturating_sub(offset))
            .read_to_end(&mut bytes)
            .ok()?;
        Some((String::from_utf8_lossy(&bytes).into_owned(), end))
    }

    fn launched(&mut self) -> Result<&mut Launched, TargetError> {
        self.process.as_mut().ok_or_else(|| {
            TargetError::Config("`server` steps need a target the harness launches".into())
        })
    }

    /// SIGTERM and wait for the exit (SIGKILL after 10 s).
    pub async fn stop(&mut self) -> Result<(), TargetError> {
        self.launched()?.stop().await;
        Ok(())
    }

    pub async fn kill(&mut self) -> Result<(), TargetError> {
        self.launched()?.kill().await;
        Ok(())
    }

    /// Starts the server again on the same port, database and secret.
    pub async fn start(&mut self) -> Result<(), TargetError> {
        self.launched()?.spawn().await
    }

    /// Stops a launched server; a URL target is left alone.
    pub async fn shutdown(mut self) {
        if let Some(process) = self.process.as_mut() {
            process.stop().await;
        }
    }
}

struct Launched {
    name: String,
    spec: LaunchSpec,
    cwd: PathBuf,
    port: u16,
    secret: String,
    workdir: tempfile::TempDir,
    child: Option<Child>,
}

impl Launched {
    fn fill(&self, text: &str) -> String {
        expand_env(
            &text
                .replace("{port}", &self.port.to_string())
                .replace("{secret}", &self.secret)
                .replace("{workdir}", &self.workdir.path().display().to_string())
                .replace("{bin_dir}", &bin_dir().display().to_string()),
        )
    }

    /// Why `argv` could not be run, with a hint when the program does not exist.
    fn cannot_run(&self, what: &str, argv: &[String], error: std::io::Error) -> TargetError {
        let program = argv.first().map(|p| self.fill(p)).unwrap_or_default();
        let detail = if error.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{what}: {program} not found (cwd {}); build it first, with the same profile and target directory as sio-harness",
                self.cwd.display()
            )
        } else {
            format!("{what} {argv:?}: {error}")
        };
        TargetError::Launch {
            name: self.name.clone(),
            detail,
        }
    }

    fn command(&self, argv: &[String]) -> Result<Command, TargetError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| TargetError::Config(format!("target {}: empty command", self.name)))?;
        let mut command = Command::new(self.fill(program));
        command
            .args(args.iter().map(|a| self.fill(a)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        for (key, value) in &self.spec.env {
            command.env(key, self.fill(value));
        }
        Ok(command)
    }

    fn log_path(&self) -> PathBuf {
        self.workdir.path().join("server.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn seed(&self, sql: &str) -> Result<(), TargetError> {
        let argv = self.spec.seed.as_ref().ok_or_else(|| {
            TargetError::Config(format!(
                "target {} has no `seed` command for extra SQL",
                self.name
            ))
        })?;
        let path = self.workdir.path().join("extra.sql");
        std::fs::write(&path, sql)?;
        let path = path.display().to_string();
        let argv: Vec<String> = argv.iter().map(|a| a.replace("{sql}", &path)).collect();
        self.run_setup(&argv).await
    }

    async fn setup(&self) -> Result<(), TargetError> {
        for argv in &self.spec.setup {
            self.run_setup(argv).await?;
        }
        Ok(())
    }

    async fn run_setup(&self, argv: &[String]) -> Result<(), TargetError> {
        let output = self
            .command(argv)?
            .output()
            .await
            .map_err(|e| self.cannot_run("setup", argv, e))?;
        if !output.status.success() {
            return Err(TargetError::Launch {
                name: self.name.clone(),
                detail: format!(
                    "setup {argv:?} failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    async fn spawn(&mut self) -> Result<(), TargetError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut command = self.command(&self.spec.command)?;
        command
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| self.cannot_run("command", &self.spec.command, e))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(20)).await
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), TargetError> {
        let url = format!("http://127.0.0.1:{}{}", self.port, self.spec.ready);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| TargetError::Config(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(TargetError::Launch {
                    name: self.name.clone(),
                    detail: format!(
                        "exited with {status} before it was ready\n{}",
                        tail(&self.log())
                    ),
                });
            }
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(TargetError::NotReady {
            name: self.name.clone(),
            port: self.port,
            timeout,
            log: format!("\n{}", tail(&self.log())),
        })
    }

    fn signal(&self, signal: &str) {
        if let Some(pid) = self.child.as_ref().and_then(Child::id) {
            let _ = std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        }
    }

    async fn stop(&mut self) {
        self.signal("-TERM");
        if let Some(mut child) = self.child.take()
            && tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
        {
            let _ = child.kill().await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// Replaces each `{env:NAME}` with the variable's value (empty if unset).
fn expand_env(text: &str) -> String {
    let mut expanded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{env:") {
        let Some(length) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + "{env:".len()..start + length];
        expanded.push_str(&rest[..start]);
        expanded.push_str(&std::env::var(name).unwrap_or_default());
        rest = &rest[start + length + 1..];
    }
    expanded.push_str(rest);
    expanded
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Where the harness's own executable lives (`target/debug`, `target/release`, or under
/// `CARGO_TARGET_DIR`): the servers of the same build are beside it. A test binary lives one
/// level down, in `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().map(Path::to_path_buf).unwrap_or(dir),
        _ => dir,
    }
}

#[cfg(test)]
mod tests {
    use super::expand_env;

    #[test]
    fn env_references_expand() {
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_env("a{env:PATH}b"), format!("a{path}b"));
        assert_eq!(expand_env("{env:SIO_SURELY_UNSET_VARIABLE}/db"), "/db");
        assert_eq!(expand_env("{port} {env:unclosed"), "{port} {env:unclosed");
    }
}
