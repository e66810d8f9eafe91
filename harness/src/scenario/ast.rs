//! Scenario files as data. Field names are the YAML keys; unknown keys are errors.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::shaping::{self, Conditions};
use crate::transport::TransportKind;

/// A parsed file: its scenarios, and its text for error messages.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub path: String,
    pub source: String,
    pub scenarios: Vec<Scenario>,
}

/// One scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Values for `{{name}}` in later steps.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Tokens minted before the first step, available as `{{name}}`.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSpec>,
    /// Default timeout of `expect` steps (default 2s).
    #[serde(default)]
    pub timeout: Option<Millis>,
    /// Keep reconnect attempts and errors in the transcript (their count depends on timing).
    #[serde(default)]
    pub record_reconnect_attempts: bool,
    /// Record `transport close` and `transport error` alike, as `transport lost`: when a server
    /// drops a connection that still has unread bytes, the kernel sends a reset or a normal close
    /// depending on timing.
    #[serde(default)]
    pub merge_transport_reasons: bool,
    pub steps: Vec<Spanned<Step>>,
    /// Line of the scenario in its file, set by the parser.
    #[serde(skip)]
    pub line: u64,
}

/// A top-level document: one scenario inline, or a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    #[serde(default)]
    pub scenarios: Option<Vec<Spanned<Scenario>>>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSpec>,
    #[serde(default)]
    pub timeout: Option<Millis>,
    #[serde(default)]
    pub record_reconnect_attempts: bool,
    #[serde(default)]
    pub merge_transport_reasons: bool,
    #[serde(default)]
    pub steps: Option<Vec<Spanned<Step>>>,
}

/// A JWT to mint, deliberately bad ones included, or one fetched from the app's own login
/// endpoint (`http`, which then takes no other key). Strings are templates (`{{run.id}}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Sets the `userId` claim (the claim our servers read; other apps use `sub` or `claims`).
    #[serde(default)]
    pub user: Option<String>,
    /// The `sub` claim.
    #[serde(default)]
    pub sub: Option<String>,
    /// The `iss` claim.
    #[serde(default)]
    pub iss: Option<String>,
    /// The `aud` claim: a string or a list.
    #[serde(default)]
    pub aud: Option<Value>,
    /// Extra or overriding claims.
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
    /// Lifetime from now; negative for an expired token; `null` for no `exp` at all.
    #[serde(default = "default_expiry")]
    pub expires_in: Option<SignedMillis>,
    /// `nbf` this long from now (negative: in the past); default: no `nbf`.
    #[serde(default)]
    pub not_before: Option<SignedMillis>,
    /// `iat` this long from now (default 0; positive: issued in the future); `null`: no `iat`.
    #[serde(default = "default_issued_at")]
    pub issued_at: Option<SignedMillis>,
    /// `HS256` (default), `HS384`, `HS512`, `RS256`/`384`/`512`, `PS256`/`384`/`512`,
    /// `ES256`, `ES384`, `EdDSA`, or `none` in any casing (kept as written in the header).
    #[serde(default = "default_alg")]
    pub alg: String,
    /// Sign with this secret instead of the target's (HMAC algorithms).
    #[serde(default)]
    pub secret: Option<String>,
    /// A PEM private key file for RS*, PS*, ES* and EdDSA, relative to the scenario file.
    #[serde(default)]
    pub key: Option<String>,
    /// Header fields added or replaced (`kid`, `crit`, `typ`, even `alg`), after `alg`/`typ`.
    #[serde(default)]
    pub header: BTreeMap<String, Value>,
    /// Change the payload after signing, so the signature no longer matches.
    #[serde(default)]
    pub tamper: bool,
    /// Pad the payload with a `pad` claim until the token is about this many bytes long.
    #[serde(default)]
    pub pad_to: Option<usize>,
    /// Fetch the token from the app's login endpoint instead of minting one.
    #[serde(default)]
    pub http: Option<TokenRequest>,
}

/// `tokens: {alice: {http: {method: POST, path: /login, body: {...}, capture: body.token}}}`:
/// a request to the target, and where the token is in `{status, body}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default = "default_post")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<Value>,
    /// Expected status (default: any 2xx).
    #[serde(default)]
    pub status: Option<u16>,
    /// A path into `{status, body}`, e.g. `body.token`; the value must be a string.
    pub capture: String,
}

fn default_post() -> String {
    "POST".to_owned()
}

impl Default for TokenSpec {
    /// What an empty YAML map gives: HS256, issued now, valid for an hour, no user.
    fn default() -> Self {
        Self {
            user: None,
            sub: None,
            iss: None,
            aud: None,
            claims: BTreeMap::new(),
            expires_in: default_expiry(),
            not_before: None,
            issued_at: default_issued_at(),
            alg: default_alg(),
            secret: None,
            key: None,
            header: BTreeMap::new(),
            tamper: false,
            pad_to: None,
            http: None,
        }
    }
}

impl TokenSpec {
    /// A valid HS256 token for `user`, expiring after `ttl`.
    pub fn for_user(user: impl Into<String>, ttl: Duration) -> Self {
        Self {
            user: Some(user.into()),
            expires_in: Some(SignedMillis(
                i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            )),
            ..Self::default()
        }
    }

    /// Whether any key that mints a token is set (they make no sense next to `http`).
    pub fn mints(&self) -> bool {
        self.user.is_some()
            || self.sub.is_some()
            || self.iss.is_some()
            || self.aud.is_some()
            || !self.claims.is_empty()
            || self.expires_in != default_expiry()
            || self.not_before.is_some()
            || self.issued_at != default_issued_at()
            || self.alg != default_alg()
            || self.secret.is_some()
            || self.key.is_some()
            || !self.header.is_empty()
            || self.tamper
            || self.pad_to.is_some()
    }
}

fn default_issued_at() -> Option<SignedMillis> {
    Some(SignedMillis(0))
}

fn default_expiry() -> Option<SignedMillis> {
    Some(SignedMillis(3_600_000))
}

fn default_alg() -> String {
    "HS256".to_owned()
}

/// One step. YAML: a map with exactly one of these keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Connect(ConnectStep),
    Emit(EmitStep),
    Expect(ExpectStep),
    ExpectNone(ExpectNoneStep),
    Ack(AckStep),
    Http(HttpStep),
    Cut(CutStep),
    Restore(ClientRef),
    Server(ServerStep),
    Redis(RedisAction),
    Move(MoveStep),
    Network(NetworkStep),
    Cluster(ClusterStep),
    Disconnect(DisconnectStep),
    Sleep(Millis),
    Raw(RawStep),
}

impl Step {
    pub fn keyword(&self) -> &'static str {
        match self {
            Step::Connect(_) => "connect",
            Step::Emit(_) => "emit",
            Step::Expect(_) => "expect",
            Step::ExpectNone(_) => "expect_none",
            Step::Ack(_) => "ack",
            Step::Http(_) => "http",
            Step::Cut(_) => "cut",
            Step::Restore(_) => "restore",
            Step::Server(_) => "server",
            Step::Redis(_) => "redis",
            Step::Move(_) => "move",
            Step::Network(_) => "network",
            Step::Cluster(_) => "cluster",
            Step::Disconnect(_) => "disconnect",
            Step::Sleep(_) => "sleep",
            Step::Raw(_) => "raw",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRef {
    pub client: String,
}

/// What `connect` waits for before the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectOutcome {
    #[default]
    Connect,
    ConnectError,
    /// Do not wait.
    Nothing,
}

/// What a client connects through, instead of straight to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The cluster's HAProxy (the launch spec's `cluster.haproxy`).
    Haproxy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectStep {
    pub client: String,
    /// The cluster node the client's proxy forwards to; default: the first.
    #[serde(default)]
    pub node: Option<String>,
    /// Through the cluster's load balancer instead of to one node.
    #[serde(default)]
    pub via: Option<Via>,
    #[serde(default = "root_namespace")]
    pub namespace: String,
    #[serde(default)]
    pub transport: TransportKind,
    #[serde(default)]
    pub auth: Option<Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub path: Option<String>,
    /// `false` to disable, or the policy; default: no reconnection.
    #[serde(default)]
    pub reconnection: Option<Reconnection>,
    /// Emitted on every (re)connect, in order.
    #[serde(default)]
    pub on_connect: Vec<EmitSpec>,
    #[serde(default)]
    pub expect: ConnectOutcome,
    #[serde(default)]
    pub timeout: Option<Millis>,
}

pub fn root_namespace() -> String {
    "/".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Reconnection {
    Enabled(bool),
    Policy(ReconnectionPolicy),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectionPolicy {
    #[serde(default)]
    pub attempts: Option<u32>,
    #[serde(default)]
    pub delay: Option<Millis>,
    #[serde(default)]
    pub delay_max: Option<Millis>,
    #[serde(default)]
    pub randomization: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitSpec {
    pub event: String,
    #[serde(default)]
    pub args: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitStep {
    pub client: String,
    #[serde(default = "root_namespace")]
    pub namespace: String,
    pub event: String,
    #[serde(default)]
    pub args: Vec<Value>,
    /// Repeat the emit this many times (floods).
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Ask for an ack and wait for it.
    #[serde(default)]
    pub ack: Option<AckExpectation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckExpectation {
    #[serde(default)]
    pub timeout: Option<Millis>,
    /// Expected ack arguments (exact, matchers allowed).
    #[serde(default)]
    pub args: Option<Vec<Value>>,
}

/// How a list of expected events must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Strict,
    Any,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    pub event: String,
    #[serde(default)]
    pub args: Option<Vec<Value>>,
    /// Objects may carry keys the expectation does not name.
    #[serde(default)]
    pub partial: bool,
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectStep {
    #[serde(default)]
    pub client: Option<String>,
    /// The same expectation for each of these clients.
    #[serde(default)]
    pub clients: Vec<String>,
    #[serde(default = "root_namespace")]
    pub namespace: String,
    /// One event (with `args`, `partial`, `capture`, `count`).
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub args: Option<Vec<Value>>,
    #[serde(default)]
    pub partial: bool,
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Expect the event this many times.
    #[serde(default)]
    pub count: Option<u32>,
    /// Several events.
    #[serde(default)]
    pub events: Option<Vec<EventMatch>>,
    #[serde(default)]
    pub order: Order,
    #[serde(default)]
    pub connect: Option<Empty>,
    #[serde(default)]
    pub connect_error: Option<ConnectErrorMatch>,
    #[serde(default)]
    pub disconnect: Option<DisconnectMatch>,
    #[serde(default)]
    pub reconnect: Option<Empty>,
    #[serde(default)]
    pub reconnect_failed: Option<Empty>,
    #[serde(default)]
    pub timeout: Option<Millis>,
}

/// An empty map, for expectations without parameters (`connect: {}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectErrorMatch {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectMatch {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectNoneStep {
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub clients: Vec<String>,
    /// Only these events count; default: any event.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(rename = "for")]
    pub window: Millis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckStep {
    pub client: String,
    #[serde(default = "root_namespace")]
    pub namespace: String,
    /// The server's ack id, usually `{{captured}}`.
    pub id: Value,
    #[serde(default)]
    pub args: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// The cluster node asked; default: the first.
    #[serde(default)]
    pub node: Option<String>,
    /// A service launched with the target (`services:` in its launch spec), asked instead of
    /// the server: e.g. a fake dependency the scenario changes.
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    /// Sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<Value>,
    /// Sent as it is (for malformed bodies).
    #[serde(default)]
    pub raw_body: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    /// Expected JSON body (matchers allowed).
    #[serde(default)]
    pub expect_body: Option<Value>,
    #[serde(default)]
    pub partial: bool,
    /// Asks again, 50 ms apart, until `status` and `expect_body` hold, for up to this long:
    /// for what the server does in the background (a poll, a failover). Only the last answer
    /// is recorded.
    #[serde(default)]
    pub within: Option<Millis>,
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutMode {
    /// Reset every connection of the client, and refuse new ones until `restore`.
    #[default]
    Reset,
    /// Keep connections open but let no byte through, so only a ping timeout can tell.
    Blackhole,
}

impl From<CutMode> for crate::proxy::Cut {
    fn from(mode: CutMode) -> Self {
        match mode {
            CutMode::Reset => Self::Reset,
            CutMode::Blackhole => Self::Blackhole,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutStep {
    pub client: String,
    #[serde(default)]
    pub mode: CutMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerAction {
    /// SIGTERM, then wait for the exit.
    Stop,
    /// SIGKILL.
    Kill,
    Start,
    Restart,
}

/// `server: stop` (the target's only server) or `server: { kill: b }` (a cluster's node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStep {
    pub action: ServerAction,
    pub node: Option<String>,
}

impl<'de> Deserialize<'de> for ServerStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ServerVisitor;
        impl<'de> de::Visitor<'de> for ServerVisitor {
            type Value = ServerStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an action (stop, kill, start, restart) or one `action: node`, e.g. { kill: b }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ServerStep, E> {
                let action = ServerAction::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(ServerStep { action, node: None })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ServerStep, A::Error> {
                let Some((action, node)) = map.next_entry::<ServerAction, String>()? else {
                    return Err(de::Error::custom(
                        "`server` needs an action: { stop: NODE }, { kill: NODE }, { start: NODE } or { restart: NODE }",
                    ));
                };
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("`server` takes one action at a time"));
                }
                Ok(ServerStep {
                    action,
                    node: Some(node),
                })
            }
        }
        d.deserialize_any(ServerVisitor)
    }
}

/// What a `redis` step does to the cluster's redis-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisAction {
    /// SIGTERM, then wait for the exit.
    Stop,
    /// SIGKILL.
    Kill,
    /// SIGSTOP: it keeps its connections but answers nothing.
    Freeze,
    /// Start a stopped or killed redis again on the same port, or SIGCONT a frozen one.
    Start,
}

/// Points clients' proxies at another node and resets their connections, as a load balancer
/// fails over: each reconnects (with its `reconnection` policy) to that node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveStep {
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub clients: Vec<String>,
    pub node: String,
}

/// `network: {client: a, latency: 150ms, jitter: 50ms, bandwidth: 256kbps, loss: "1%"}` shapes
/// both directions of the client's link, for its open and future connections, from this step
/// on (see [`crate::shaping`] for the model). Unset settings are clean: `network: {client: a}`,
/// or `reset: true`, gives back a clean link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkStep {
    pub client: String,
    /// One-way delay, `ms` or `s`.
    #[serde(default)]
    pub latency: Option<LinkDelay>,
    /// The delay varies by up to this much either way (never reordering bytes).
    #[serde(default)]
    pub jitter: Option<LinkDelay>,
    /// Per direction: `bps`, `kbps` or `mbps`.
    #[serde(default)]
    pub bandwidth: Option<Bandwidth>,
    /// A percentage (`"1%"`): how often a segment is lost and retransmitted late.
    #[serde(default)]
    pub loss: Option<Loss>,
    /// Back to a clean link (takes no other setting).
    #[serde(default)]
    pub reset: bool,
    /// The draws' seed; default: one derived from the scenario's and the client's names.
    #[serde(default)]
    pub seed: Option<u64>,
}

impl NetworkStep {
    pub fn conditions(&self) -> Conditions {
        Conditions {
            latency: self.latency.map_or(Duration::ZERO, |d| d.0),
            jitter: self.jitter.map_or(Duration::ZERO, |d| d.0),
            bandwidth_bps: self.bandwidth.map(|b| b.0),
            loss_ppm: self.loss.map_or(0, |l| l.0),
        }
    }

    /// Whether any setting besides `client`, `reset` and `seed` is given.
    pub fn shapes(&self) -> bool {
        self.latency.is_some()
            || self.jitter.is_some()
            || self.bandwidth.is_some()
            || self.loss.is_some()
    }
}

/// A link delay: `150ms` or `2s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkDelay(pub Duration);

/// Bits per second: `256kbps`, `2mbps`, `9600bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth(pub u64);

/// A loss rate in parts per million, written as a percentage: `"1%"`, `"0.5%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss(pub u32);

/// A YAML string read by one of [`crate::shaping`]'s parsers; `what` says what is expected.
fn shaping_value<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct TextVisitor<T> {
        what: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> de::Visitor<'_> for TextVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.what)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Err(E::custom(format!(
                "{v} has no unit: expected {}",
                self.what
            )))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            Err(E::custom(format!(
                "{v} has no unit: expected {}",
                self.what
            )))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            Err(E::custom(format!(
                "{v} has no unit: expected {}",
                self.what
            )))
        }
    }
    d.deserialize_any(TextVisitor { what, parse })
}

impl<'de> Deserialize<'de> for LinkDelay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaping_value(d, "a delay such as 150ms or 1s", shaping::parse_delay).map(LinkDelay)
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaping_value(
            d,
            "a bandwidth such as 256kbps or 2mbps",
            shaping::parse_bandwidth,
        )
        .map(Bandwidth)
    }
}

impl<'de> Deserialize<'de> for Loss {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaping_value(d, "a percentage such as \"1%\"", shaping::parse_loss).map(Loss)
    }
}

/// `cluster: ready` waits until every running node's `/health` says `adapter.state` is
/// `connected` (10 s, or `cluster: { ready: 5s }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterStep {
    pub timeout: Option<Millis>,
}

impl<'de> Deserialize<'de> for ClusterStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ClusterVisitor;
        const WAITS: &[&str] = &["ready"];
        impl<'de> de::Visitor<'de> for ClusterVisitor {
            type Value = ClusterStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`ready` or { ready: TIMEOUT }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClusterStep, E> {
                match v {
                    "ready" => Ok(ClusterStep { timeout: None }),
                    other => Err(E::unknown_variant(other, WAITS)),
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ClusterStep, A::Error> {
                match map.next_key::<String>()?.as_deref() {
                    Some("ready") => {}
                    Some(other) => return Err(de::Error::unknown_variant(other, WAITS)),
                    None => return Err(de::Error::custom("`cluster` needs `ready`")),
                }
                let timeout = map.next_value::<Millis>()?;
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("`cluster` takes only `ready`"));
                }
                Ok(ClusterStep {
                    timeout: Some(timeout),
                })
            }
        }
        d.deserialize_any(ClusterVisitor)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectStep {
    pub client: String,
    /// Only this namespace; default: the whole client.
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub client: String,
    #[serde(default)]
    pub text: Option<String>,
    /// Base64 bytes sent as a binary frame.
    #[serde(default)]
    pub binary: Option<String>,
    /// Repeat `text` this many times (oversized payloads), between `prefix` and `suffix`.
    #[serde(default)]
    pub repeat_text: Option<usize>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub suffix: Option<String>,
}

/// A duration written `250ms`, `2s`, `1m`, or a number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub Duration);

/// A duration that may be negative (`-1h`), for token expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedMillis(pub i64);

/// Parses `250ms`, `2s`, `1m`, `1h`, `-1h` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let split = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 250ms, 2s or 1h"))?;
    let factor = match unit {
        "ms" | "" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "unknown duration unit {other:?}: use ms, s, m, h or d"
            ));
        }
    };
    let ms = number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too long"))?;
    Ok(if negative { -ms } else { ms })
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 250ms, 2s or 1h")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("duration too long"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_duration_ms(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ms = d.deserialize_any(DurationVisitor)?;
        u64::try_from(ms)
            .map(|ms| Millis(Duration::from_millis(ms)))
            .map_err(|_| de::Error::custom("a duration here cannot be negative"))
    }
}

impl<'de> Deserialize<'de> for SignedMillis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor).map(SignedMillis)
    }
}
