//! Exhaustion: `sio-harness exhaust` holds many connections that never become useful users, one
//! kind at a time, while the control client ([`crate::common::control`]) runs the seed's flow, and
//! reports per kind what the server did with them and what it cost the real user.
//!
//! The kinds, each a phase: TCP connections that send nothing (`tcp`); WebSocket upgrades whose
//! Engine.IO session never sends the Socket.IO connect (`websocket`); long-polling handshakes
//! never polled again (`polling`); request heads sent one byte a second (`slowloris`); and
//! authenticated sockets that stay connected doing nothing (`idle`, which the server must keep).
//! A quiet phase first gives the control client's figures to compare with. For each phase: how
//! many connections the server closed and how soon, how many were still open when the phase
//! ended, the server's memory and open files at the peak and after, and the control client's
//! latency while it lasted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

mod connections;

use crate::common::control::{self, ControlOptions};
use crate::common::metrics::{Percentiles, open_files, sample};
use crate::common::virtual_client::{ClientPlan, Conversation, VirtualClients};
use crate::target::RunningTarget;
use crate::transport::EndpointOptions;
use connections::{
    Ended, abandon_polling, hold_idle_client, hold_stream, slowloris, websocket_upgrade,
};

/// Connections opened per second in a phase: fast enough for thousands, slow enough that the
/// listen backlog does not overflow and turn the measurement into one of SYN retries.
const OPEN_RATE: u32 = 1_000;
/// How often the server's memory and open files are read during a phase.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// One kind of connection that never becomes a useful user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    Tcp,
    Websocket,
    Polling,
    Slowloris,
    Idle,
}

impl Attack {
    fn describe(self) -> &'static str {
        match self {
            Attack::Tcp => "TCP connections that send nothing",
            Attack::Websocket => "WebSocket sessions that never send the Socket.IO connect",
            Attack::Polling => "polling handshakes never polled again",
            Attack::Slowloris => "request heads sent one byte a second",
            Attack::Idle => "authenticated sockets, connected and idle",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExhaustOptions {
    /// Each attack with its connection count, run in this order.
    pub phases: Vec<(Attack, usize)>,
    /// How long each phase holds its connections.
    pub hold: Duration,
    /// The control client alone, before the first phase.
    pub quiet: Duration,
    /// Virtual clients 1 … N of the profile the idle sockets are, in turn.
    pub users: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseReport {
    pub attack: Option<Attack>,
    pub description: String,
    pub requested: usize,
    /// Connections (or sessions) established.
    pub opened: u64,
    pub open_failures: u64,
    pub first_open_failure: Option<String>,
    /// Idle users whose first connect failed and who tried again (and why the first failed).
    pub open_retries: u64,
    pub first_retry_reason: Option<String>,
    /// Closed by the server while the phase held them.
    pub closed_by_server: u64,
    /// When the server closed them, from each one's opening.
    pub closed_after_s: Percentiles,
    /// Still open (a polling session: still known) when the phase ended.
    pub still_open: u64,
    pub rss_start_kib: Option<u64>,
    pub rss_peak_kib: Option<u64>,
    /// After the phase's connections were closed from this side and the server had 2 s.
    pub rss_after_kib: Option<u64>,
    pub open_files_start: Option<u64>,
    pub open_files_peak: Option<u64>,
    pub open_files_after: Option<u64>,
    /// The control client's answers while the phase held its connections.
    pub control: Percentiles,
    pub control_answers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExhaustReport {
    pub target: String,
    pub hold_s: f64,
    pub quiet: PhaseReport,
    pub phases: Vec<PhaseReport>,
    pub control_failures: u64,
    pub control_first_failure: Option<String>,
    /// Whether the server was still running at the end (always, for a URL target).
    pub server_alive: bool,
}

impl ExhaustReport {
    /// The server stayed up and the control client was never refused or timed out.
    pub fn passed(&self) -> bool {
        self.server_alive && self.control_failures == 0
    }
}

/// Runs the quiet phase and every attack phase against `target`.
pub async fn run(
    target: &mut RunningTarget,
    name: &str,
    profile: &VirtualClients,
    options: &ExhaustOptions,
) -> Result<ExhaustReport, String> {
    let conversation = profile.conversation()?;
    let idle_clients: Arc<[ClientPlan]> = if options.phases.iter().any(|(a, _)| *a == Attack::Idle)
    {
        profile.clients(1..=options.users.max(1))?.into()
    } else {
        Arc::new([])
    };
    let (stop_control, stop_rx) = watch::channel(false);
    let control = tokio::spawn(control::run(
        ControlOptions {
            base_url: target.base_url.clone(),
            plan: profile.control()?,
            conversation: conversation.clone(),
            rounds_per_connection: 10,
        },
        stop_rx,
    ));
    let quiet_started = Instant::now();
    let mut quiet = PhaseReport {
        description: "the control client alone".into(),
        rss_start_kib: sample(target.pid()).map(|s| s.rss_kib),
        open_files_start: target.pid().and_then(open_files),
        ..PhaseReport::default()
    };
    tokio::time::sleep(options.quiet).await;
    let mut windows = vec![(quiet_started, Instant::now())];
    let mut phases = Vec::new();
    for &(attack, count) in &options.phases {
        let (report, window) = run_phase(
            target,
            attack,
            count,
            options,
            (&idle_clients, &conversation),
        )
        .await?;
        phases.push(report);
        windows.push(window);
    }
    let _ = stop_control.send(true);
    let control = control.await.map_err(|e| format!("control client: {e}"))?;
    let in_window = |(from, to): (Instant, Instant)| {
        let mut answers: Vec<Duration> = control
            .samples
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, took)| *took)
            .collect();
        (answers.len(), Percentiles::of(&mut answers))
    };
    for (phase, window) in std::iter::once(&mut quiet)
        .chain(phases.iter_mut())
        .zip(windows)
    {
        (phase.control_answers, phase.control) = in_window(window);
    }
    Ok(ExhaustReport {
        target: name.to_owned(),
        hold_s: options.hold.as_secs_f64(),
        quiet,
        phases,
        control_failures: control.failures,
        control_first_failure: control.first_failure,
        server_alive: target.exit_status().is_none(),
    })
}

/// Opens `count` connections of one kind, holds them for `options.hold` while sampling the
/// server, then closes what is left; returns the phase's figures and its control window.
async fn run_phase(
    target: &RunningTarget,
    attack: Attack,
    count: usize,
    options: &ExhaustOptions,
    (idle_clients, conversation): (&Arc<[ClientPlan]>, &Conversation),
) -> Result<(PhaseReport, (Instant, Instant)), String> {
    let pid = target.pid();
    let mut report = PhaseReport {
        attack: Some(attack),
        description: attack.describe().into(),
        requested: count,
        rss_start_kib: sample(pid).map(|s| s.rss_kib),
        open_files_start: pid.and_then(open_files),
        ..PhaseReport::default()
    };
    let addr = target.addr;
    let base_url = target.base_url.clone();
    let conversation = Arc::new(conversation.clone());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let (release, released) = watch::channel(false);
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let opened = Arc::new(AtomicU64::new(0));
    let retried = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut connections: JoinSet<Ended> = JoinSet::new();
    let started = Instant::now();
    let mut peak = (report.rss_start_kib, report.open_files_start);
    let note_peak = |peak: &mut (Option<u64>, Option<u64>)| {
        let rss = sample(pid).map(|s| s.rss_kib);
        let files = pid.and_then(open_files);
        peak.0 = peak.0.max(rss);
        peak.1 = peak.1.max(files);
    };
    let mut last_sample = Instant::now();
    for index in 0..count {
        let released = released.clone();
        let first_failure = first_failure.clone();
        let opened = opened.clone();
        let retried = retried.clone();
        let idle_clients = idle_clients.clone();
        let conversation = conversation.clone();
        let base_url = base_url.clone();
        let http = http.clone();
        connections.spawn(async move {
            let outcome = match attack {
                Attack::Tcp => hold_stream(addr, b"", released).await,
                Attack::Websocket => hold_stream(addr, &websocket_upgrade(index), released).await,
                Attack::Slowloris => slowloris(addr, released).await,
                Attack::Polling => abandon_polling(&http, &base_url, released).await,
                Attack::Idle => match idle_clients.get(index % idle_clients.len().max(1)) {
                    Some(client) => {
                        let options =
                            client.options(&conversation, EndpointOptions::new(&base_url));
                        hold_idle_client(options, released, &retried).await
                    }
                    None => Err("no idle clients were planned".to_owned()),
                },
            };
            match outcome {
                Ok(ended) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    ended
                }
                Err(error) => {
                    let mut first = first_failure
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    first.get_or_insert(error);
                    Ended::FailedToOpen
                }
            }
        });
        // Paced: connection `index` starts at index / OPEN_RATE seconds.
        let due = started + Duration::from_secs_f64(index as f64 / f64::from(OPEN_RATE));
        tokio::time::sleep_until(due).await;
        if last_sample.elapsed() >= SAMPLE_EVERY {
            last_sample = Instant::now();
            note_peak(&mut peak);
        }
    }
    let window_start = Instant::now();
    let hold_until = window_start + options.hold;
    while Instant::now() < hold_until {
        note_peak(&mut peak);
        tokio::time::sleep(SAMPLE_EVERY.min(hold_until - Instant::now())).await;
    }
    let window_end = Instant::now();
    let _ = release.send(true);
    let mut closed_after = Vec::new();
    while let Some(joined) = connections.join_next().await {
        match joined.map_err(|e| format!("an attacking connection's task failed: {e}"))? {
            Ended::FailedToOpen => report.open_failures += 1,
            Ended::ClosedByServer(after) => closed_after.push(after),
            Ended::StillOpen => report.still_open += 1,
        }
    }
    report.opened = opened.load(Ordering::Relaxed);
    let retried = std::mem::take(&mut *retried.lock().unwrap_or_else(|p| p.into_inner()));
    report.open_retries = retried.len() as u64;
    report.first_retry_reason = retried.into_iter().next();
    report.closed_by_server = closed_after.len() as u64;
    report.closed_after_s = seconds(Percentiles::of(&mut closed_after));
    report.first_open_failure = first_failure
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    (report.rss_peak_kib, report.open_files_peak) = peak;
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.rss_after_kib = sample(pid).map(|s| s.rss_kib);
    report.open_files_after = pid.and_then(open_files);
    Ok((report, (window_start, window_end)))
}

/// Percentiles of durations read as seconds rather than milliseconds.
fn seconds(ms: Percentiles) -> Percentiles {
    Percentiles {
        p50: ms.p50 / 1000.0,
        p90: ms.p90 / 1000.0,
        p99: ms.p99 / 1000.0,
        max: ms.max / 1000.0,
    }
}

/// The report as a table.
pub fn table(report: &ExhaustReport) -> String {
    use std::fmt::Write as _;
    let mib =
        |kib: Option<u64>| kib.map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
    let count = |n: Option<u64>| n.map_or("-".to_owned(), |n| n.to_string());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "exhaust {}: each phase held {:.0} s; control client p99 quiet {:.1} ms",
        report.target, report.hold_s, report.quiet.control.p99
    );
    let _ = writeln!(
        out,
        "{:<10} {:>6} {:>6} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9} {:>7} {:>7} {:>10}",
        "phase",
        "asked",
        "opened",
        "closed",
        "closed@p50",
        "open",
        "rss MiB",
        "peak MiB",
        "after MiB",
        "fds pk",
        "fds af",
        "ctl p99 ms"
    );
    for phase in std::iter::once(&report.quiet).chain(&report.phases) {
        let name = match phase.attack {
            Some(attack) => serde_json::to_value(attack)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            None => "quiet".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<10} {:>6} {:>6} {:>7} {:>9.1}s {:>7} {:>9} {:>9} {:>9} {:>7} {:>7} {:>10.1}",
            name,
            phase.requested,
            phase.opened,
            phase.closed_by_server,
            phase.closed_after_s.p50,
            phase.still_open,
            mib(phase.rss_start_kib),
            mib(phase.rss_peak_kib),
            mib(phase.rss_after_kib),
            count(phase.open_files_peak),
            count(phase.open_files_after),
            phase.control.p99,
        );
        if let Some(failure) = &phase.first_open_failure {
            let _ = writeln!(
                out,
                "  {} failed to open; first: {failure}",
                phase.open_failures
            );
        }
        if let Some(reason) = &phase.first_retry_reason {
            let _ = writeln!(
                out,
                "  {} connected on a second try; first: {reason}",
                phase.open_retries
            );
        }
    }
    let _ = writeln!(
        out,
        "control client: {} failures{}; server {}",
        report.control_failures,
        report
            .control_first_failure
            .as_ref()
            .map(|f| format!(" (first: {f})"))
            .unwrap_or_default(),
        if report.server_alive { "up" } else { "EXITED" }
    );
    out
}
