//! The processes a launch starts beside its server nodes, on free loopback ports: a cluster's
//! redis-server (no persistence, loopback only, in the launch's working directory) and
//! optionally HAProxy in front of the nodes, run from a committed config (`deploy/haproxy.cfg`)
//! with the addresses in its environment, as a person runs it by hand; and a spec's own
//! `services` (fakes of what the server depends on, such as Uptime Kuma).
//!
//! Each is one child process, waited for until it answers (redis: `PING`; HAProxy: a TCP
//! connect; a spec's service: an HTTP path answering 2xx), and stopped, killed, frozen and thawed
//! by its pid.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::process;
use super::{TargetError, tail};

/// How long a service may take to answer after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a service shows it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Probe {
    /// `PING` answered with `+PONG`.
    RedisPing,
    /// The port accepts a connection.
    Accepts,
    /// `GET` of this path answers with a 2xx status.
    Http(String),
}

pub(super) struct Service {
    /// For messages: `redis-server`, `haproxy`, a spec's service name.
    pub label: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    pub port: u16,
    log: PathBuf,
    probe: Probe,
    child: Option<Child>,
    frozen: bool,
}

impl Service {
    pub fn new(
        label: impl Into<String>,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        cwd: PathBuf,
        port: u16,
        log: PathBuf,
        probe: Probe,
    ) -> Self {
        Self {
            label: label.into(),
            argv,
            env,
            cwd,
            port,
            log,
            probe,
            child: None,
            frozen: false,
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn frozen(&self) -> bool {
        self.frozen
    }

    fn launch_error(&self, detail: String) -> TargetError {
        TargetError::Launch {
            name: self.label.clone(),
            detail,
        }
    }

    /// Starts the process (on the same port every time) and waits until it answers.
    pub async fn spawn(&mut self) -> Result<(), TargetError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| TargetError::Config(format!("{}: empty command", self.label)))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                self.launch_error(if e.kind() == std::io::ErrorKind::NotFound {
                    match self.probe {
                        Probe::Http(_) => format!(
                            "{program} not found (cwd {}); build it first, with the same profile and target directory as sio-harness",
                            self.cwd.display()
                        ),
                        _ => format!(
                            "{program} not found; install it (apt-get install redis-server haproxy)"
                        ),
                    }
                } else {
                    format!("{:?}: {e}", self.argv)
                })
            })?;
        self.child = Some(child);
        self.frozen = false;
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), TargetError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(self.launch_error(format!(
                    "exited with {status} before it was ready\n{}",
                    tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
                )));
            }
            let attempt = tokio::time::timeout(Duration::from_millis(500), self.answers());
            if attempt.await.is_ok_and(|answered| answered) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(TargetError::NotReady {
            name: self.label.clone(),
            port: self.port,
            timeout: READY_TIMEOUT,
            log: format!(
                "\n{}",
                tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
            ),
        })
    }

    async fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        match &self.probe {
            Probe::Accepts => true,
            Probe::Http(path) => {
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
                if stream.write_all(request.as_bytes()).await.is_err() {
                    return false;
                }
                // `HTTP/1.1 200`: the status's first digit is the 10th byte.
                let mut status_line = [0u8; 10];
                stream.read_exact(&mut status_line).await.is_ok()
                    && status_line.starts_with(b"HTTP/1.")
                    && status_line[9] == b'2'
            }
            Probe::RedisPing => {
                if stream.write_all(b"PING\r\n").await.is_err() {
                    return false;
                }
                let mut answer = [0u8; 7];
                stream.read_exact(&mut answer).await.is_ok() && &answer == b"+PONG\r\n"
            }
        }
    }

    /// SIGTERM (after a SIGCONT if frozen), wait; SIGKILL after a grace period.
    pub async fn stop(&mut self) {
        process::stop(&mut self.child).await;
        self.frozen = false;
    }

    pub async fn kill(&mut self) {
        process::kill(&mut self.child).await;
        self.frozen = false;
    }

    /// SIGSTOP: connections stay open, nothing is answered.
    pub fn freeze(&mut self) {
        process::signal(self.child.as_ref(), libc::SIGSTOP);
        self.frozen = true;
    }

    /// SIGCONT.
    pub fn thaw(&mut self) {
        process::signal(self.child.as_ref(), libc::SIGCONT);
        self.frozen = false;
    }
}
