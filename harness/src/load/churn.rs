//! Connection churn: short-lived connections of the load profile's client, arriving in phases
//! (a rate held or ramped, see [`super::arrivals`]), each closed in one of the ways real clients
//! leave, with the server's memory sampled every second, during the run and
//! while it idles after, to see whether closed connections are released and how soon.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::AtomicUsize;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::arrivals::Arrivals;
use super::fleet::source_addresses;
use super::reports::Milestone;
use crate::client::{Client, ClientOptions, Command, Observed};
use crate::codec::engine::Frame;
use crate::common::metrics::{Percentiles, open_files, sample, threads};
use crate::common::virtual_client::{ClientPlan, Conversation, VirtualClients};
use crate::scenario::profile::ArrivalPhase;
use crate::target::RunningTarget;
use crate::transport::{self, EndpointOptions};

/// How each short connection ends (the profile's `churn.end`, or `--mode`).
pub use crate::scenario::profile::ChurnEnd as ChurnMode;

#[derive(Debug, Clone)]
pub struct ChurnOptions {
    /// When connections start: rates held or ramped, phase after phase.
    pub phases: Vec<ArrivalPhase>,
    pub mode: ChurnMode,
    /// Virtual clients 1 … N of the profile the connections are, in turn.
    pub users: usize,
    /// Memory keeps being sampled this long after the last connection started.
    pub idle: Duration,
    /// How long each connection stays once ready before it ends: with the rate, how many
    /// clients are connected at once (a soak keeps thousands churning).
    pub hold: Duration,
    /// How often the server is sampled.
    pub sample_every: Duration,
}

/// The server's memory and open files at one moment of the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemorySample {
    pub t_s: f64,
    pub rss_kib: u64,
    /// Sockets included: a leaked connection shows here first.
    pub open_files: Option<u64>,
    pub threads: Option<u64>,
    /// Connections finished so far.
    pub completed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChurnReport {
    pub target: String,
    pub mode: ChurnMode,
    /// The highest arrival rate of any phase, connections per second.
    pub rate: u32,
    pub duration_s: f64,
    pub phases: Vec<ArrivalPhase>,
    pub started: u64,
    pub completed: u64,
    /// Connections not started because too many were still in flight (the server fell behind).
    pub skipped: u64,
    pub failures: BTreeMap<String, u64>,
    /// From a connection's start until it was ready (the profile's `ready`; for `open-only`,
    /// until the Engine.IO session opened), over the connections that got there.
    pub ready_ms: Percentiles,
    /// Before the first connection.
    pub start_rss_kib: Option<u64>,
    /// After the first 5 s of churn, when per-process caches and pools have warmed up.
    pub warm_rss_kib: Option<u64>,
    pub peak_rss_kib: Option<u64>,
    /// When the last connection started.
    pub end_rss_kib: Option<u64>,
    /// After idling for `idle`.
    pub idle_rss_kib: Option<u64>,
    pub samples: Vec<MemorySample>,
}

/// Connections in flight at most; beyond it the run skips rather than piling up descriptors.
pub const MAX_IN_FLIGHT: usize = 2_500;
/// How long one short connection may take.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(5);

/// Runs the churn against `target` with the clients of `profile`.
pub async fn run(
    target: &RunningTarget,
    name: &str,
    profile: &VirtualClients,
    options: &ChurnOptions,
) -> Result<ChurnReport, String> {
    let clients: Arc<[ClientPlan]> = profile.clients(1..=options.users.max(1))?.into();
    let conversation = Arc::new(profile.conversation()?);
    let mut arrivals = Arrivals::new(&options.phases);
    let planned = arrivals.planned() as usize;
    let sources = source_addresses(&target.base_url, planned.max(1));
    let http = reqwest::Client::new();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let (done_tx, mut done) = mpsc::unbounded_channel::<Result<Duration, String>>();
    let mut ready_times = Vec::with_capacity(planned);

    let pid = target.pid();
    let start_rss = sample(pid).map(|s| s.rss_kib);
    let t0 = Instant::now();
    let mut sampler = tokio::time::interval(options.sample_every.max(Duration::from_millis(100)));
    let cycle_timeout = CYCLE_TIMEOUT + options.hold;
    let mut report = ChurnReport {
        target: name.to_owned(),
        mode: options.mode,
        rate: arrivals.peak_rate().round() as u32,
        duration_s: arrivals.total().as_secs_f64(),
        phases: options.phases.clone(),
        started: 0,
        completed: 0,
        skipped: 0,
        failures: BTreeMap::new(),
        ready_ms: Percentiles::default(),
        start_rss_kib: start_rss,
        warm_rss_kib: None,
        peak_rss_kib: start_rss,
        end_rss_kib: None,
        idle_rss_kib: None,
        samples: Vec::new(),
    };
    let run_until = t0 + arrivals.total();
    let idle_until = run_until + options.idle;
    let mut next_arrival = arrivals.next_due().map(|due| t0 + due);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_arrival.unwrap_or(idle_until)), if next_arrival.is_some() => {
                // Late arrivals come at once, so the phases' count holds on a busy machine.
                next_arrival = arrivals.next_due().map(|due| t0 + due);
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    report.skipped += 1;
                    continue;
                };
                let index = report.started as usize;
                report.started += 1;
                let mut endpoint = EndpointOptions::with_http(target.base_url.clone(), http.clone());
                endpoint.ws_read_buffer = 1024;
                endpoint.local_address = sources.get(index % sources.len().max(1)).copied();
                endpoint.timeout = CYCLE_TIMEOUT;
                let clients = clients.clone();
                let conversation = conversation.clone();
                let mode = options.mode;
                let hold = options.hold;
                let done_tx = done_tx.clone();
                tokio::spawn(async move {
                    let client = &clients[index % clients.len()];
                    let options = client.options(&conversation, endpoint);
                    let outcome = tokio::time::timeout(cycle_timeout, cycle(options, &conversation, mode, hold))
                        .await
                        .unwrap_or_else(|_| Err("timeout".to_owned()));
                    drop(permit);
                    let _ = done_tx.send(outcome);
                });
            }
            Some(outcome) = done.recv() => {
                report.completed += 1;
                match outcome {
                    Ok(ready_after) => ready_times.push(ready_after),
                    Err(kind) => *report.failures.entry(kind).or_default() += 1,
                }
            }
            _ = sampler.tick() => {
                let now = Instant::now();
                // Every connection started is counted, finished or failed (each has a timeout).
                if now >= idle_until && report.completed == report.started {
                    break;
                }
                let Some(rss) = sample(pid).map(|s| s.rss_kib) else { continue };
                let elapsed = now - t0;
                report.samples.push(MemorySample {
                    t_s: elapsed.as_secs_f64(),
                    rss_kib: rss,
                    open_files: pid.and_then(open_files),
                    threads: pid.and_then(threads),
                    completed: report.completed,
                });
                report.peak_rss_kib = report.peak_rss_kib.max(Some(rss));
                if report.warm_rss_kib.is_none() && elapsed >= WARM_UP {
                    report.warm_rss_kib = Some(rss);
                }
                if report.end_rss_kib.is_none() && now >= run_until {
                    report.end_rss_kib = Some(rss);
                }
            }
        }
    }
    report.idle_rss_kib = sample(pid).map(|s| s.rss_kib);
    report.ready_ms = Percentiles::of(&mut ready_times);
    Ok(report)
}

/// One short connection, ended as `mode` says: how long it took to be ready, or what went wrong.
async fn cycle(
    options: ClientOptions,
    conversation: &Conversation,
    mode: ChurnMode,
    hold: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    if mode == ChurnMode::OpenOnly {
        let link = transport::open(&options.endpoint)
            .await
            .map_err(|e| e.client_message())?;
        let opened_after = started.elapsed();
        link.close();
        return Ok(opened_after);
    }
    let mut client = Client::connect(options);
    let acks = AtomicUsize::new(0);
    let mut settled = None;
    let seen = client
        .wait_for(CYCLE_TIMEOUT, |o| {
            settled = match (mode, conversation.milestone(o, &acks)) {
                // A malformed packet needs a connected namespace only.
                (ChurnMode::Malformed, Some(Milestone::Connected)) => Some(Milestone::Ready),
                (_, Some(m @ (Milestone::Ready | Milestone::Failure(_) | Milestone::Lost))) => {
                    Some(m)
                }
                _ => None,
            };
            settled.is_some()
        })
        .await;
    let ready_after = started.elapsed();
    match (settled, seen) {
        (Some(Milestone::Ready), _) => {}
        (_, Some(observation)) => return Err(crate::transcript::describe(&observation.what)),
        (_, None) => return Err("no answer".to_owned()),
    }
    if !hold.is_zero() {
        // Answers pings meanwhile; a disconnect by the server is a failure of the cycle.
        let gone = client
            .wait_for(hold, |o| matches!(o, Observed::Disconnect { .. }))
            .await;
        if let Some(observation) = gone {
            return Err(crate::transcript::describe(&observation.what));
        }
    }
    let ending = match mode {
        ChurnMode::Drop => Command::SimulateNetworkLoss,
        ChurnMode::Malformed => Command::Raw(Frame::Text("42[\"unterminated".to_owned())),
        ChurnMode::Clean | ChurnMode::OpenOnly => Command::Close,
    };
    client.send(ending).map_err(|e| e.to_string())?;
    // The driver ends once the connection is gone; wait for it so the cycle counts whole.
    while client.pump_for(Duration::from_millis(200)).await {}
    Ok(ready_after)
}

/// The report as a few lines for a terminal.
pub fn table(report: &ChurnReport) -> String {
    let mib = |kib: Option<u64>| {
        kib.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    format!(
        "churn ({:?}) on {}: up to {} connections/s for {:.0} s; started {}, finished {}, skipped {}, failures {:?}\n  ready after p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n  server RSS: start {}, warm {}, peak {}, at the end {}, after idling {}\n",
        report.mode,
        report.target,
        report.rate,
        report.duration_s,
        report.started,
        report.completed,
        report.skipped,
        report.failures,
        report.ready_ms.p50,
        report.ready_ms.p99,
        report.ready_ms.max,
        mib(report.start_rss_kib),
        mib(report.warm_rss_kib),
        mib(report.peak_rss_kib),
        mib(report.end_rss_kib),
        mib(report.idle_rss_kib),
    )
}
