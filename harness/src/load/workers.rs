//! Past one process: a fleet split over worker processes, each holding its share of the clients
//! within its own open-files limit (every client is a descriptor, and a process may not hold
//! more than its hard limit).
//!
//! The coordinator starts `sio-harness load-worker` once per share and writes it a [`Plan`] as
//! one JSON line on stdin; later lines are [`FleetCommand`]s. The worker runs an in-process
//! fleet ([`super::worker_process`]) and writes each report as one JSON line on stdout, stamped with the wall clock
//! (the processes share no `Instant`), which the coordinator turns back into its own `Instant`s
//! and numbers its clients globally. Closing a worker's stdin (or dropping the coordinator's
//! fleet) ends it; the coordinator kills workers it drops.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::reports::{FleetCommand, FleetOptions, Milestone, Report};
use crate::client::ReconnectPolicy;
use crate::common::virtual_client::{ClientPlan, Conversation};
use crate::shaping::Conditions;

/// Worker processes for a fleet: how many, and the executable that serves as one (this
/// harness's, or in tests the built `sio-harness`).
#[derive(Debug, Clone)]
pub struct Workers {
    pub exe: std::path::PathBuf,
    pub count: usize,
}

/// What one worker runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// The nodes' URLs, as the coordinator numbers clients: client `first_client + i` connects
    /// to `base_urls[(first_client + i) % len]`.
    pub base_urls: Vec<String>,
    /// The global number of this worker's first client.
    pub first_client: usize,
    pub conversation: Conversation,
    pub clients: Vec<ClientPlan>,
    pub reconnect: WirePolicy,
    pub ramp_concurrency: usize,
    /// `--network`: the worker shapes its clients' connections through its own proxies.
    #[serde(default)]
    pub network: Option<Conditions>,
}

/// [`ReconnectPolicy`] as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WirePolicy {
    pub enabled: bool,
    pub attempts: Option<u32>,
    pub delay_ms: u64,
    pub delay_max_ms: u64,
    pub randomization: f64,
}

impl From<&ReconnectPolicy> for WirePolicy {
    fn from(policy: &ReconnectPolicy) -> Self {
        Self {
            enabled: policy.enabled,
            attempts: policy.attempts,
            delay_ms: policy.delay.as_millis() as u64,
            delay_max_ms: policy.delay_max.as_millis() as u64,
            randomization: policy.randomization,
        }
    }
}

impl From<&WirePolicy> for ReconnectPolicy {
    fn from(policy: &WirePolicy) -> Self {
        Self {
            enabled: policy.enabled,
            attempts: policy.attempts,
            delay: Duration::from_millis(policy.delay_ms),
            delay_max: Duration::from_millis(policy.delay_max_ms),
            randomization: policy.randomization,
        }
    }
}

/// A report on the wire: the worker's client number, wall-clock microseconds, the milestone.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireReport {
    pub client: usize,
    pub unix_us: u64,
    pub milestone: Milestone,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start a load worker ({exe}): {source}")]
    Spawn { exe: String, source: std::io::Error },
    #[error("cannot hand a load worker its plan: {0}")]
    Plan(std::io::Error),
    #[error("cannot start the shaping proxy (--network): {0}")]
    Shaping(std::io::Error),
}

/// A running worker, as the coordinator holds it.
pub struct Worker {
    /// Killed on drop.
    _child: Child,
    commands: mpsc::UnboundedSender<FleetCommand>,
}

impl Worker {
    pub fn send(&self, command: FleetCommand) {
        let _ = self.commands.send(command);
    }
}

/// Starts one worker per share of `clients` (`shares` of them, as even as possible), all
/// reporting into `reports` with global client numbers.
pub async fn start(
    exe: &Path,
    clients: Vec<ClientPlan>,
    options: &FleetOptions,
    shares: usize,
    reports: mpsc::UnboundedSender<Report>,
) -> Result<Vec<Worker>, WorkerError> {
    let per_worker = clients.len().div_ceil(shares.max(1)).max(1);
    let mut workers = Vec::new();
    for (share, chunk) in clients.chunks(per_worker).enumerate() {
        let plan = Plan {
            base_urls: options.base_urls.clone(),
            first_client: share * per_worker,
            conversation: (*options.conversation).clone(),
            clients: chunk.to_vec(),
            reconnect: WirePolicy::from(&options.reconnect),
            ramp_concurrency: options.ramp_concurrency,
            network: options.network,
        };
        workers.push(spawn(exe, &plan, reports.clone()).await?);
    }
    Ok(workers)
}

async fn spawn(
    exe: &Path,
    plan: &Plan,
    reports: mpsc::UnboundedSender<Report>,
) -> Result<Worker, WorkerError> {
    let mut child = Command::new(exe)
        .arg("load-worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| WorkerError::Spawn {
            exe: exe.display().to_string(),
            source,
        })?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(WorkerError::Plan(std::io::Error::other("no pipes")));
    };
    let mut line = serde_json::to_string(plan).map_err(|e| WorkerError::Plan(e.into()))?;
    line.push('\n');
    stdin
        .write_all(line.as_bytes())
        .await
        .map_err(WorkerError::Plan)?;
    let (commands, mut pending) = mpsc::unbounded_channel::<FleetCommand>();
    tokio::spawn(async move {
        while let Some(command) = pending.recv().await {
            let Ok(mut line) = serde_json::to_string(&command) else {
                continue;
            };
            line.push('\n');
            if stdin.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let first_client = plan.first_client;
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(report) = serde_json::from_str::<WireReport>(&line) else {
                continue;
            };
            let _ = reports.send(Report {
                client: first_client + report.client,
                at: instant_of(report.unix_us),
                milestone: report.milestone,
            });
        }
    });
    Ok(Worker {
        _child: child,
        commands,
    })
}

pub(super) fn unix_us_of(at: Instant) -> u64 {
    let wall = SystemTime::now()
        .checked_sub(at.elapsed())
        .unwrap_or(UNIX_EPOCH);
    wall.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

fn instant_of(unix_us: u64) -> Instant {
    let now_us = unix_us_of(Instant::now());
    Instant::now()
        .checked_sub(Duration::from_micros(now_us.saturating_sub(unix_us)))
        .unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_survives_the_wire() {
        let plan = Plan {
            base_urls: vec!["http://127.0.0.1:1".into()],
            first_client: 5000,
            conversation: Conversation {
                namespace: "/chat".into(),
                path: "/socket.io/".into(),
                transport: crate::transport::TransportKind::Websocket,
                ready: crate::common::virtual_client::ReadySignal::Acks {
                    count: 1,
                    expected: vec![Some(vec![serde_json::json!({"ok": true})])],
                },
                delivery: None,
            },
            clients: vec![ClientPlan {
                auth: Some(serde_json::json!({"username": "load-5001"})),
                query: Vec::new(),
                headers: vec![("x-client".into(), "5001".into())],
                on_connect: vec![(
                    "join".into(),
                    vec![serde_json::json!({"room": "a"})],
                    Some(10),
                )],
            }],
            reconnect: WirePolicy::from(&ReconnectPolicy::default()),
            ramp_concurrency: 256,
            network: Some(Conditions::parse("3g").expect("a profile")),
        };
        let text = serde_json::to_string(&plan).expect("serializes");
        let back: Plan = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, plan);
        assert_eq!(
            ReconnectPolicy::from(&back.reconnect),
            ReconnectPolicy::default()
        );
    }

    #[test]
    fn wall_clock_stamps_come_back_as_nearly_the_same_instant() {
        let at = Instant::now() - Duration::from_millis(250);
        let back = instant_of(unix_us_of(at));
        let error = if back > at { back - at } else { at - back };
        assert!(error < Duration::from_millis(5), "{error:?}");
    }
}
