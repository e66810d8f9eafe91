//! Runs one scenario against a running target: executes its steps in order, records every
//! client's transcript, and says where and why a step failed. The steps that act on a
//! cluster (nodes, redis, failover, readiness) are in [`cluster`].

mod cluster;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::client::{Client, ClientOptions, Command, NamespaceOptions, Observed, ReconnectPolicy};
use crate::codec::engine::Frame;
use crate::jwt;
use crate::matcher::{self, select};
use crate::proxy::Proxy;
use crate::scenario::{
    ConnectOutcome, ConnectStep, EmitStep, ExpectNoneStep, ExpectStep, HttpStep, Order,
    Reconnection, Scenario, ScenarioFile, Step, TokenRequest, TokenSpec, Via,
};
use crate::target::RunningTarget;
use crate::template::Vars;
use crate::transcript::{self, ClientRecording, HttpExchange, Recording, TimedLine};

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
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            timeout_scale: 1.0,
            vars: BTreeMap::new(),
        }
    }
}

/// Why a step failed.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub index: usize,
    pub keyword: &'static str,
    pub line: u64,
    pub column: u64,
    pub source_line: String,
    pub message: String,
    /// Per client: what it received since the last observation a step took, with times
    /// relative to the failing step's start.
    pub recent: Vec<(String, Vec<String>)>,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "step {} ({}) at line {}:{} failed",
            self.index + 1,
            self.keyword,
            self.line,
            self.column
        )?;
        writeln!(f, "  {} | {}", self.line, self.source_line.trim_end())?;
        for line in self.message.lines() {
            writeln!(f, "  {line}")?;
        }
        for (client, lines) in &self.recent {
            if lines.is_empty() {
                writeln!(
                    f,
                    "  {client} received nothing since the last observation a step took"
                )?;
                continue;
            }
            writeln!(
                f,
                "  {client} received since the last observation a step took (times from this step's start):"
            )?;
            for line in lines {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
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
    };
    let mut failure = None;
    // Unique to this run, for data the scenario creates on a shared server (`{{run.id}}`).
    let run_id = format!("{:012x}", rand::random::<u64>() >> 16);
    runner.vars.set("run", json!({ "id": run_id }));
    if let Err((index, message)) = runner.check_target() {
        failure = Some(runner.failure_at(index, message));
    } else if let Err(message) = runner.prepare_vars().await {
        failure = Some(runner.failure_at(0, message));
    }
    if failure.is_none() {
        for (index, step) in scenario.steps.iter().enumerate() {
            runner.current = (index, Instant::now());
            let result = runner.step(&step.value).await;
            runner.note_takers();
            if let Err(message) = result {
                failure = Some(runner.failure_at(index, message));
                break;
            }
        }
    }
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

    fn failure_at(&self, index: usize, message: String) -> StepFailure {
        let step = self.scenario.steps.get(index);
        let (line, column) = self.location(index);
        let source_line = self
            .file
            .source
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .unwrap_or_default()
            .to_owned();
        let step_started = self.current.1;
        let recent = self
            .clients
            .iter()
            .map(|(name, slot)| {
                let after = slot.client.taken().iter().map(|t| t.index + 1).max();
                let received: Vec<String> = slot.client.history()[after.unwrap_or(0)..]
                    .iter()
                    .filter(|o| o.command.is_none())
                    .filter(|o| {
                        !matches!(
                            o.what,
                            Observed::Emit { .. }
                                | Observed::AckSent { .. }
                                | Observed::Ping
                                | Observed::Pong
                        )
                    })
                    .map(|o| {
                        let at = slot.client.started() + o.at;
                        let relative = match at.checked_duration_since(step_started) {
                            Some(after) => format!("+{}ms", after.as_millis()),
                            None => format!("-{}ms", (step_started - at).as_millis()),
                        };
                        format!("{relative:>8} {}", transcript::describe(&o.what))
                    })
                    .collect();
                let shown = received[received.len().saturating_sub(12)..].to_vec();
                (name.clone(), shown)
            })
            .collect();
        StepFailure {
            index,
            keyword: step.map_or("scenario", |s| s.value.keyword()),
            line,
            column,
            source_line,
            message,
            recent,
        }
    }

    async fn prepare_vars(&mut self) -> Result<(), String> {
        for (name, value) in self.settings.vars.iter().chain(&self.scenario.vars) {
            self.vars.set(name.clone(), value.clone());
        }
        let secret = self
            .vars
            .get("jwt_secret")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.target.secret.clone());
        let key_dir = std::path::Path::new(&self.file.path)
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf();
        for (name, spec) in &self.scenario.tokens {
            let token = match &spec.http {
                Some(request) => self.fetch_token(request).await,
                None => {
                    let spec = self.render_token(spec)?;
                    jwt::mint_in(&spec, secret.as_deref(), &key_dir).map_err(|e| e.to_string())
                }
            }
            .map_err(|e| format!("token {name:?}: {e}"))?;
            self.vars.set(name.clone(), Value::String(token));
        }
        Ok(())
    }

    /// The token spec with its strings rendered (`user: "alice-{{run.id}}"`).
    fn render_token(&self, spec: &TokenSpec) -> Result<TokenSpec, String> {
        let text = |t: &Option<String>| t.as_deref().map(|t| self.text(t)).transpose();
        let map = |m: &BTreeMap<String, Value>| {
            m.iter()
                .map(|(k, v)| Ok((k.clone(), self.render(v)?)))
                .collect::<Result<BTreeMap<_, _>, String>>()
        };
        Ok(TokenSpec {
            user: text(&spec.user)?,
            sub: text(&spec.sub)?,
            iss: text(&spec.iss)?,
            aud: spec.aud.as_ref().map(|a| self.render(a)).transpose()?,
            claims: map(&spec.claims)?,
            header: map(&spec.header)?,
            ..spec.clone()
        })
    }

    /// A token from the app's own login endpoint. Neither the request nor the answer goes in
    /// the transcript, and errors never quote the body: both may hold credentials.
    async fn fetch_token(&self, request: &TokenRequest) -> Result<String, String> {
        let method = reqwest::Method::from_bytes(request.method.to_uppercase().as_bytes())
            .map_err(|e| e.to_string())?;
        let path = self.text(&request.path)?;
        let mut http = self
            .http_client
            .request(method.clone(), format!("{}{path}", self.target.base_url));
        for (key, value) in &request.headers {
            http = http.header(key, self.text(value)?);
        }
        if let Some(body) = &request.body {
            http = http.json(&self.render(body)?);
        }
        let response = http
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let expected = request
            .status
            .map_or(status.is_success(), |s| s == status.as_u16());
        if !expected {
            return Err(format!("{method} {path} answered {status}"));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let exchange = json!({ "status": status.as_u16(), "body": body });
        match select(&exchange, &request.capture) {
            Some(Value::String(token)) => Ok(token.clone()),
            Some(_) => Err(format!(
                "{method} {path}: {:?} is not a string",
                request.capture
            )),
            None => Err(format!(
                "{method} {path}: the answer has no {:?}",
                request.capture
            )),
        }
    }

    fn scaled(&self, timeout: Option<Duration>) -> Duration {
        let base = timeout
            .or(self.scenario.timeout.map(|m| m.0))
            .unwrap_or(DEFAULT_TIMEOUT);
        base.mul_f64(self.settings.timeout_scale.max(0.01))
    }

    /// Why a wait of client `name` for `wanted` found nothing, when a step had taken a match:
    /// names that step.
    fn taken_earlier(&self, name: &str, wanted: impl Fn(&Observed) -> bool) -> String {
        let Some((_, slot)) = self.clients.iter().find(|(n, _)| n == name) else {
            return String::new();
        };
        let taken = slot.client.taken();
        let Some((position, observation)) = taken.iter().enumerate().rev().find_map(|(i, t)| {
            let observation = slot.client.history().get(t.index)?;
            wanted(&observation.what).then_some((i, observation))
        }) else {
            return String::new();
        };
        let step = slot
            .taken_by
            .get(position)
            .copied()
            .unwrap_or(self.current.0);
        let (line, column) = self.location(step);
        let keyword = self
            .scenario
            .steps
            .get(step)
            .map_or("scenario", |s| s.value.keyword());
        let whose = if step == self.current.0 {
            "this step".to_owned()
        } else {
            format!(
                "step {} ({keyword}) at {}:{line}:{column}",
                step + 1,
                self.file.path
            )
        };
        format!(
            "\n  one arrived, but {whose} already took it: {}",
            transcript::describe(&observation.what)
        )
    }

    fn slot(&mut self, name: &str) -> Result<&mut Slot, String> {
        self.clients
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, slot)| slot)
            .ok_or_else(|| format!("client {name:?} is not connected"))
    }

    fn render(&self, value: &Value) -> Result<Value, String> {
        self.vars.value(value).map_err(|e| e.to_string())
    }

    fn render_all(&self, values: &[Value]) -> Result<Vec<Value>, String> {
        values.iter().map(|v| self.render(v)).collect()
    }

    fn text(&self, text: &str) -> Result<String, String> {
        self.vars.text(text).map_err(|e| e.to_string())
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Connect(connect) => self.connect(connect).await,
            Step::Emit(emit) => self.emit(emit).await,
            Step::Expect(expect) => {
                let names: Vec<String> = expect
                    .client
                    .iter()
                    .chain(&expect.clients)
                    .cloned()
                    .collect();
                for name in names {
                    self.expect(&name, expect)
                        .await
                        .map_err(|m| format!("{name}: {m}"))?;
                }
                Ok(())
            }
            Step::ExpectNone(none) => self.expect_none(none).await,
            Step::Ack(ack) => {
                let id = self.render(&ack.id)?;
                let id = id
                    .as_u64()
                    .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
                    .ok_or(format!("ack id {id} is not a number"))?;
                let args = self.render_all(&ack.args)?;
                self.slot(&ack.client)?
                    .client
                    .ack(&ack.namespace, id, args)
                    .map_err(|e| e.to_string())
            }
            Step::Http(http) => self.http(http).await,
            Step::Cut(cut) => {
                self.slot(&cut.client)?.proxy.cut(cut.mode.into());
                Ok(())
            }
            Step::Restore(restore) => {
                self.slot(&restore.client)?.proxy.restore();
                Ok(())
            }
            Step::Server(server) => self
                .target
                .server(server.action, server.node.as_deref())
                .await
                .map_err(|e| format!("scenario {:?}: {e}", self.scenario.name)),
            Step::Redis(action) => self.target.redis(*action).await.map_err(|e| e.to_string()),
            Step::Move(step) => self.move_clients(step),
            Step::Network(step) => {
                let seed = step.seed.unwrap_or_else(|| {
                    crate::shaping::seed_of(&[&self.scenario.name, &step.client])
                });
                self.slot(&step.client)?
                    .proxy
                    .shape(step.conditions(), seed);
                Ok(())
            }
            Step::Cluster(step) => self.cluster_ready(step).await,
            Step::Disconnect(disconnect) => {
                let slot = self.slot(&disconnect.client)?;
                let command = match &disconnect.namespace {
                    Some(nsp) => Command::DisconnectNamespace(nsp.clone()),
                    None => Command::Close,
                };
                slot.client.send(command).map_err(|e| e.to_string())
            }
            Step::Sleep(duration) => {
                tokio::time::sleep(duration.0).await;
                Ok(())
            }
            Step::Raw(raw) => {
                let frame = match (&raw.text, &raw.binary) {
                    (Some(text), _) => Frame::Text(format!(
                        "{}{}{}",
                        self.text(raw.prefix.as_deref().unwrap_or_default())?,
                        self.text(text)?.repeat(raw.repeat_text.unwrap_or(1)),
                        self.text(raw.suffix.as_deref().unwrap_or_default())?,
                    )),
                    (None, Some(encoded)) => Frame::Binary(
                        base64::engine::general_purpose::STANDARD
                            .decode(encoded)
                            .map_err(|e| format!("binary is not base64: {e}"))?,
                    ),
                    (None, None) => return Err("`raw` needs `text` or `binary`".into()),
                };
                self.slot(&raw.client)?
                    .client
                    .send(Command::Raw(frame))
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn connect(&mut self, step: &ConnectStep) -> Result<(), String> {
        let auth = step.auth.as_ref().map(|a| self.render(a)).transpose()?;
        let on_connect = step
            .on_connect
            .iter()
            .map(|e| Ok((self.text(&e.event)?, self.render_all(&e.args)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let namespace = NamespaceOptions {
            nsp: step.namespace.clone(),
            auth,
            on_connect,
        };
        if let Ok(slot) = self.slot(&step.client) {
            slot.client
                .send(Command::Connect(namespace))
                .map_err(|e| e.to_string())?;
        } else {
            let upstream = match step.via {
                Some(Via::Haproxy) => self.target.haproxy_addr(),
                None => self.target.node_addr(step.node.as_deref()),
            }
            .map_err(|e| e.to_string())?;
            let proxy = Proxy::start(upstream)
                .await
                .map_err(|e| format!("cannot start the client's proxy: {e}"))?;
            let mut options = ClientOptions::new(format!("http://{}", proxy.addr));
            options.endpoint.transport = step.transport;
            options.endpoint.timeout = self.scaled(Some(Duration::from_secs(5)));
            if let Some(path) = &step.path {
                options.endpoint.path = path.clone();
            }
            for (key, value) in &step.headers {
                options
                    .endpoint
                    .headers
                    .push((key.clone(), self.text(value)?));
            }
            for (key, value) in &step.query {
                options
                    .endpoint
                    .query
                    .push((key.clone(), self.text(value)?));
            }
            options.namespaces = vec![namespace];
            options.reconnect = reconnect_policy(step.reconnection.as_ref());
            let client = Client::connect(options);
            self.clients.push((
                step.client.clone(),
                Slot {
                    client,
                    proxy,
                    via_balancer: step.via.is_some(),
                    taken_by: Vec::new(),
                },
            ));
        }
        let timeout = self.scaled(step.timeout.map(|m| m.0));
        let nsp = step.namespace.clone();
        let outcome = step.expect;
        if outcome == ConnectOutcome::Nothing {
            return Ok(());
        }
        let answer = |o: &Observed| matches!(o, Observed::Connect { nsp: n, .. } | Observed::ConnectError { nsp: n, .. } if *n == nsp);
        let slot = self.slot(&step.client)?;
        let seen = slot.client.wait_for(timeout, answer).await;
        match (outcome, seen.map(|o| o.what)) {
            (ConnectOutcome::Connect, Some(Observed::Connect { .. })) => Ok(()),
            (ConnectOutcome::ConnectError, Some(Observed::ConnectError { .. })) => Ok(()),
            (_, Some(other)) => Err(format!(
                "expected {outcome:?} on {nsp}, got: {}",
                transcript::describe(&other)
            )),
            (_, None) => Err(format!(
                "expected {outcome:?} on {nsp} within {timeout:?}, nothing came{}",
                self.taken_earlier(&step.client, answer)
            )),
        }
    }

    async fn emit(&mut self, step: &EmitStep) -> Result<(), String> {
        let event = self.text(&step.event)?;
        let args = self.render_all(&step.args)?;
        let expected_ack = step
            .ack
            .as_ref()
            .and_then(|a| a.args.as_ref())
            .map(|a| self.render_all(a))
            .transpose()?;
        let ack_timeout = step
            .ack
            .as_ref()
            .map(|a| self.scaled(a.timeout.map(|m| m.0)));
        let nsp = step.namespace.clone();
        for _ in 0..step.repeat.unwrap_or(1) {
            let slot = self.slot(&step.client)?;
            slot.client
                .emit(&nsp, &event, args.clone(), ack_timeout)
                .map_err(|e| e.to_string())?;
            let Some(timeout) = ack_timeout else { continue };
            let reply = slot
                .client
                .wait_for(timeout + Duration::from_millis(100), |o| {
                    matches!(o, Observed::Ack { nsp: n, .. } | Observed::AckError { nsp: n, .. } if *n == nsp)
                })
                .await;
            match reply.map(|o| o.what) {
                Some(Observed::Ack { args, .. }) => {
                    if let Some(expected) = &expected_ack {
                        matcher::check(&Value::Array(expected.clone()), &Value::Array(args), false)
                            .map_err(|m| format!("ack of {event:?}: {m}"))?;
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "no ack for {event:?}: {}",
                        transcript::describe(&other)
                    ));
                }
                None => return Err(format!("no ack for {event:?} within {timeout:?}")),
            }
        }
        Ok(())
    }

    async fn expect(&mut self, name: &str, step: &ExpectStep) -> Result<(), String> {
        let timeout = self.scaled(step.timeout.map(|m| m.0));
        let nsp = step.namespace.clone();
        if let Some(event) = &step.event {
            let single = crate::scenario::EventMatch {
                event: event.clone(),
                args: step.args.clone(),
                partial: step.partial,
                capture: step.capture.clone(),
            };
            for _ in 0..step.count.unwrap_or(1) {
                self.expect_events(
                    name,
                    &nsp,
                    std::slice::from_ref(&single),
                    Order::Strict,
                    timeout,
                )
                .await?;
            }
            return Ok(());
        }
        if let Some(events) = &step.events {
            return self
                .expect_events(name, &nsp, events, step.order, timeout)
                .await;
        }
        let (what, kind): (&str, fn(&Observed) -> bool) = if step.connect.is_some() {
            ("connect", |o| matches!(o, Observed::Connect { .. }))
        } else if step.connect_error.is_some() {
            ("connect_error", |o| {
                matches!(o, Observed::ConnectError { .. })
            })
        } else if step.disconnect.is_some() {
            ("disconnect", |o| matches!(o, Observed::Disconnect { .. }))
        } else if step.reconnect.is_some() {
            ("reconnect", |o| matches!(o, Observed::Reconnect { .. }))
        } else {
            ("reconnect_failed", |o| {
                matches!(o, Observed::ReconnectFailed)
            })
        };
        // Reconnects belong to the whole client, not to a namespace.
        let wanted = |o: &Observed| kind(o) && o.nsp().is_none_or(|n| n == nsp);
        let slot = self.slot(name)?;
        let seen = slot.client.wait_for(timeout, wanted).await;
        let seen = seen.ok_or_else(|| {
            format!(
                "expected {what} on {nsp} within {timeout:?}{}",
                self.taken_earlier(name, wanted)
            )
        })?;
        match (&seen.what, &step.connect_error, &step.disconnect) {
            (Observed::ConnectError { message, data, .. }, Some(want), _) => {
                if let Some(expected) = &want.message
                    && expected != message
                {
                    return Err(format!(
                        "connect_error message: expected {expected:?}, got {message:?}"
                    ));
                }
                if let Some(expected) = &want.data {
                    matcher::check(expected, data.as_ref().unwrap_or(&Value::Null), false)
                        .map_err(|m| format!("connect_error data: {m}"))?;
                }
            }
            (Observed::Disconnect { reason, .. }, _, Some(want)) => {
                if let Some(expected) = &want.reason
                    && expected != reason
                {
                    return Err(format!(
                        "disconnect reason: expected {expected:?}, got {reason:?}"
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn expect_events(
        &mut self,
        name: &str,
        nsp: &str,
        events: &[crate::scenario::EventMatch],
        order: Order,
        timeout: Duration,
    ) -> Result<(), String> {
        let expected: Vec<(String, Option<Value>)> = events
            .iter()
            .map(|e| {
                Ok((
                    self.text(&e.event)?,
                    e.args
                        .as_ref()
                        .map(|a| self.render_all(a))
                        .transpose()?
                        .map(Value::Array),
                ))
            })
            .collect::<Result<_, String>>()?;
        let mut captured = Vec::new();
        for (i, ((event, args), spec)) in expected.iter().zip(events).enumerate() {
            let slot = self.slot(name)?;
            let wanted_names: Vec<&str> = match order {
                Order::Strict => expected[i..].iter().map(|(e, _)| e.as_str()).collect(),
                Order::Any => vec![event.as_str()],
            };
            let seen = slot
                .client
                .wait_for(timeout, |o| match o {
                    Observed::Event {
                        nsp: n,
                        event: e,
                        args: got,
                        ..
                    } if n == nsp && wanted_names.contains(&e.as_str()) => {
                        order == Order::Strict
                            || e != event
                            || args.as_ref().is_none_or(|a| {
                                matcher::check(a, &Value::Array(got.clone()), spec.partial).is_ok()
                            })
                    }
                    _ => false,
                })
                .await;
            let Some(seen) = seen else {
                let same_event = |o: &Observed| matches!(o, Observed::Event { nsp: n, event: e, .. } if n == nsp && e == event);
                return Err(format!(
                    "expected event {event:?} on {nsp} within {timeout:?}{}{}",
                    describe_args(args.as_ref()),
                    self.taken_earlier(name, same_event)
                ));
            };
            let Observed::Event {
                event: got_event,
                args: got_args,
                ..
            } = seen.what
            else {
                return Err("internal: matched a non-event".into());
            };
            if got_event != *event {
                return Err(format!(
                    "expected event {event:?} next, got {got_event:?} {}",
                    Value::Array(got_args)
                ));
            }
            let got = Value::Array(got_args);
            if let Some(args) = args {
                matcher::check(args, &got, spec.partial)
                    .map_err(|m| format!("event {event:?} args {m}\n  got: {got}"))?;
            }
            for (var, path) in &spec.capture {
                let value = select(&got, path)
                    .ok_or_else(|| format!("capture {var:?}: no {path:?} in {got}"))?;
                captured.push((var.clone(), value.clone()));
            }
        }
        for (var, value) in captured {
            self.vars.set(var, value);
        }
        Ok(())
    }

    async fn expect_none(&mut self, step: &ExpectNoneStep) -> Result<(), String> {
        let window = self.scaled(Some(step.window.0));
        let names: Vec<String> = step.client.iter().chain(&step.clients).cloned().collect();
        let mut pumps = Vec::new();
        for (name, slot) in self.clients.iter_mut() {
            if names.contains(name) {
                pumps.push(slot.client.pump_for(window));
            }
        }
        futures_util::future::join_all(pumps).await;
        for name in &names {
            let slot = self.slot(name)?;
            let unwanted: Vec<String> = slot
                .client
                .unconsumed()
                .filter(|o| match &o.what {
                    Observed::Event { event, .. } => {
                        step.events.is_empty() || step.events.contains(event)
                    }
                    _ => false,
                })
                .map(|o| transcript::describe(&o.what))
                .collect();
            if !unwanted.is_empty() {
                return Err(format!(
                    "{name} expected no event for {window:?}, got:\n  {}",
                    unwanted.join("\n  ")
                ));
            }
        }
        Ok(())
    }

    async fn http(&mut self, step: &HttpStep) -> Result<(), String> {
        let method = reqwest::Method::from_bytes(step.method.to_uppercase().as_bytes())
            .map_err(|e| e.to_string())?;
        let path = self.text(&step.path)?;
        let deadline = step.within.map(|within| Instant::now() + within.0);
        let (status, body) = loop {
            let (status, body, sent_at) = self.http_exchange(step, &method, &path).await?;
            let outcome = self.http_check(step, status, &body);
            match deadline {
                Some(deadline) if outcome.is_err() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => {
                    self.http.push(HttpExchange {
                        method: method.to_string(),
                        // A service's requests say whom they asked: `kuma:/__fake/...`.
                        path: match &step.service {
                            Some(service) => format!("{service}:{path}"),
                            None => path.clone(),
                        },
                        status,
                        body: body.clone(),
                        at: sent_at,
                    });
                    outcome.map_err(|e| format!("{method} {path}: {e}"))?;
                    break (status, body);
                }
            }
        };
        let exchange = json!({ "status": status, "body": body });
        for (var, selector) in &step.capture {
            let value = select(&exchange, selector)
                .ok_or_else(|| format!("capture {var:?}: no {selector:?} in {exchange}"))?;
            self.vars.set(var.clone(), value.clone());
        }
        Ok(())
    }

    /// Sends `step`'s request once: its status, body (JSON, or else the text), and when it was
    /// sent from the scenario's start.
    async fn http_exchange(
        &self,
        step: &HttpStep,
        method: &reqwest::Method,
        path: &str,
    ) -> Result<(u16, Value, Duration), String> {
        let base_url = match &step.service {
            Some(service) => self.target.service_url(service),
            None => self
                .target
                .node_url(step.node.as_deref())
                .map(str::to_owned),
        }
        .map_err(|e| e.to_string())?;
        let mut request = self
            .http_client
            .request(method.clone(), format!("{base_url}{path}"));
        if let Some(token) = &step.token {
            request = request.bearer_auth(self.text(token)?);
        }
        for (key, value) in &step.headers {
            request = request.header(key, self.text(value)?);
        }
        if let Some(body) = &step.body {
            request = request.json(&self.render(body)?);
        } else if let Some(raw) = &step.raw_body {
            request = request
                .header("content-type", "application/json")
                .body(self.text(raw)?);
        }
        let sent_at = self.started.elapsed();
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            sent_at,
        ))
    }

    /// Whether an answer is what `step` expects.
    fn http_check(&self, step: &HttpStep, status: u16, body: &Value) -> Result<(), String> {
        if let Some(expected) = step.status
            && expected != status
        {
            return Err(format!("expected status {expected}, got {status} {body}"));
        }
        if let Some(expected) = &step.expect_body {
            matcher::check(&self.render(expected)?, body, step.partial)
                .map_err(|m| format!("body {m}\n  got: {body}"))?;
        }
        Ok(())
    }

    /// Closes every client and collects what they recorded. Clients close one after another, so
    /// a server event that reaches a client once the closing has begun is an effect of the
    /// teardown (another client's departure announced) arriving in a race with this client's own
    /// close: it is left out, or the transcript would depend on timing. Its own close stays.
    async fn finish(self) -> Recording {
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
                step_commands,
                started: started.saturating_duration_since(self.started),
            });
        }
        Recording {
            clients,
            http: self.http,
            record_reconnect_attempts: self.scenario.record_reconnect_attempts,
            merge_transport_reasons: self.scenario.merge_transport_reasons,
        }
    }
}

fn describe_args(args: Option<&Value>) -> String {
    args.map(|a| format!(" with args {a}")).unwrap_or_default()
}

fn reconnect_policy(reconnection: Option<&Reconnection>) -> ReconnectPolicy {
    let defaults = ReconnectPolicy::default();
    match reconnection {
        None | Some(Reconnection::Enabled(false)) => ReconnectPolicy {
            enabled: false,
            ..defaults
        },
        Some(Reconnection::Enabled(true)) => defaults,
        Some(Reconnection::Policy(policy)) => ReconnectPolicy {
            enabled: true,
            attempts: policy.attempts.or(defaults.attempts),
            delay: policy.delay.map_or(defaults.delay, |m| m.0),
            delay_max: policy.delay_max.map_or(defaults.delay_max, |m| m.0),
            randomization: policy.randomization.unwrap_or(defaults.randomization),
        },
    }
}
