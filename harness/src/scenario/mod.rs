//! The scenario language: what a YAML scenario file may say, how a file becomes checked
//! scenarios or an error that points at the line and column ([`parse`]), and how a scenario is
//! written back as YAML ([`write`], the one writer `record`, the fuzz reproducer and
//! differential shrinking use).
//!
//! A file holds one scenario (`name` + `steps` at the top) or several (`scenarios: [...]`). Each
//! step is a one-key map such as `- emit: {client: alice, event: subscribe:status}`; the
//! format is documented with a runnable example in `harness/README.md`.
//!
//! One file per step family holds its AST, its checks and (through `Serialize`, defaults left
//! out) how it is written: [`connect`], [`emit`] (`emit`, `ack`), [`expect`] (`expect`,
//! `expect_none`), [`http`], [`cut`] (`cut`, `restore`), [`network`], [`cluster`] (`server`,
//! `redis`, `move`, `cluster`), [`database`], [`disconnect`], [`raw`], [`broadcast`]
//! (`broadcaster`, `deliveries`); `sleep` takes a [`Millis`] from [`duration`]. [`tokens`]
//! holds the `tokens:` section. [`profile`] is the load profile, a file of its own built from
//! the same pieces (a connect's keys, `on_connect` emits, tokens, templates, matchers, an `http`
//! step, `emit` and `expect`), which the load modes take. [`Step`] is the single list of what a
//! file may say; only its methods and the runner's dispatch go through every variant.

pub mod broadcast;
pub mod cluster;
pub mod connect;
pub mod cut;
pub mod database;
pub mod defaults;
pub mod disconnect;
pub mod duration;
pub mod emit;
pub mod expect;
pub mod http;
pub mod network;
pub mod parse;
pub mod profile;
pub mod raw;
pub mod tokens;
pub mod write;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::transcript::Redaction;

pub use broadcast::{BroadcasterStep, DeliveriesStep};
pub use cluster::{ClusterStep, MoveStep, RedisAction, ServerAction, ServerStep, check_node_name};
pub use connect::{ConnectOutcome, ConnectStep, EmitSpec, Reconnection, ReconnectionPolicy, Via};
pub use cut::{ClientRef, CutMode, CutStep};
pub use database::DatabaseAction;
pub use defaults::Defaults;
pub use disconnect::DisconnectStep;
pub use duration::{Millis, SignedMillis, format_duration, parse_duration_ms};
pub use emit::{AckExpectation, AckStep, EmitStep};
pub use expect::{
    ConnectErrorMatch, DisconnectMatch, Empty, EventMatch, ExpectNoneStep, ExpectStep, Order,
};
pub use http::HttpStep;
pub use network::{Bandwidth, LinkDelay, Loss, NetworkStep};
pub use parse::{ParseError, load_file, parse_str};
pub use raw::RawStep;
pub use tokens::{TokenRequest, TokenSpec};
pub use write::{Draft, DraftStep, WriteError};

/// A parsed file: its scenarios, and its text for error messages.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub path: String,
    pub source: String,
    pub scenarios: Vec<Scenario>,
}

/// One scenario.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    /// How transcripts write what no step matches (a path or a pattern, and a replacement).
    #[serde(default)]
    #[schemars(with = "Vec<Redaction>")]
    pub redact: Vec<Spanned<Redaction>>,
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
    /// Line of the scenario in its file, set by the parser.
    #[serde(skip)]
    pub line: u64,
}

/// One step. YAML: a map with exactly one of these keys.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
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
    Database(DatabaseAction),
    Move(MoveStep),
    Network(NetworkStep),
    Cluster(ClusterStep),
    Disconnect(DisconnectStep),
    Sleep(Millis),
    Raw(RawStep),
    Broadcaster(BroadcasterStep),
    Deliveries(DeliveriesStep),
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
            Step::Database(_) => "database",
            Step::Move(_) => "move",
            Step::Network(_) => "network",
            Step::Cluster(_) => "cluster",
            Step::Disconnect(_) => "disconnect",
            Step::Sleep(_) => "sleep",
            Step::Raw(_) => "raw",
            Step::Broadcaster(_) => "broadcaster",
            Step::Deliveries(_) => "deliveries",
        }
    }

    /// The values the step captures into variables, for the families that capture (`expect`,
    /// `http`).
    pub fn captures_mut(&mut self) -> Option<&mut BTreeMap<String, String>> {
        match self {
            Step::Expect(step) => Some(&mut step.capture),
            Step::Http(step) => Some(&mut step.capture),
            _ => None,
        }
    }

    /// What is wrong with the step where it stands, given the clients earlier steps connected
    /// (which a `connect` adds to): each family's own checks.
    fn check<'a>(&'a self, clients: &mut parse::Clients<'a>) -> Result<(), String> {
        match self {
            Step::Connect(step) => step.check(clients),
            Step::Emit(step) => step.check(clients),
            Step::Expect(step) => step.check(clients),
            Step::ExpectNone(step) => step.check(clients),
            Step::Ack(step) => step.check(clients),
            Step::Http(step) => step.check(),
            Step::Cut(step) => step.check(clients),
            Step::Restore(step) => step.check(clients),
            Step::Server(step) => step.check(),
            Step::Move(step) => step.check(clients),
            Step::Network(step) => step.check(clients),
            Step::Disconnect(step) => step.check(clients),
            Step::Raw(step) => step.check(clients),
            Step::Broadcaster(step) => step.check(clients),
            Step::Deliveries(step) => step.check(clients),
            Step::Redis(_) | Step::Database(_) | Step::Cluster(_) | Step::Sleep(_) => Ok(()),
        }
    }
}

pub fn root_namespace() -> String {
    "/".to_owned()
}

/// Whether a namespace is the default one (or not set yet), left out when written.
fn is_root(nsp: &str) -> bool {
    nsp == "/" || nsp.is_empty()
}

/// Whether a value is its type's default, left out when written.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
