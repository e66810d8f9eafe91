//! The processes a launch starts beside its server nodes, on free loopback ports: a cluster's
//! redis-server (no persistence, loopback only, in the launch's working directory), optionally
//! its own PostgreSQL ([`super::postgres`]) and HAProxy in front of the nodes, run from a
//! committed config (`deploy/haproxy.cfg`) with the addresses in its environment, as a person
//! runs it by hand; and a spec's own `services` (fakes of what the server depends on, such as
//! Uptime Kuma).
//!
//! Each is one child process, waited for until it answers ([`super::ready`]: redis `PING`;
//! PostgreSQL a startup message it accepts; HAProxy a TCP connect; a spec's service an HTTP path
//! answering 2xx, or a TCP connect without one), and stopped, killed, frozen and thawed by its
//! pid. [`super::launch`] says what each runs.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::TargetError;
use super::ports::PortReservation;
use super::process;
use super::ready::{self, Probe, Waited};

/// How long a service may take to answer after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Service {
    /// For messages: `redis-server`, `haproxy`, a spec's service name.
    pub label: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    /// Its port, held while the launch runs: no other launch is given it.
    port: PortReservation,
    log: PathBuf,
    probe: Probe,
    /// The signal that asks for a quick, clean exit.
    stop_signal: libc::c_int,
    /// The user (uid, gid) it runs as, when not the harness's own.
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
    frozen: bool,
}

impl Service {
    pub fn new(
        label: impl Into<String>,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        cwd: PathBuf,
        reservation: PortReservation,
        log: PathBuf,
        probe: Probe,
    ) -> Self {
        Self {
            label: label.into(),
            argv,
            env,
            cwd,
            port: reservation,
            log,
            probe,
            stop_signal: libc::SIGTERM,
            run_as: None,
            child: None,
            frozen: false,
        }
    }

    /// Stopped with `signal` instead of SIGTERM.
    pub fn with_stop_signal(mut self, signal: libc::c_int) -> Self {
        self.stop_signal = signal;
        self
    }

    /// Run as another user (a program that refuses to run as root).
    pub fn run_as(mut self, owner: Option<(u32, u32)>) -> Self {
        self.run_as = owner;
        self
    }

    pub fn port(&self) -> u16 {
        self.port.port()
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
        let mut command = Command::new(program);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        let child = command
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
                            "{program} not found; install it (scripts/setup.sh cluster postgresql)"
                        ),
                    }
                } else {
                    format!("{:?}: {e}", self.argv)
                })
            })?;
        self.child = Some(child);
        self.frozen = false;
        let waited = Waited {
            name: &self.label,
            port: self.port(),
            log: &self.log,
        };
        let result = ready::wait(&mut self.child, waited, &self.probe, READY_TIMEOUT).await;
        // One that exited is not running: `start` may spawn it again.
        if let Some(exited) = self.child.as_mut()
            && matches!(exited.try_wait(), Ok(Some(_)))
        {
            self.child = None;
        }
        result
    }

    /// Its stop signal (after a SIGCONT if frozen), wait; SIGKILL after a grace period.
    pub async fn stop(&mut self) {
        process::stop(&mut self.child, self.stop_signal).await;
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
