//! A node of a running target: where clients reach it, and, when the harness launched it, its
//! server process ([`Launched`]): the [`Server`] it runs (the spec's command, or another of its
//! cluster's `servers`) with its placeholders filled, the spec's setup and seed commands, its
//! log, and how it is spawned (and waited for), stopped and killed by pid.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::placeholders::{bin_dir, fill};
use super::ports::PortReservation;
use super::ready::{self, Probe, Waited};
use super::spec::{LaunchSpec, ServerSpec};
use super::{TargetError, process};

/// How long a server may take to become ready after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// One node: a single target's server (unnamed), or a cluster's named node.
pub(super) struct Node {
    pub name: String,
    pub addr: SocketAddr,
    pub base_url: String,
    /// `None` for a server someone else runs (a URL target).
    pub process: Option<Launched>,
}

/// What a node's process runs: the spec's own command, or one of its cluster's `servers`.
#[derive(Debug, Clone)]
pub(super) struct Server {
    /// The name in `cluster.servers`; `None` for the spec's own command.
    pub name: Option<String>,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    /// Added to (or replacing) the spec's `env`.
    pub env: BTreeMap<String, String>,
}

impl Server {
    /// The spec's own command, run in `cwd` (the spec's, resolved).
    pub fn own(spec: &LaunchSpec, cwd: &Path) -> Self {
        Server {
            name: None,
            command: spec.command.clone(),
            cwd: cwd.to_path_buf(),
            env: BTreeMap::new(),
        }
    }

    /// Server `name` of a cluster's `servers`; its `cwd` is relative to `base` (the targets
    /// file's directory), else the spec's `cwd`.
    pub fn named(name: &str, spec: &ServerSpec, base: &Path, spec_cwd: &Path) -> Self {
        Server {
            name: Some(name.to_owned()),
            command: spec.command.clone(),
            cwd: spec
                .cwd
                .as_ref()
                .map_or_else(|| spec_cwd.to_path_buf(), |c| base.join(c)),
            env: spec.env.clone(),
        }
    }
}

/// One server process of a launch spec.
pub(super) struct Launched {
    /// For messages: the target, and the node in a cluster.
    pub name: String,
    pub spec: LaunchSpec,
    /// The spec's working directory, where `setup` and `seed` run.
    pub cwd: PathBuf,
    /// What [`Launched::spawn`] runs.
    pub server: Server,
    /// Its port, held while the launch runs: no other launch is given it.
    pub port: PortReservation,
    /// Where the process's stdout and stderr go, kept after the run.
    pub log: PathBuf,
    pub secret: String,
    /// Shared by a cluster's nodes and services; removed when the last holder is gone.
    pub workdir: Arc<tempfile::TempDir>,
    /// `{launch_id}`, `{service:NAME}`, and in a cluster `{node}` and `{redis_url}`.
    pub placeholders: Vec<(String, String)>,
    pub child: Option<Child>,
}

impl Launched {
    fn fill(&self, text: &str) -> String {
        let own = text
            .replace("{port}", &self.port.port().to_string())
            .replace("{secret}", &self.secret)
            .replace("{workdir}", &self.workdir.path().display().to_string())
            .replace("{bin_dir}", &bin_dir().display().to_string());
        fill(&own, &self.placeholders)
    }

    /// Why `argv` could not be run, with a hint when the program does not exist.
    fn cannot_run(
        &self,
        what: &str,
        argv: &[String],
        cwd: &Path,
        error: std::io::Error,
    ) -> TargetError {
        let program = argv.first().map(|p| self.fill(p)).unwrap_or_default();
        let detail = if error.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{what}: {program} not found (cwd {}); build it first, with the same profile and target directory as sio-harness",
                cwd.display()
            )
        } else {
            format!("{what} {argv:?}: {error}")
        };
        TargetError::Launch {
            name: self.name.clone(),
            detail,
        }
    }

    /// `argv` in `cwd` with the spec's environment and `extra_env` over it.
    fn command(
        &self,
        argv: &[String],
        cwd: &Path,
        extra_env: &BTreeMap<String, String>,
    ) -> Result<Command, TargetError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| TargetError::Config(format!("target {}: empty command", self.name)))?;
        let mut command = Command::new(self.fill(program));
        command
            .args(args.iter().map(|a| self.fill(a)))
            .current_dir(cwd)
            .stdin(Stdio::null());
        for (key, value) in self.spec.env.iter().chain(extra_env) {
            command.env(key, self.fill(value));
        }
        Ok(command)
    }

    pub(super) fn log_path(&self) -> &Path {
        &self.log
    }

    pub(super) async fn seed(&self, sql: &str) -> Result<(), TargetError> {
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

    pub(super) async fn setup(&self) -> Result<(), TargetError> {
        for argv in &self.spec.setup {
            self.run_setup(argv).await?;
        }
        Ok(())
    }

    async fn run_setup(&self, argv: &[String]) -> Result<(), TargetError> {
        let output = self
            .command(argv, &self.cwd, &BTreeMap::new())?
            .output()
            .await
            .map_err(|e| self.cannot_run("setup", argv, &self.cwd, e))?;
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

    pub(super) async fn spawn(&mut self) -> Result<(), TargetError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let server = &self.server;
        let mut command = self.command(&server.command, &server.cwd, &server.env)?;
        command
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| self.cannot_run("command", &server.command, &server.cwd, e))?;
        self.child = Some(child);
        // A node started as another server says which, should it not come up.
        let name = match &self.server.name {
            Some(server) => format!("{} (server {server})", self.name),
            None => self.name.clone(),
        };
        let waited = Waited {
            name: &name,
            port: self.port.port(),
            log: &self.log,
        };
        let probe = Probe::Http(self.spec.ready.clone());
        ready::wait(&mut self.child, waited, &probe, READY_TIMEOUT).await
    }

    /// Started and not exited since.
    pub(super) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    pub(super) async fn stop(&mut self) {
        process::stop(&mut self.child, libc::SIGTERM).await;
    }

    pub(super) async fn kill(&mut self) {
        process::kill(&mut self.child).await;
    }
}
