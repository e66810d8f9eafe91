//! `broadcaster` and `deliveries`: a task beside the steps sends a numbered HTTP request every
//! `every` (its first failure ends it), and the step that stops it counts, per client, the
//! ticks that arrived against those sent while the client listened.
//!
//! A client owes tick `n` when it listened (from a connect, or from its `listening_from` event
//! after one) from before the request was sent until `settle` after it was answered, without a
//! disconnect between: a broadcast reaches a client on another node through Redis after the
//! answer. Ticks sent while a client was away are not owed, and may arrive or not; no tick may
//! arrive twice. What the broadcaster's traffic did to a client's transcript depends on timing
//! (how many ticks, which clients a stopped node dropped and when they came back), so once the
//! count holds those lines are left out, and the transcript says what was checked instead.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::http::{base_url, build_request};
use super::{Cause, Family, Runner};
use crate::client::{Observation, Observed};
use crate::matcher;
use crate::request::RequestError;
use crate::scenario::{BroadcasterStep, DeliveriesStep};

/// How long `deliveries` gives the last tick to arrive by default.
const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

/// A broadcaster running beside the steps.
pub(super) struct Broadcaster {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Sends>,
    started: Instant,
}

impl Broadcaster {
    /// Ends the task without counting (the scenario failed before its `deliveries`).
    pub(super) fn abort(self) {
        self.task.abort();
    }
}

/// What a broadcaster sent: its answered ticks in order, and the failure that ended it.
struct Sends {
    ticks: Vec<Sent>,
    failure: Option<String>,
}

/// One tick: when its request went out and when its answer came back.
struct Sent {
    tick: u64,
    sent: Instant,
    answered: Instant,
}

impl Family for BroadcasterStep {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        self.http.check_target(runner)
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let base = base_url(runner, &self.http)?;
        let vars = runner.vars.clone();
        let step = self.http.clone();
        let every = self.every.0;
        // A connection per request: a kept-alive one that HAProxy closes as a node goes away
        // would fail the next request before it reached any server (a client's pool race that
        // reqwest does not retry for a POST), which says nothing about the cluster.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| Cause::Invalid(format!("broadcaster {}: {e}", self.name)))?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut sends = Sends {
                ticks: Vec::new(),
                failure: None,
            };
            for tick in 1.. {
                let mut vars = vars.clone();
                vars.set("tick", json!(tick));
                let sent = Instant::now();
                let outcome = match vars.text(&step.path) {
                    Ok(path) => match build_request(&base, &vars, &step, &path) {
                        Ok(request) => answer_of(request, &http, step.status).await,
                        Err(cause) => Err(cause.to_string()),
                    },
                    Err(error) => Err(error.to_string()),
                };
                match outcome {
                    Ok(()) => sends.ticks.push(Sent {
                        tick,
                        sent,
                        answered: Instant::now(),
                    }),
                    Err(failure) => {
                        sends.failure = Some(format!("tick {tick}: {failure}"));
                        break;
                    }
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(every) => {}
                }
            }
            sends
        });
        runner.broadcasters.push((
            self.name.clone(),
            Broadcaster {
                stop,
                task,
                started: Instant::now(),
            },
        ));
        Ok(())
    }
}

/// Sends `request`; an error unless the answer has `status` (default: any 2xx).
async fn answer_of(
    request: crate::request::HttpRequest,
    http: &reqwest::Client,
    status: Option<u16>,
) -> Result<(), String> {
    let what = format!("{} {}", request.method.to_uppercase(), request.url);
    let answer = request.exchange(http).await.map_err(|e| match e {
        RequestError::Send(e) => format!("{what}: {e}"),
        other => format!("{what}: {other}"),
    })?;
    let wanted = status.map_or((200..300).contains(&answer.status), |s| s == answer.status);
    if wanted {
        Ok(())
    } else {
        Err(format!("{what} answered {} {}", answer.status, answer.body))
    }
}

impl Family for DeliveriesStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let position = runner
            .broadcasters
            .iter()
            .position(|(name, _)| *name == self.broadcaster)
            .ok_or_else(|| {
                Cause::Invalid(format!("broadcaster {:?} is not running", self.broadcaster))
            })?;
        let (_, broadcaster) = runner.broadcasters.remove(position);
        let window_start = broadcaster.started;
        // The task ends at its next pause, or with the request it is sending.
        let _ = broadcaster.stop.send(());
        let sends = broadcaster
            .task
            .await
            .map_err(|e| Cause::Invalid(format!("broadcaster {}: {e}", self.broadcaster)))?;
        if let Some(failure) = sends.failure {
            return Err(Cause::Unmet(format!(
                "broadcaster {} failed after {} answered ticks: {failure}",
                self.broadcaster,
                sends.ticks.len()
            )));
        }
        if sends.ticks.is_empty() {
            return Err(Cause::Unmet(format!(
                "broadcaster {} sent nothing",
                self.broadcaster
            )));
        }
        let mut expected = BTreeMap::new();
        for sent in &sends.ticks {
            let mut vars = runner.vars.clone();
            vars.set("tick", json!(sent.tick));
            expected.insert(sent.tick, vars.value(&Value::Array(self.args.clone()))?);
        }
        let settle = runner.scaled(Some(self.settle.map_or(DEFAULT_SETTLE, |m| m.0)));
        // Every tick has had `settle` to arrive, so a listening client owes each one, and no late
        // one can arrive after the count (and show in the transcript) unless it came too late.
        let last_answered = sends.ticks.last().map_or_else(Instant::now, |s| s.answered);
        tokio::time::sleep_until(last_answered + settle).await;
        let now = Instant::now();
        let mut verdicts = Vec::new();
        for name in &self.clients {
            let slot = runner.slot(name)?;
            slot.client.drain();
            verdicts.push(self.verdict(
                name,
                slot.client.started(),
                slot.client.history(),
                &expected,
                &sends.ticks,
                (window_start, now, settle),
            ));
        }
        let problems: Vec<String> = verdicts
            .iter()
            .filter(|v| !v.problems.is_empty())
            .map(|v| format!("{}: {}", v.client, v.problems.join("; ")))
            .collect();
        if !problems.is_empty() {
            return Err(Cause::Unmet(format!(
                "broadcaster {} sent ticks 1 to {} (every one answered); {}",
                self.broadcaster,
                sends.ticks.len(),
                problems.join("\n  ")
            )));
        }
        for verdict in verdicts {
            let slot = runner.slot(&verdict.client)?;
            // What a step took or sent stays: only the client's own doings and the ticks go.
            let taken: HashSet<usize> = slot.client.taken().iter().map(|t| t.index).collect();
            let history = slot.client.history();
            let left_out: Vec<usize> = verdict
                .left_out
                .into_iter()
                .filter(|i| {
                    !taken.contains(i) && history.get(*i).is_some_and(|o| o.command.is_none())
                })
                .collect();
            slot.left_out.extend(left_out);
        }
        runner.summaries.push(format!(
            "{} to {}: {} arrived, each tick sent while the client listened, once",
            self.broadcaster,
            self.clients.join(", "),
            self.event
        ));
        Ok(())
    }
}

/// One client's count: what is wrong, and which of its observations the count accounts for.
struct Verdict {
    client: String,
    problems: Vec<String>,
    left_out: Vec<usize>,
}

impl DeliveriesStep {
    /// Counts one client's ticks; `window` is when the broadcaster started, now, and the settle
    /// time.
    fn verdict(
        &self,
        client: &str,
        started: Instant,
        history: &[Observation],
        expected: &BTreeMap<u64, Value>,
        sent: &[Sent],
        (window_start, now, settle): (Instant, Instant, Duration),
    ) -> Verdict {
        let mut problems = Vec::new();
        let mut left_out = Vec::new();
        let mut listening: Vec<(Instant, Instant)> = Vec::new();
        let mut open: Option<Instant> = None;
        let mut awaiting = false;
        let mut received: BTreeMap<u64, usize> = BTreeMap::new();
        for (index, observation) in history.iter().enumerate() {
            let at = started + observation.at;
            let in_window = at >= window_start;
            match &observation.what {
                Observed::Connect { .. } if self.listening_from.is_none() => open = Some(at),
                Observed::Connect { .. } => awaiting = true,
                Observed::Event { event, .. }
                    if awaiting && self.listening_from.as_deref() == Some(event) =>
                {
                    open = Some(at);
                    awaiting = false;
                }
                Observed::Disconnect { .. } => {
                    if let Some(from) = open.take() {
                        listening.push((from, at));
                    }
                    awaiting = false;
                }
                Observed::ConnectError { message, .. } if in_window => {
                    problems.push(format!(
                        "a connect_error while the broadcaster ran: {message}"
                    ));
                }
                Observed::ReconnectFailed if in_window => {
                    problems.push("gave up reconnecting while the broadcaster ran".into());
                }
                _ => {}
            }
            let tick = match &observation.what {
                Observed::Event { event, args, .. } if *event == self.event => {
                    let got = Value::Array(args.clone());
                    expected
                        .iter()
                        .find(|(_, want)| matcher::check(want, &got, self.partial).is_ok())
                        .map(|(tick, _)| *tick)
                }
                _ => None,
            };
            if let Some(tick) = tick {
                if received.insert(tick, index).is_some() {
                    problems.push(format!("tick {tick} arrived twice"));
                }
                left_out.push(index);
            } else if in_window && self.timing_dependent(&observation.what) {
                left_out.push(index);
            }
        }
        match (open, awaiting) {
            (Some(from), _) => listening.push((from, now)),
            (None, true) => problems.push(format!(
                "connected again but no {} came (not listening at the end)",
                self.listening_from.as_deref().unwrap_or("connect")
            )),
            (None, false) => problems.push("not connected at the end".into()),
        }
        let owed: Vec<u64> = sent
            .iter()
            .filter(|s| {
                listening
                    .iter()
                    .any(|(from, to)| *from <= s.sent && s.answered + settle <= *to)
            })
            .map(|s| s.tick)
            .collect();
        let missing: Vec<u64> = owed
            .iter()
            .copied()
            .filter(|tick| !received.contains_key(tick))
            .collect();
        if owed.is_empty() {
            problems.push(format!(
                "owed no tick: it did not listen through any of the {} sent, so the count proves nothing",
                sent.len()
            ));
        }
        if !missing.is_empty() {
            problems.push(format!(
                "missed ticks {} of the {} it owed (listened {})",
                ranges(&missing),
                owed.len(),
                listening
                    .iter()
                    .map(|(from, to)| format!(
                        "{:?}..{:?}",
                        from.saturating_duration_since(window_start),
                        to.saturating_duration_since(window_start)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Verdict {
            client: client.to_owned(),
            problems,
            left_out,
        }
    }

    /// What a client does because of when a node went away and came back: its reconnects,
    /// sessions, re-subscriptions and their answers.
    fn timing_dependent(&self, what: &Observed) -> bool {
        match what {
            Observed::Open { .. }
            | Observed::Connect { .. }
            | Observed::Disconnect { .. }
            | Observed::ReconnectAttempt { .. }
            | Observed::ReconnectError { .. }
            | Observed::Reconnect { .. }
            | Observed::Emit { .. }
            | Observed::Ping
            | Observed::Pong => true,
            Observed::Event { event, .. } => self.listening_from.as_deref() == Some(event),
            _ => false,
        }
    }
}

/// `1-3, 7, 9-10`.
fn ranges(ticks: &[u64]) -> String {
    let mut parts: Vec<(u64, u64)> = Vec::new();
    for &tick in ticks {
        match parts.last_mut() {
            Some((_, end)) if *end + 1 == tick => *end = tick,
            _ => parts.push((tick, tick)),
        }
    }
    parts
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
