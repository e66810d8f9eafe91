//! The control client: while the fuzzer throws garbage at the server (or `exhaust` holds its
//! connections), one well-behaved client runs the load profile's `control` flow (its emits and
//! the events that answer them) round after round and times every answer. A server that stays
//! up but stops serving real users fails here, not in the crash check.

use std::time::Duration;

use std::sync::atomic::AtomicUsize;

use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::metrics::Percentiles;
use super::virtual_client::{ControlPlan, Conversation};
use crate::client::{Client, Observed};
use crate::load::reports::Milestone;
use crate::matcher;
use crate::scenario::profile::ControlStep;
use crate::transport::EndpointOptions;

/// How long any one answer may take before the round counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ControlOptions {
    pub base_url: String,
    /// The profile's control flow (its pause between rounds keeps the client under the app's
    /// rate limit) and the client it runs as.
    pub plan: ControlPlan,
    pub conversation: Conversation,
    /// Rounds on one connection before a fresh one (so handshakes are timed too).
    pub rounds_per_connection: u32,
}

/// What the control client saw over the whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ControlReport {
    pub rounds: u64,
    pub connections: u64,
    pub failures: u64,
    pub first_failure: Option<String>,
    /// When the first failure happened, from the start of the run.
    pub first_failure_after_s: Option<f64>,
    /// Request to answer, for every event of every round.
    pub latency: Percentiles,
    /// Connecting until ready, as the profile says.
    pub connect_latency: Percentiles,
    /// Every answer's time, with when it was asked, so a run can tell busy from quiet.
    #[serde(skip)]
    pub samples: Vec<(Instant, Duration)>,
}

/// Runs rounds until `stop` turns true; returns what it saw.
pub async fn run(options: ControlOptions, mut stop: watch::Receiver<bool>) -> ControlReport {
    let started = Instant::now();
    let mut report = ControlReport::default();
    let mut answers = Vec::new();
    let mut connects = Vec::new();
    let fail = |report: &mut ControlReport, what: String| {
        report.failures += 1;
        if report.first_failure.is_none() {
            report.first_failure = Some(what);
            report.first_failure_after_s = Some(started.elapsed().as_secs_f64());
        }
    };
    let interval = options.plan.interval;
    'connections: while !*stop.borrow() {
        let mut client = connect(&options);
        report.connections += 1;
        let asked = Instant::now();
        match ready(&mut client, &options.conversation).await {
            Ok(()) => connects.push(asked.elapsed()),
            Err(what) => {
                fail(&mut report, format!("connect: {what}"));
                client.close();
                // Not too fast: a server in trouble should not be hammered by its own check.
                tokio::time::sleep(interval).await;
                continue;
            }
        }
        for _ in 0..options.rounds_per_connection {
            if *stop.borrow() {
                client.close();
                break 'connections;
            }
            match round(&mut client, &options).await {
                Ok(timed) => {
                    for (at, took) in timed {
                        answers.push(took);
                        report.samples.push((at, took));
                    }
                }
                Err(what) => {
                    fail(&mut report, what);
                    client.close();
                    continue 'connections;
                }
            }
            report.rounds += 1;
            // Sleep the interval, or less if the run ends meanwhile.
            let _ = tokio::time::timeout(interval, stop.changed()).await;
        }
        client.close();
        client.pump_for(Duration::from_millis(20)).await;
    }
    report.latency = Percentiles::of(&mut answers);
    report.connect_latency = Percentiles::of(&mut connects);
    report
}

fn connect(options: &ControlOptions) -> Client {
    let mut endpoint = EndpointOptions::new(options.base_url.clone());
    endpoint.timeout = ANSWER_TIMEOUT;
    Client::connect(options.plan.client.options(&options.conversation, endpoint))
}

/// Waits until the fresh client is ready, as the profile says.
async fn ready(client: &mut Client, conversation: &Conversation) -> Result<(), String> {
    let acks = AtomicUsize::new(0);
    let mut settled = None;
    let seen = client
        .wait_for(ANSWER_TIMEOUT, |o| {
            settled = conversation.milestone(o, &acks).filter(|m| {
                matches!(
                    m,
                    Milestone::Ready | Milestone::Failure(_) | Milestone::Lost
                )
            });
            settled.is_some()
        })
        .await;
    match (settled, seen) {
        (Some(Milestone::Ready), _) => Ok(()),
        (_, Some(observation)) => Err(crate::transcript::describe(&observation.what)),
        (_, None) => Err(format!("not ready within {ANSWER_TIMEOUT:?}")),
    }
}

/// One round of the control flow: each answer (an ack, or an expected event) with when its
/// emit was sent and how long it took; `Err` names the step that failed.
async fn round(
    client: &mut Client,
    options: &ControlOptions,
) -> Result<Vec<(Instant, Duration)>, String> {
    let namespace = &options.conversation.namespace;
    // What arrived since the last round (a broadcast, a late answer) answers nothing of this one.
    client.drain();
    while client.wait_for(Duration::ZERO, |_| true).await.is_some() {}
    let mut timed = Vec::new();
    let mut asked = Instant::now();
    for step in &options.plan.steps {
        match step {
            ControlStep::Emit(emit) => {
                asked = Instant::now();
                let ack = emit
                    .ack
                    .as_ref()
                    .map(|a| a.timeout.map_or(ANSWER_TIMEOUT, |t| t.0));
                client
                    .emit(namespace, &emit.event, emit.args.clone(), ack)
                    .map_err(|_| format!("{}: the connection is gone", emit.event))?;
                let Some(expected) = emit.ack.as_ref() else {
                    continue;
                };
                let seen = client
                    .wait_for(ANSWER_TIMEOUT, |o| {
                        matches!(
                            o,
                            Observed::Ack { .. }
                                | Observed::AckError { .. }
                                | Observed::Disconnect { .. }
                        )
                    })
                    .await
                    .map(|o| o.what);
                match seen {
                    Some(Observed::Ack { args, .. })
                        if expected.args.as_ref().is_none_or(|want| {
                            matcher::check(&json!(want), &json!(args), false).is_ok()
                        }) =>
                    {
                        timed.push((asked, asked.elapsed()));
                    }
                    other => {
                        return Err(format!(
                            "{}: expected its ack, got {}",
                            emit.event,
                            other.map_or("nothing".into(), |o| crate::transcript::describe(&o))
                        ));
                    }
                }
            }
            ControlStep::Expect(wanted) => {
                let seen = client
                    .wait_for(ANSWER_TIMEOUT, |o| match o {
                        Observed::Event { event, .. } => *event == wanted.event,
                        Observed::Disconnect { .. } => true,
                        _ => false,
                    })
                    .await
                    .map(|o| o.what);
                match seen {
                    Some(Observed::Event { args, .. })
                        if wanted.args.as_ref().is_none_or(|want| {
                            matcher::check(&json!(want), &json!(args), wanted.partial).is_ok()
                        }) =>
                    {
                        timed.push((asked, asked.elapsed()));
                    }
                    other => {
                        return Err(format!(
                            "expected {}, got {}",
                            wanted.event,
                            other.map_or("nothing".into(), |o| crate::transcript::describe(&o))
                        ));
                    }
                }
            }
        }
    }
    Ok(timed)
}
