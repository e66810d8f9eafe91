//! Runs one scenario against a running target: executes its steps in order, records every
//! client's transcript, and says where and why a step failed.
//!
//! This file holds the loop, the per-client slots and the one place a step meets its family's
//! code ([`Runner::dispatch`]); each step family runs in its own file ([`connect`], [`emit`]
//! (`emit`, `ack`), [`expect`] (`expect`, `expect_none`), [`http`], [`cut`] (`cut`,
//! `restore`), [`network`], [`cluster`] (`server`, `redis`, `move`, `cluster`), [`database`],
//! [`disconnect`], [`sleep`], [`raw`], [`broadcast`] (`broadcaster`, `deliveries`)). Tokens are minted or fetched before the first step
//! ([`tokens`]); a failing step gives a typed [`StepError`] with its position ([`error`]),
//! rendered with what the clients received into a [`StepFailure`] ([`failure`]).

mod broadcast;
mod cluster;
mod connect;
mod cut;
mod database;
mod disconnect;
mod emit;
mod error;
mod expect;
mod failure;
mod http;
mod network;
mod raw;
mod sleep;
mod tokens;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::{Client, Observed};
use crate::proxy::Proxy;
use crate::scenario::{Scenario, ScenarioFile, Step};
use crate::target::RunningTarget;
use crate::template::Vars;
use crate::transcript::{self, ClientRecording, HttpExchange, Recording, Redaction, TimedLine};

pub use error::{Cause, StepError};
pub use failure::StepFailure;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a closed client may take to report its last observations.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Run-wide settings.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Multiplies every timeout and `expect_none` window (slow machines).
    pub timeout_scale: f64,
    /// `--var k=v`, visible to every scenario.
    pub vars: BTreeMap<String, Value>,
    /// The target's transcript redactions (its targets file's `redact`), besides each
    /// scenario file's own.
    pub redactions: Vec<Redaction>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            timeout_scale: 1.0,
            vars: BTreeMap::new(),
            redactions: Vec::new(),
        }
    }
}

/// The outcome of running a scenario's steps.
pub struct ScenarioRun {
    pub transcript: String,
    /// The transcript's lines in the order they happened, with their times (reports only).
    pub timeline: Vec<TimedLine>,
    pub failure: Option<StepFailure>,
}

struct Slot {
    client: Client,
    proxy: Proxy,
    /// Connected through the cluster's load balancer, which does its own failover.
    via_balancer: bool,
    /// The step that took each entry of `client.taken()`, up to the current step.
    taken_by: Vec<usize>,
    /// What a step matched each taken observation against, by history index (for the
    /// transcript: what a matcher matched is written as the matcher).
    matched: HashMap<usize, Value>,
    /// The refusal (namespace, history index) a `connect` step took and no `expect` has looked
    /// at yet: the next `expect: {connect_error: ...}` on that namespace checks it.
    refusal: Option<(String, usize)>,
    /// The `on_connect` emits that ask for an ack, of every namespace the client connected.
    on_connect_acks: Vec<connect::OnConnectAck>,
    /// Observations a `deliveries` step accounted for, left out of the transcript.
    left_out: HashSet<usize>,
}

impl Slot {
    /// Notes that the observation the client's last wait took was matched against `shape`.
    fn matched_last(&mut self, shape: Value) {
        if let Some(taken) = self.client.taken().last() {
            self.matched.insert(taken.index, shape);
        }
    }
}

struct Runner<'a> {
    file: &'a ScenarioFile,
    scenario: &'a Scenario,
    /// When the scenario started: report times count from here.
    started: Instant,
    /// The step being run, and when it started.
    current: (usize, Instant),
    target: &'a mut RunningTarget,
    settings: &'a RunSettings,
    vars: Vars,
    clients: Vec<(String, Slot)>,
    http: Vec<HttpExchange>,
    http_client: reqwest::Client,
    /// Broadcasters started and not yet counted, by name.
    broadcasters: Vec<(String, broadcast::Broadcaster)>,
    /// What `deliveries` steps checked, for the transcript.
    summaries: Vec<String>,
}

/// What each step family does; its file implements it for its step type.
trait Family {
    /// Whether the target has what the step names (a node, redis, a database, HAProxy): asked of every step
    /// before the first runs, so a scenario meant for a cluster fails at once, at the line that
    /// needs one.
    fn check_target(&self, _runner: &Runner<'_>) -> Result<(), Cause> {
        Ok(())
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause>;
}

/// What [`Runner::dispatch`] asks of a step's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    CheckTarget,
    Run,
}

/// Runs `scenario` from `file` against `target`.
pub async fn run(
    file: &ScenarioFile,
    scenario: &Scenario,
    target: &mut RunningTarget,
    settings: &RunSettings,
) -> ScenarioRun {
    let mut runner = Runner {
        file,
        scenario,
        started: Instant::now(),
        current: (0, Instant::now()),
        target,
        settings,
        vars: Vars::default(),
        clients: Vec::new(),
        http: Vec::new(),
        http_client: reqwest::Client::new(),
        broadcasters: Vec::new(),
        summaries: Vec::new(),
    };
    // Unique to this run, for data the scenario creates on a shared server (`{{run.id}}`).
    let run_id = format!("{:012x}", rand::random::<u64>() >> 16);
    runner.vars.set("run", json!({ "id": run_id }));
    let failure = match runner.steps().await {
        Ok(()) => None,
        Err(error) => Some(runner.failure(error)),
    };
    let recording = runner.finish().await;
    let (text, mut timeline) = transcript::render_timed(&recording);
    // The run id differs on every run; its template keeps snapshots stable.
    let stable = |text: &str| text.replace(&run_id, "{{run.id}}");
    for line in &mut timeline {
        line.text = stable(&line.text);
    }
    ScenarioRun {
        transcript: stable(&text),
        timeline,
        failure,
    }
}

impl Runner<'_> {
    /// Checks the target against every step, prepares the variables and tokens, then runs the
    /// steps in order until one fails.
    async fn steps(&mut self) -> Result<(), StepError> {
        let scenario = self.scenario;
        let steps = &scenario.steps;
        for (index, step) in steps.iter().enumerate() {
            self.dispatch(&step.value, Phase::CheckTarget)
                .await
                .map_err(|cause| self.error_at(index, cause))?;
        }
        self.prepare_vars()
            .await
            .map_err(|cause| self.error_at(0, cause))?;
        for (index, step) in steps.iter().enumerate() {
            self.current = (index, Instant::now());
            let result = self.dispatch(&step.value, Phase::Run).await;
            self.note_takers();
            result.map_err(|cause| self.error_at(index, cause))?;
        }
        Ok(())
    }

    /// The one place a step meets its family's code.
    async fn dispatch(&mut self, step: &Step, phase: Phase) -> Result<(), Cause> {
        match step {
            Step::Connect(step) => self.apply(step, phase).await,
            Step::Emit(step) => self.apply(step, phase).await,
            Step::Expect(step) => self.apply(step, phase).await,
            Step::ExpectNone(step) => self.apply(step, phase).await,
            Step::Ack(step) => self.apply(step, phase).await,
            Step::Http(step) => self.apply(step, phase).await,
            Step::Cut(step) => self.apply(step, phase).await,
            Step::Restore(step) => self.apply(step, phase).await,
            Step::Server(step) => self.apply(step, phase).await,
            Step::Redis(step) => self.apply(step, phase).await,
            Step::Database(step) => self.apply(step, phase).await,
            Step::Move(step) => self.apply(step, phase).await,
            Step::Network(step) => self.apply(step, phase).await,
            Step::Cluster(step) => self.apply(step, phase).await,
            Step::Disconnect(step) => self.apply(step, phase).await,
            Step::Sleep(step) => self.apply(step, phase).await,
            Step::Raw(step) => self.apply(step, phase).await,
            Step::Broadcaster(step) => self.apply(step, phase).await,
            Step::Deliveries(step) => self.apply(step, phase).await,
        }
    }

    async fn apply(&mut self, family: &impl Family, phase: Phase) -> Result<(), Cause> {
        match phase {
            Phase::CheckTarget => family.check_target(self),
            Phase::Run => family.run(self).await,
        }
    }

    /// `cause` as the error of step `index`, with its position.
    fn error_at(&self, index: usize, cause: Cause) -> StepError {
        let (line, column) = self.location(index);
        StepError {
            index,
            line,
            column,
            cause,
        }
    }

    /// Records which step took what the clients' waits took during the current step.
    fn note_takers(&mut self) {
        let step = self.current.0;
        for (_, slot) in &mut self.clients {
            let taken = slot.client.taken().len();
            slot.taken_by.resize(taken, step);
        }
    }

    /// Where step `index` is: (line, column).
    fn location(&self, index: usize) -> (u64, u64) {
        self.scenario
            .steps
            .get(index)
            .map_or((self.scenario.line, 1), |s| {
                (s.referenced.line(), s.referenced.column())
            })
    }

    fn scaled(&self, timeout: Option<Duration>) -> Duration {
        let base = timeout
            .or(self.scenario.timeout.map(|m| m.0))
            .unwrap_or(DEFAULT_TIMEOUT);
        base.mul_f64(self.settings.timeout_scale.max(0.01))
    }

    fn slot(&mut self, name: &str) -> Result<&mut Slot, Cause> {
        self.clients
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, slot)| slot)
            .ok_or_else(|| Cause::NotConnected(name.to_owned()))
    }

    fn render(&self, value: &Value) -> Result<Value, Cause> {
        Ok(self.vars.value(value)?)
    }

    fn render_all(&self, values: &[Value]) -> Result<Vec<Value>, Cause> {
        values.iter().map(|v| self.render(v)).collect()
    }

    fn text(&self, text: &str) -> Result<String, Cause> {
        Ok(self.vars.text(text)?)
    }

    /// Closes every client and collects what they recorded. Clients close one after another, so
    /// a server event that reaches a client once the closing has begun is an effect of the
    /// teardown (another client's departure announced) arriving in a race with this client's own
    /// close: it is left out, or the transcript would depend on timing. Its own close stays.
    async fn finish(self) -> Recording {
        // A scenario that failed before counting leaves its broadcasters running.
        for (_, broadcaster) in self.broadcasters {
            broadcaster.abort();
        }
        let closing_from = Instant::now();
        let mut clients = Vec::new();
        for (name, mut slot) in self.clients {
            let step_commands = slot.client.commands_sent();
            slot.client.close();
            let deadline = Instant::now() + CLOSE_GRACE;
            while Instant::now() < deadline && slot.client.pump_for(Duration::from_millis(20)).await
            {
            }
            let started = slot.client.started();
            // Arrival order: everything left out comes after every observation a step took, so
            // the `taken` indices still point at the same observations.
            let observations = slot
                .client
                .history()
                .iter()
                .filter(|o| {
                    !(matches!(o.what, Observed::Event { .. }) && started + o.at >= closing_from)
                })
                .cloned()
                .collect();
            clients.push(ClientRecording {
                name,
                observations,
                taken: slot.client.taken().to_vec(),
                matched: slot.matched,
                step_commands,
                started: started.saturating_duration_since(self.started),
                left_out: slot.left_out,
            });
        }
        Recording {
            clients,
            http: self.http,
            summaries: self.summaries,
            record_reconnect_attempts: self.scenario.record_reconnect_attempts,
            merge_transport_reasons: self.scenario.merge_transport_reasons,
            redactions: (self.scenario.redact.iter().map(|rule| &rule.value))
                .chain(&self.settings.redactions)
                .cloned()
                .collect(),
        }
    }
}
