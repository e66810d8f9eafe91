//! Connection churn: short-lived connections opened at a steady rate, each closed in one of the
//! ways real clients leave, with the server's memory sampled every second, during the run and
//! while it idles after, to see whether closed connections are released and how soon.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::fleet::source_addresses;
use crate::client::{Client, ClientOptions, Command, NamespaceOptions, Observed, ReconnectPolicy};
use crate::codec::engine::Frame;
use crate::common::metrics::{open_files, sample, threads};
use crate::common::users;
use crate::target::RunningTarget;
use crate::transport::{self, EndpointOptions, TransportKind};

/// How each short connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChurnMode {
    /// Connect with a token, subscribe, get `status:current`, disconnect cleanly.
    Clean,
    /// The same, then reset the TCP connection without a disconnect packet.
    Drop,
    /// Connect, then send a malformed packet, which makes the server drop the connection.
    Malformed,
    /// Engine.IO handshake only, closed before any Socket.IO connect (an abandoned handshake).
    OpenOnly,
}

#[derive(Debug, Clone)]
pub struct ChurnOptions {
    /// Connections started per second.
    pub rate: u32,
    pub duration: Duration,
    pub mode: ChurnMode,
    /// Users `load-1` … `load-N` the connections sign in as, in turn.
    pub users: usize,
    /// Memory keeps being sampled this long after the last connection started.
    pub idle: Duration,
    /// How long each connection stays after its `status:current` before it ends: with `rate`,
    /// how many clients are connected at once (a soak keeps thousands churning).
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
    pub rate: u32,
    pub duration_s: f64,
    pub started: u64,
    pub completed: u64,
    /// Connections not started because too many were still in flight (the server fell behind).
    pub skipped: u64,
    pub failures: BTreeMap<String, u64>,
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

/// Runs the churn against `target` (whose users `load-1` … `load-N` exist).
pub async fn run(
    target: &RunningTarget,
    name: &str,
    options: &ChurnOptions,
) -> Result<ChurnReport, String> {
    let rate = options.rate.max(1);
    let tokens = users::tokens(target, options.users.max(1))?;
    let planned = (u64::from(rate) as f64 * options.duration.as_secs_f64()).ceil() as usize;
    let sources = source_addresses(&target.base_url, planned.max(1));
    let http = reqwest::Client::new();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let (done_tx, mut done) = mpsc::unbounded_channel::<Result<(), String>>();

    let pid = target.pid();
    let start_rss = sample(pid).map(|s| s.rss_kib);
    let t0 = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sampler = tokio::time::interval(options.sample_every.max(Duration::from_millis(100)));
    let cycle_timeout = CYCLE_TIMEOUT + options.hold;
    let mut report = ChurnReport {
        target: name.to_owned(),
        mode: options.mode,
        rate,
        duration_s: options.duration.as_secs_f64(),
        started: 0,
        completed: 0,
        skipped: 0,
        failures: BTreeMap::new(),
        start_rss_kib: start_rss,
        warm_rss_kib: None,
        peak_rss_kib: start_rss,
        end_rss_kib: None,
        idle_rss_kib: None,
        samples: Vec::new(),
    };
    let run_until = t0 + options.duration;
    let idle_until = run_until + options.idle;
    loop {
        tokio::select! {
            _ = ticker.tick(), if Instant::now() < run_until => {
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    report.skipped += 1;
                    continue;
                };
                let index = report.started as usize;
                report.started += 1;
                let mut endpoint = EndpointOptions::with_http(target.base_url.clone(), http.clone());
                endpoint.transport = TransportKind::Websocket;
                endpoint.ws_read_buffer = 1024;
                endpoint.local_address = sources.get(index % sources.len().max(1)).copied();
                endpoint.timeout = CYCLE_TIMEOUT;
                let token = tokens[index % tokens.len()].clone();
                let mode = options.mode;
                let hold = options.hold;
                let done_tx = done_tx.clone();
                tokio::spawn(async move {
                    let outcome = tokio::time::timeout(cycle_timeout, cycle(endpoint, token, mode, hold))
                        .await
                        .unwrap_or_else(|_| Err("timeout".to_owned()));
                    drop(permit);
                    let _ = done_tx.send(outcome);
                });
            }
            Some(outcome) = done.recv() => {
                report.completed += 1;
                if let Err(kind) = outcome {
                    *report.failures.entry(kind).or_default() += 1;
                }
            }
            _ = sampler.tick() => {
                let now = Instant::now();
                if now >= idle_until {
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
    Ok(report)
}

/// One short connection, ended as `mode` says; `Err` names what went wrong.
async fn cycle(
    endpoint: EndpointOptions,
    token: String,
    mode: ChurnMode,
    hold: Duration,
) -> Result<(), String> {
    if mode == ChurnMode::OpenOnly {
        let link = transport::open(&endpoint)
            .await
            .map_err(|e| e.client_message())?;
        link.close();
        return Ok(());
    }
    let options = ClientOptions {
        endpoint,
        namespaces: vec![NamespaceOptions {
            auth: Some(json!({ "token": token })),
            on_connect: vec![("subscribe:status".to_owned(), Vec::new(), None)],
            ..NamespaceOptions::new("/")
        }],
        reconnect: ReconnectPolicy {
            enabled: false,
            ..ReconnectPolicy::default()
        },
        observe_heartbeat: false,
    };
    let mut client = Client::connect(options);
    let wanted: fn(&Observed) -> bool = match mode {
        ChurnMode::Malformed => |o| matches!(o, Observed::Connect { .. }),
        _ => |o| matches!(o, Observed::Event { event, .. } if event == "status:current"),
    };
    let refused = |o: &Observed| matches!(o, Observed::ConnectError { .. });
    match client
        .wait_for(CYCLE_TIMEOUT, |o| wanted(o) || refused(o))
        .await
    {
        Some(observation) if refused(&observation.what) => {
            return Err(crate::transcript::describe(&observation.what));
        }
        Some(_) => {}
        None => return Err("no answer".to_owned()),
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
    Ok(())
}

/// The report as a few lines for a terminal.
pub fn table(report: &ChurnReport) -> String {
    let mib = |kib: Option<u64>| {
        kib.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    format!(
        "churn ({:?}) on {}: {} connections/s for {:.0} s; started {}, finished {}, skipped {}, failures {:?}\n  server RSS: start {}, warm {}, peak {}, at the end {}, after idling {}\n",
        report.mode,
        report.target,
        report.rate,
        report.duration_s,
        report.started,
        report.completed,
        report.skipped,
        report.failures,
        mib(report.start_rss_kib),
        mib(report.warm_rss_kib),
        mib(report.peak_rss_kib),
        mib(report.end_rss_kib),
        mib(report.idle_rss_kib),
    )
}
