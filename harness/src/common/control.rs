//! The control client: while the fuzzer throws garbage at the server, one well-behaved client
//! runs the seed's flow (sign in as `user-1`, `subscribe:status` for `status:current`, read its
//! notification for `notification:read:success`) and times every answer. A server that stays
//! up but stops serving real users fails here, not in the crash check.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::metrics::Percentiles;
use crate::client::{Client, ClientOptions, NamespaceOptions, Observed, ReconnectPolicy};

/// How long any one answer may take before the round counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// A fixture notification of `user-1` (scenarios/fixtures.sql).
const NOTIFICATION: &str = "n-alice-1";

#[derive(Debug, Clone)]
pub struct ControlOptions {
    pub base_url: String,
    /// A token for `user-1`.
    pub token: String,
    /// Pause between rounds. Each round sends each event once, so this keeps the client under
    /// the targets' rate limit (5 per event per 2 s) with room to spare.
    pub interval: Duration,
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
    /// Engine.IO handshake to Socket.IO connect.
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
    'connections: while !*stop.borrow() {
        let mut client = connect(&options);
        report.connections += 1;
        let asked = Instant::now();
        match client
            .wait_for(ANSWER_TIMEOUT, |o| {
                matches!(o, Observed::Connect { .. } | Observed::ConnectError { .. })
            })
            .await
            .map(|o| o.what)
        {
            Some(Observed::Connect { .. }) => connects.push(asked.elapsed()),
            other => {
                fail(&mut report, format!("connect: got {other:?}"));
                client.close();
                // Not too fast: a server in trouble should not be hammered by its own check.
                tokio::time::sleep(options.interval).await;
                continue;
            }
        }
        for _ in 0..options.rounds_per_connection {
            if *stop.borrow() {
                client.close();
                break 'connections;
            }
            let steps: [(&str, Vec<Value>, &str); 2] = [
                ("subscribe:status", Vec::new(), "status:current"),
                (
                    "notification:read",
                    vec![json!(NOTIFICATION)],
                    "notification:read:success",
                ),
            ];
            let mut round_ok = true;
            for (event, args, answer) in steps {
                let asked = Instant::now();
                if client.emit("/", event, args, None).is_err() {
                    fail(&mut report, format!("{event}: the connection is gone"));
                    round_ok = false;
                    break;
                }
                let seen = client
                    .wait_for(ANSWER_TIMEOUT, |o| match o {
                        Observed::Event { event, .. } => event == answer || event == "error",
                        Observed::Disconnect { .. } => true,
                        _ => false,
                    })
                    .await
                    .map(|o| o.what);
                match seen {
                    Some(Observed::Event { event, .. }) if event == answer => {
                        answers.push(asked.elapsed());
                        report.samples.push((asked, asked.elapsed()));
                    }
                    other => {
                        fail(
                            &mut report,
                            format!("{event}: expected {answer}, got {other:?}"),
                        );
                        round_ok = false;
                        break;
                    }
                }
            }
            if !round_ok {
                client.close();
                continue 'connections;
            }
            report.rounds += 1;
            // Sleep the interval, or less if the run ends meanwhile.
            let _ = tokio::time::timeout(options.interval, stop.changed()).await;
        }
        client.close();
        client.pump_for(Duration::from_millis(20)).await;
    }
    report.latency = Percentiles::of(&mut answers);
    report.connect_latency = Percentiles::of(&mut connects);
    report
}

fn connect(options: &ControlOptions) -> Client {
    let mut client_options = ClientOptions::new(options.base_url.clone());
    client_options.endpoint.timeout = ANSWER_TIMEOUT;
    client_options.namespaces = vec![NamespaceOptions {
        auth: Some(json!({ "token": options.token })),
        ..NamespaceOptions::new("/")
    }];
    client_options.reconnect = ReconnectPolicy {
        enabled: false,
        ..ReconnectPolicy::default()
    };
    Client::connect(client_options)
}
