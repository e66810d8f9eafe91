//! Load profiles: how one virtual client of `storm`, `fanout`, `churn`, `exhaust` and the
//! protocol fuzzer speaks to an app, in the scenario language's own terms (the `connect` keys,
//! `on_connect` emits with acks, `tokens`, `{{templates}}`, matchers, an `http` step, `emit` and
//! `expect`). A profile is parsed and checked here, with line and column for every mistake;
//! [`crate::common::virtual_client`] turns it into what the load modes run. The format is
//! documented with the chat example in `harness/README.md`.
//!
//! Templates see the profile's `vars`, its `tokens` (minted once per client), `{{client.index}}`
//! (1 … N for the load clients, 0 for a broadcaster or control client), `{{seq}}` in a fan-out
//! trigger, and `{{clients}}` in `seed_sql`.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use serde_saphyr::{Location, Spanned};

use super::parse::ParseError;
use super::{EmitSpec, EventMatch, HttpStep, Millis, TokenSpec, root_namespace};
use crate::template::{TemplateError, Vars};
use crate::transport::TransportKind;

/// A load profile file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sio-harness load profile")]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Values for `{{name}}`.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Tokens minted once per virtual client, available as `{{name}}`; their claims may use
    /// `{{client.index}}`.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSpec>,
    /// SQL a launched target loads with its `seed` command before it starts (the users the
    /// tokens name); `{{clients}}` is how many the run needs.
    #[serde(default)]
    pub seed_sql: Option<String>,
    /// How one virtual client connects and what it emits on every connect.
    #[schemars(with = "VirtualClient")]
    pub client: Spanned<VirtualClient>,
    /// What marks a client ready (back, in a storm): `connected`, `ack` (every `on_connect`
    /// emit that asks for one answered), or an event `{event, args, partial}`.
    #[serde(default)]
    #[schemars(with = "Option<Ready>")]
    pub ready: Option<Spanned<Ready>>,
    #[serde(default)]
    #[schemars(with = "Option<FanoutSpec>")]
    pub fanout: Option<Spanned<FanoutSpec>>,
    #[serde(default)]
    pub churn: Option<ChurnSpec>,
    /// The well-behaved client `exhaust` and the protocol fuzzer time throughout.
    #[serde(default)]
    #[schemars(with = "Option<ControlSpec>")]
    pub control: Option<Spanned<ControlSpec>>,
}

/// A `connect` step's keys that make sense for thousands of identical clients.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualClient {
    #[serde(default = "root_namespace")]
    pub namespace: String,
    /// The Engine.IO path; default `/socket.io/`.
    #[serde(default)]
    pub path: Option<String>,
    /// Default: websocket.
    #[serde(default)]
    pub transport: Option<TransportKind>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub auth: Option<Value>,
    /// Emitted on every (re)connect, in order.
    #[serde(default)]
    pub on_connect: Vec<EmitSpec>,
}

/// What marks a virtual client ready.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Ready {
    /// The namespace accepted the connection.
    #[default]
    Connected,
    /// Every `on_connect` emit with `ack` was answered (as its `ack.args` expect).
    Ack,
    /// This event arrived after a connect.
    Event(EventMatch),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
enum ReadyForm {
    Word(ReadyWord),
    Event(EventMatch),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum ReadyWord {
    Connected,
    Ack,
}

impl<'de> Deserialize<'de> for Ready {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let form = ReadyForm::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "`ready` is connected, ack, or {event, args, partial} (the event that marks a \
                 client ready)",
            )
        })?;
        Ok(match form {
            ReadyForm::Word(ReadyWord::Connected) => Ready::Connected,
            ReadyForm::Word(ReadyWord::Ack) => Ready::Ack,
            ReadyForm::Event(event) => Ready::Event(event),
        })
    }
}

impl JsonSchema for Ready {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ready".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ReadyForm::json_schema(generator)
    }
}

/// `fanout`: what triggers one broadcast, and what every subscriber must receive.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FanoutSpec {
    /// Tokens minted once for the trigger (an admin's, say), available as `{{name}}`.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSpec>,
    /// The client an `emit` trigger is sent from; default: `client` as index 0. It connects
    /// first and must be ready (as `ready` says) before the first trigger.
    #[serde(default)]
    pub broadcaster: Option<VirtualClient>,
    /// Sent once per message; `{{seq}}` is the message number as text ("1", "2", …).
    pub trigger: Trigger,
    pub deliver: Delivery,
}

/// One broadcast's cause: an `http` step to the target, or an `emit` from the broadcaster.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    Http(Box<HttpStep>),
    Emit(EmitSpec),
}

/// The event every subscriber must receive for each trigger.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub event: String,
    /// A path into the event's arguments (`0.text`) whose value is the trigger's `{{seq}}`;
    /// without it, deliveries are matched to triggers by arrival order.
    #[serde(default)]
    pub sequence: Option<String>,
}

/// `churn`: how each short connection ends, how long it stays, and when connections arrive.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    #[serde(default)]
    pub end: Option<ChurnEnd>,
    /// How long each connection stays once ready.
    #[serde(default)]
    pub hold: Option<Millis>,
    /// Arrival phases, one after another (as Artillery's `phases`).
    #[serde(default)]
    #[schemars(with = "Vec<ArrivalPhase>")]
    pub phases: Vec<Spanned<ArrivalPhase>>,
}

/// How a churn connection ends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ChurnEnd {
    /// Ready, then a clean disconnect.
    #[default]
    Clean,
    /// Ready, then the TCP connection reset without a disconnect packet.
    Drop,
    /// Connected, then a malformed packet, which makes the server drop the connection.
    Malformed,
    /// Engine.IO handshake only, closed before any Socket.IO connect (an abandoned handshake).
    OpenOnly,
}

/// New connections per second held for `duration`, or ramped from `rate` to `ramp_to`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrivalPhase {
    pub duration: Millis,
    /// Arrivals per second (at the start, when ramping).
    pub rate: f64,
    /// Arrivals per second at the end: the rate changes linearly over the phase.
    #[serde(default)]
    pub ramp_to: Option<f64>,
}

/// `control`: one client's flow, repeated in rounds and timed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    /// Tokens replacing the profile's of the same name for this client (a user with fixtures).
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSpec>,
    /// Pause between rounds (mind the app's rate limit); default 700ms.
    #[serde(default)]
    pub interval: Option<Millis>,
    #[schemars(with = "Vec<ControlStep>")]
    pub steps: Vec<Spanned<ControlStep>>,
}

/// A control round's step: an `emit` (its ack timed, when it asks for one) or an `expect`
/// of one event (timed from the emit before it).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlStep {
    Emit(EmitSpec),
    Expect(EventMatch),
}

impl Profile {
    /// What marks a client ready (`connected` when the profile does not say).
    pub fn ready(&self) -> &Ready {
        const CONNECTED: &Ready = &Ready::Connected;
        self.ready.as_ref().map_or(CONNECTED, |r| &r.value)
    }
}

/// A parsed, checked profile with its text (for errors) and where it came from.
#[derive(Debug, Clone)]
pub struct ProfileFile {
    pub path: String,
    pub profile: Profile,
}

/// The JSON Schema of a profile file (`harness/schema/profile.schema.json`).
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Profile)
}

/// Reads and checks a profile.
pub fn load_profile(path: &Path) -> Result<ProfileFile, ParseError> {
    let label = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| ParseError::at(&label, "", 0, 0, format!("cannot read the file: {e}")))?;
    parse_profile(&label, &source)
}

/// Parses and checks profile text; `file` names it in errors.
pub fn parse_profile(file: &str, source: &str) -> Result<ProfileFile, ParseError> {
    let profile: Profile = serde_saphyr::from_str(source).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        ParseError::at(
            file,
            source,
            line,
            column,
            super::parse::serde_message(&e.to_string()),
        )
    })?;
    let at = |span: &Location, message: String| {
        ParseError::at(file, source, span.line(), span.column(), message)
    };
    check(&profile).map_err(|(span, message)| at(&span, message))?;
    Ok(ProfileFile {
        path: file.to_owned(),
        profile,
    })
}

/// The first mistake, with where it is.
fn check(profile: &Profile) -> Result<(), (Location, String)> {
    let client_at = profile.client.referenced;
    for (name, token) in &profile.tokens {
        token.check(name).map_err(|m| (client_at, m))?;
        if token.http.is_some() {
            return Err((
                client_at,
                format!(
                    "token {name:?}: a profile mints its tokens (`http` logins are for scenarios)"
                ),
            ));
        }
    }
    let vars = dry_run_vars(profile, &[]);
    check_client(&profile.client.value, &vars).map_err(|m| (client_at, m))?;
    let acks = profile
        .client
        .value
        .on_connect
        .iter()
        .filter(|emit| emit.ack.is_some())
        .count();
    let ready_at = profile.ready.as_ref().map_or(client_at, |r| r.referenced);
    // What a client waits for is the same for all: it may use `vars`, nothing of one client.
    let shared = dry_run_vars(
        &Profile {
            tokens: BTreeMap::new(),
            ..profile.clone()
        },
        &[],
    );
    let mut expected: Vec<&Option<Vec<Value>>> = profile
        .client
        .value
        .on_connect
        .iter()
        .filter_map(|emit| emit.ack.as_ref().map(|ack| &ack.args))
        .collect();
    if let Ready::Event(event) = profile.ready() {
        expected.push(&event.args);
    }
    for args in expected {
        shared.value(&json!(args)).map_err(|e| {
            (
                ready_at,
                format!(
                    "what marks a client ready is the same for every client: {}",
                    template_message(e)
                ),
            )
        })?;
    }
    match profile.ready() {
        Ready::Ack if acks == 0 => {
            return Err((
                ready_at,
                "`ready: ack` needs an `on_connect` emit with `ack`".into(),
            ));
        }
        Ready::Event(event) if !event.capture.is_empty() => {
            return Err((
                ready_at,
                "`ready` captures nothing: a load client keeps no variables".into(),
            ));
        }
        _ => {}
    }
    if let Some(fanout) = &profile.fanout {
        check_fanout(profile, &fanout.value).map_err(|m| (fanout.referenced, m))?;
    }
    if let Some(churn) = &profile.churn {
        for phase in &churn.phases {
            check_phase(&phase.value).map_err(|m| (phase.referenced, m))?;
        }
    }
    if let Some(control) = &profile.control {
        let names: Vec<&str> = control.value.tokens.keys().map(String::as_str).collect();
        for (name, token) in &control.value.tokens {
            token.check(name).map_err(|m| (control.referenced, m))?;
        }
        let vars = dry_run_vars(profile, &names);
        if control.value.steps.is_empty() {
            return Err((control.referenced, "`control` has no steps".into()));
        }
        for step in &control.value.steps {
            let rendered = match &step.value {
                ControlStep::Emit(emit) => vars.value(&json!(emit.args)),
                ControlStep::Expect(event) if !event.capture.is_empty() => {
                    return Err((
                        step.referenced,
                        "a control step captures nothing: each round is the same".into(),
                    ));
                }
                ControlStep::Expect(event) => vars.value(&json!(event.args)),
            };
            rendered.map_err(|e| (step.referenced, template_message(e)))?;
        }
    }
    Ok(())
}

fn check_client(client: &VirtualClient, vars: &Vars) -> Result<(), String> {
    let rendered = json!({
        "auth": client.auth,
        "query": client.query,
        "headers": client.headers,
        "on_connect": client.on_connect.iter().map(|e| &e.args).collect::<Vec<_>>(),
    });
    vars.value(&rendered).map_err(template_message)?;
    if !client.namespace.starts_with('/') {
        return Err(format!(
            "`namespace` must start with '/': {:?}",
            client.namespace
        ));
    }
    Ok(())
}

fn check_fanout(profile: &Profile, fanout: &FanoutSpec) -> Result<(), String> {
    for (name, token) in &fanout.tokens {
        token.check(name)?;
    }
    let names: Vec<&str> = fanout.tokens.keys().map(String::as_str).collect();
    let mut vars = dry_run_vars(profile, &names);
    vars.set("seq", json!(1));
    if let Some(broadcaster) = &fanout.broadcaster {
        check_client(broadcaster, &vars)?;
    }
    let trigger = match &fanout.trigger {
        Trigger::Http(step) => {
            step.check()?;
            if step.node.is_some() || step.service.is_some() || step.via.is_some() {
                return Err(
                    "a fan-out `http` trigger goes to the target: no `node`, `service` or `via`"
                        .into(),
                );
            }
            if !step.capture.is_empty() || step.within.is_some() {
                return Err(
                    "a fan-out `http` trigger is sent once: no `capture` or `within`".into(),
                );
            }
            json!({"path": step.path, "token": step.token, "headers": step.headers, "body": step.body})
        }
        Trigger::Emit(emit) => json!(emit.args),
    };
    vars.value(&trigger).map_err(template_message)?;
    if fanout.deliver.sequence.is_some() && !mentions_seq(&trigger) {
        return Err(
            "`deliver.sequence` names where `{{seq}}` comes back, but the trigger never sends `{{seq}}`"
                .into(),
        );
    }
    Ok(())
}

fn mentions_seq(value: &Value) -> bool {
    match value {
        Value::String(text) => text.split("{{").skip(1).any(|rest| {
            rest.split("}}")
                .next()
                .is_some_and(|name| name.trim() == "seq")
        }),
        Value::Array(items) => items.iter().any(mentions_seq),
        Value::Object(map) => map.values().any(mentions_seq),
        _ => false,
    }
}

fn check_phase(phase: &ArrivalPhase) -> Result<(), String> {
    let valid = |rate: f64| rate.is_finite() && rate >= 0.0;
    if !valid(phase.rate) || !phase.ramp_to.is_none_or(valid) {
        return Err("a phase's `rate` and `ramp_to` are arrivals per second, 0 or more".into());
    }
    if phase.duration.0.is_zero() {
        return Err("a phase needs a `duration` above 0".into());
    }
    Ok(())
}

/// Variables as a run will have them, with placeholder values: rendering every template with
/// them finds an unknown name before any client connects.
fn dry_run_vars(profile: &Profile, extra_tokens: &[&str]) -> Vars {
    let mut vars = Vars::default();
    for (name, value) in &profile.vars {
        vars.set(name.clone(), value.clone());
    }
    vars.set("client", json!({ "index": 1 }));
    vars.set("clients", json!(1));
    for name in profile
        .tokens
        .keys()
        .map(String::as_str)
        .chain(extra_tokens.iter().copied())
    {
        vars.set(name, json!("token"));
    }
    vars
}

fn template_message(error: TemplateError) -> String {
    match error {
        TemplateError::Unknown(name) => format!(
            "unknown variable {{{{{name}}}}}: a profile knows its `vars`, its `tokens`, \
             `client.index`, `seq` (in a fan-out trigger) and `clients` (in `seed_sql`)"
        ),
        other => other.to_string(),
    }
}
