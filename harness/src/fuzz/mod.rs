//! Protocol fuzzing: `sio-harness fuzz` throws a seeded stream of valid and mutated Engine.IO and
//! Socket.IO frames at a server over many short websocket and long-polling connections, while a
//! control client runs the seed's flow, and checks that the server neither exits nor panics,
//! keeps serving the control client, and gives its memory back afterwards.
//!
//! The parts, kept apart so each can be tested alone:
//!
//! - [`generate`] turns a seed into [`generate::Case`]s: pure, no I/O, the same frames for the
//!   same seed;
//! - [`drive`] sends one case over its own connection, byte for byte;
//! - [`crate::common::control`] is the well-behaved client whose answers are timed (shared
//!   with `exhaust`);
//! - [`reproducer`] writes the cases in flight at a failure as a `raw` scenario;
//! - [`differential`] is the other fuzzer (two targets): generated event sequences compared
//!   between two servers;
//! - this module runs them together: cases `concurrency` at a time, the server's health and
//!   memory sampled throughout, then a settle period, then the verdict.

pub mod differential;
pub mod drive;
pub mod generate;
pub mod reproducer;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::common::control::{self, ControlOptions, ControlReport};
use crate::common::metrics::{Percentiles, sample};
use crate::common::virtual_client::VirtualClients;
use crate::target::RunningTarget;
use generate::{Case, CaseTransport, FrameClass, Generator};

/// Why a fuzz run could not be carried out (a server that misbehaves is a report, not this).
#[derive(Debug, thiserror::Error)]
pub enum FuzzError {
    #[error("handshake refused: {0}")]
    Handshake(String),
    #[error("the load profile: {0}")]
    Tokens(String),
    #[error("cannot write the reproducer {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub seed: u64,
    /// Engine.IO packets to generate.
    pub frames: u64,
    /// Cases (connections) in flight at once.
    pub concurrency: usize,
    /// How long the server idles after the last case before its memory is read again.
    pub settle: Duration,
    /// Where reproducers go.
    pub save_dir: PathBuf,
    /// The server's largest packet.
    pub max_payload: usize,
    /// Virtual clients 1 … N of the profile the fuzz connections sign in as, in turn (each has
    /// its own rate-limit allowance).
    pub clients: usize,
}

/// Resident memory of a launched server.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Memory {
    pub start_kib: Option<u64>,
    pub peak_kib: Option<u64>,
    /// After the settle period.
    pub settled_kib: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FuzzReport {
    pub target: String,
    pub seed: u64,
    pub frames_generated: u64,
    /// Frames written before the server ended their connection.
    pub frames_sent: u64,
    pub connections: u64,
    pub websocket_connections: u64,
    pub polling_connections: u64,
    /// Connections the server ended before their case had sent everything.
    pub dropped_by_server: u64,
    /// Signed-in cases of valid messages only that the server ended before everything was sent
    /// (a closing packet, sent last, does not count): valid input the server would not take.
    pub valid_cases_cut_short: u64,
    /// The first few of them, as `case N (transport): sent X of Y frames`.
    pub valid_cases_cut_short_examples: Vec<String>,
    /// Engine.IO handshakes that failed (the server should accept every one).
    pub handshake_failures: u64,
    pub first_handshake_failure: Option<String>,
    /// Messages generated per class (a binary event and its attachments are one message over
    /// polling, several over websocket).
    pub messages_by_class: BTreeMap<FrameClass, u64>,
    /// From the first case to the last one's end.
    pub fuzz_duration_s: f64,
    /// The whole run, settle period included.
    pub duration_s: f64,
    pub control: ControlReport,
    /// The control client's answers while frames were being sent, and while the server idled
    /// after (its quiet figure).
    pub control_while_fuzzing: Percentiles,
    pub control_while_quiet: Percentiles,
    pub memory: Memory,
    /// Lines of the server's output that say it panicked.
    pub panics: Vec<String>,
    /// Set when the run failed: the server exited or panicked, or the control client failed.
    pub failure: Option<String>,
    pub reproducer: Option<PathBuf>,
}

impl FuzzReport {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// How often the server's process, log and memory are looked at during the run.
const HEALTH_EVERY: Duration = Duration::from_millis(250);
/// Finished cases kept for a reproducer, besides those in flight.
const RECENT_CASES: usize = 256;
/// A control-client failure is put down to the cases started this long before it.
const BLAME_WINDOW: Duration = Duration::from_secs(3);
/// The most cases a reproducer holds.
const REPRODUCER_CASES: usize = 48;

/// What the run knows about the server's health so far.
struct Health {
    log_offset: u64,
    panics: Vec<String>,
    exited: Option<String>,
    memory: Memory,
}

impl Health {
    fn check(&mut self, target: &mut RunningTarget) {
        if let Some((text, offset)) = target.log_since(self.log_offset) {
            self.log_offset = offset;
            self.panics.extend(
                text.lines()
                    .filter(|line| line.contains("panicked"))
                    .map(str::to_owned),
            );
        }
        if self.exited.is_none() {
            self.exited = target.exit_status().map(|status| status.to_string());
        }
        if let Some(rss) = sample(target.pid()).map(|s| s.rss_kib) {
            self.memory.peak_kib = self.memory.peak_kib.max(Some(rss));
        }
    }

    fn failure(&self) -> Option<String> {
        if let Some(status) = &self.exited {
            Some(format!("the server exited ({status})"))
        } else {
            self.panics
                .first()
                .map(|line| format!("the server panicked: {line}"))
        }
    }
}

/// Runs the fuzzer against `target`; `Err` only when the run itself could not be carried out.
pub async fn run(
    target: &mut RunningTarget,
    name: &str,
    profile: &VirtualClients,
    options: &FuzzOptions,
) -> Result<FuzzReport, FuzzError> {
    let conversation = profile.conversation().map_err(FuzzError::Tokens)?;
    let connects: Vec<String> = profile
        .clients(1..=options.clients.max(1))
        .map_err(FuzzError::Tokens)?
        .iter()
        .map(|client| client.connect_packet(&conversation))
        .collect();
    let control_plan = profile.control().map_err(FuzzError::Tokens)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .map_err(|e| FuzzError::Handshake(e.to_string()))?;

    let started = Instant::now();
    let start_rss = sample(target.pid()).map(|s| s.rss_kib);
    let mut health = Health {
        log_offset: 0,
        panics: Vec::new(),
        exited: None,
        memory: Memory {
            start_kib: start_rss,
            peak_kib: start_rss,
            settled_kib: None,
        },
    };
    let (stop_control, stop_rx) = watch::channel(false);
    let control = tokio::spawn(control::run(
        ControlOptions {
            base_url: target.base_url.clone(),
            plan: control_plan,
            conversation,
            rounds_per_connection: 20,
        },
        stop_rx,
    ));

    let mut report = FuzzReport {
        target: name.to_owned(),
        seed: options.seed,
        frames_generated: 0,
        frames_sent: 0,
        connections: 0,
        websocket_connections: 0,
        polling_connections: 0,
        dropped_by_server: 0,
        valid_cases_cut_short: 0,
        valid_cases_cut_short_examples: Vec::new(),
        handshake_failures: 0,
        first_handshake_failure: None,
        messages_by_class: BTreeMap::new(),
        fuzz_duration_s: 0.0,
        duration_s: 0.0,
        control: ControlReport::default(),
        control_while_fuzzing: Percentiles::default(),
        control_while_quiet: Percentiles::default(),
        memory: Memory::default(),
        panics: Vec::new(),
        failure: None,
        reproducer: None,
    };
    let mut cases = Generator::new(
        options.seed,
        options.frames,
        options.max_payload,
        connects.len(),
    );
    let mut in_flight: BTreeMap<u64, (Case, Instant)> = BTreeMap::new();
    let mut recent: VecDeque<(Case, Instant)> = VecDeque::new();
    let mut running: JoinSet<(u64, drive::CaseOutcome)> = JoinSet::new();
    let mut last_check = Instant::now();
    let mut exhausted = false;

    loop {
        if last_check.elapsed() >= HEALTH_EVERY {
            last_check = Instant::now();
            health.check(target);
            if health.failure().is_some() {
                break;
            }
        }
        if !exhausted && running.len() < options.concurrency.max(1) {
            match cases.next() {
                Some(case) => {
                    report.frames_generated += case.frames();
                    report.connections += 1;
                    match case.transport {
                        CaseTransport::Websocket => report.websocket_connections += 1,
                        CaseTransport::Polling => report.polling_connections += 1,
                    }
                    for message in &case.messages {
                        *report.messages_by_class.entry(message.class).or_default() += 1;
                    }
                    let base_url = target.base_url.clone();
                    let http = http.clone();
                    let connect = connects[case.user % connects.len()].clone();
                    in_flight.insert(case.index, (case.clone(), Instant::now()));
                    running.spawn(async move {
                        let outcome = drive::run_case(&base_url, &http, &case, &connect).await;
                        (case.index, outcome)
                    });
                    continue;
                }
                None => exhausted = true,
            }
        }
        let Some(joined) = tokio::time::timeout(HEALTH_EVERY, running.join_next())
            .await
            .unwrap_or(None)
        else {
            if exhausted && running.is_empty() {
                break;
            }
            continue;
        };
        let Ok((index, outcome)) = joined else {
            continue;
        };
        report.frames_sent += outcome.frames_sent;
        report.dropped_by_server += u64::from(outcome.dropped_by_server);
        if let Some(error) = outcome.handshake_failed {
            report.handshake_failures += 1;
            report.first_handshake_failure.get_or_insert(error);
        }
        if let Some((case, _)) = in_flight.get(&index)
            && case.connect == generate::ConnectPlan::Authenticated
            && case.messages.iter().all(|m| m.class.is_valid())
            && outcome.frames_sent < case.frames() - closing_packets(case)
        {
            report.valid_cases_cut_short += 1;
            if report.valid_cases_cut_short_examples.len() < 5 {
                report.valid_cases_cut_short_examples.push(format!(
                    "case {} ({:?}): sent {} of {} frames",
                    case.index,
                    case.transport,
                    outcome.frames_sent,
                    case.frames()
                ));
            }
        }
        if let Some(done) = in_flight.remove(&index) {
            recent.push_back(done);
            if recent.len() > RECENT_CASES {
                recent.pop_front();
            }
        }
    }
    let crashed = health.failure().is_some();
    running.abort_all();
    let fuzz_ended = Instant::now();
    report.fuzz_duration_s = (fuzz_ended - started).as_secs_f64();

    // Settle: no more fuzz, the control client still running; memory should come back down.
    if !crashed {
        let settle_until = Instant::now() + options.settle;
        while Instant::now() < settle_until {
            tokio::time::sleep(HEALTH_EVERY).await;
            health.check(target);
            if health.failure().is_some() {
                break;
            }
        }
        health.memory.settled_kib = sample(target.pid()).map(|s| s.rss_kib);
    }
    let _ = stop_control.send(true);
    report.control = control.await.unwrap_or_default();
    let (mut busy, mut quiet): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for (asked, took) in &report.control.samples {
        if *asked < fuzz_ended {
            busy.push(*took);
        } else {
            quiet.push(*took);
        }
    }
    report.control_while_fuzzing = Percentiles::of(&mut busy);
    report.control_while_quiet = Percentiles::of(&mut quiet);
    health.check(target);

    report.duration_s = started.elapsed().as_secs_f64();
    report.memory = health.memory;
    report.panics = health.panics.iter().take(20).cloned().collect();
    report.failure = health.failure().or_else(|| {
        report.control.first_failure.as_ref().map(|what| {
            format!(
                "the control client failed {} time(s), first: {what}",
                report.control.failures
            )
        })
    });
    if let Some(reason) = report.failure.clone() {
        // The cases that may have done it: those in flight at a crash; for a control failure,
        // those started shortly before it.
        let mut suspects: Vec<(Case, Instant)> = if crashed {
            in_flight
                .into_values()
                .chain(recent.into_iter().rev().take(16))
                .collect()
        } else {
            let failed_at = report
                .control
                .first_failure_after_s
                .map(|s| started + Duration::from_secs_f64(s));
            in_flight
                .into_values()
                .chain(recent)
                .filter(|(_, at)| {
                    failed_at.is_none_or(|failed| {
                        *at <= failed && failed.duration_since(*at) <= BLAME_WINDOW
                    })
                })
                .collect()
        };
        suspects.sort_by_key(|(case, _)| case.index);
        let keep_from = suspects.len().saturating_sub(REPRODUCER_CASES);
        let suspects: Vec<Case> = suspects
            .into_iter()
            .skip(keep_from)
            .map(|(c, _)| c)
            .collect();
        let failure = reproducer::Failure {
            target: name,
            seed: options.seed,
            reason: &reason,
            profile: Some(&profile.profile),
        };
        report.reproducer = Some(reproducer::save(&options.save_dir, &failure, &suspects)?);
    }
    Ok(report)
}

/// Packets at the end of `case` that may end its session (valid, but a server may close on them).
fn closing_packets(case: &Case) -> u64 {
    case.messages
        .last()
        .filter(|m| m.ends_session())
        .map_or(0, |m| m.packets)
}

/// The report as a few lines for a terminal.
pub fn table(report: &FuzzReport) -> String {
    let mib = |kib: Option<u64>| {
        kib.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    let classes = report
        .messages_by_class
        .iter()
        .map(|(class, n)| {
            format!(
                "{}={n}",
                serde_json::to_value(class)
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "fuzz on {} (seed {}): {} frames generated, {} sent, in {:.1} s (then {:.0} s settling)\n  connections: {} ({} websocket, {} polling), {} dropped by the server ({} of them valid-only), {} handshakes failed\n  messages by class: {classes}\n  control client: {} rounds on {} connections, {} failures; answer p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (while fuzzing p50 {:.1} ms, p99 {:.1} ms; quiet p50 {:.1} ms, p99 {:.1} ms); connect p50 {:.1} ms, p99 {:.1} ms\n  server RSS: start {}, peak {}, after settling {}\n",
        report.target,
        report.seed,
        report.frames_generated,
        report.frames_sent,
        report.fuzz_duration_s,
        (report.duration_s - report.fuzz_duration_s).max(0.0),
        report.connections,
        report.websocket_connections,
        report.polling_connections,
        report.dropped_by_server,
        report.valid_cases_cut_short,
        report.handshake_failures,
        report.control.rounds,
        report.control.connections,
        report.control.failures,
        report.control.latency.p50,
        report.control.latency.p99,
        report.control.latency.max,
        report.control_while_fuzzing.p50,
        report.control_while_fuzzing.p99,
        report.control_while_quiet.p50,
        report.control_while_quiet.p99,
        report.control.connect_latency.p50,
        report.control.connect_latency.p99,
        mib(report.memory.start_kib),
        mib(report.memory.peak_kib),
        mib(report.memory.settled_kib),
    );
    if let Some(error) = &report.first_handshake_failure {
        text.push_str(&format!("  first handshake failure: {error}\n"));
    }
    match (&report.failure, &report.reproducer) {
        (Some(failure), Some(path)) => text.push_str(&format!(
            "FAILED: {failure}\n  reproducer: {}\n",
            path.display()
        )),
        (Some(failure), None) => text.push_str(&format!("FAILED: {failure}\n")),
        (None, _) => text.push_str("passed: the server stayed up and kept answering\n"),
    }
    text
}
