//! `connect`: a client (or one more namespace of it) connecting, straight to a node, to a named
//! cluster node, or through the cluster's HAProxy; with its transport, auth, reconnection policy
//! and the events it emits on every (re)connect.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::emit::AckExpectation;
use super::expect::ConnectErrorMatch;
use super::parse::Clients;
use super::{Millis, check_node_name, is_default, is_root, root_namespace};
use crate::transport::TransportKind;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectStep {
    pub client: String,
    /// The cluster node the client's proxy forwards to; default: the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Through the cluster's load balancer instead of to one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// Default: the file's `defaults`, else `/` ([`super::defaults`]).
    #[serde(default, skip_serializing_if = "is_root")]
    pub namespace: String,
    /// Default: the file's `defaults`, else websocket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKind>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `false` to disable, or the policy; default: no reconnection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnection: Option<Reconnection>,
    /// Emitted on every (re)connect, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_connect: Vec<EmitSpec>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub expect: ConnectOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Millis>,
}

impl ConnectStep {
    /// `client` connecting `/` over WebSocket, with nothing else set.
    pub fn new(client: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            node: None,
            via: None,
            namespace: root_namespace(),
            transport: None,
            query: BTreeMap::new(),
            headers: BTreeMap::new(),
            auth: None,
            path: None,
            reconnection: None,
            on_connect: Vec::new(),
            expect: ConnectOutcome::default(),
            timeout: None,
        }
    }

    pub(super) fn check<'a>(&'a self, clients: &mut Clients<'a>) -> Result<(), String> {
        if self.node.is_some() && self.via.is_some() {
            return Err("`connect` takes `node` or `via`, not both".into());
        }
        if let Some(node) = &self.node {
            check_node_name(node)?;
        }
        if clients.is_connected(&self.client) && (self.node.is_some() || self.via.is_some()) {
            return Err(format!(
                "{:?} is connected already: `node` and `via` go on a client's first `connect` (use `move` to fail it over)",
                self.client
            ));
        }
        clients.connect(&self.client);
        Ok(())
    }
}

/// What `connect` waits for before the next step: `connect`, `connect_error`, `nothing`, or
/// `{connect_error: {message, data}}` (the refusal, its payload matched, matchers allowed).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ConnectOutcome {
    #[default]
    Connect,
    ConnectError,
    /// A refusal whose payload must match.
    Refused(ConnectErrorMatch),
    /// Do not wait.
    Nothing,
}

impl ConnectOutcome {
    pub fn expects_refusal(&self) -> bool {
        matches!(
            self,
            ConnectOutcome::ConnectError | ConnectOutcome::Refused(_)
        )
    }
}

/// The two spellings of [`ConnectOutcome`] in YAML.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
enum OutcomeForm {
    Word(OutcomeWord),
    Refused { connect_error: ConnectErrorMatch },
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum OutcomeWord {
    Connect,
    ConnectError,
    Nothing,
}

impl<'de> Deserialize<'de> for ConnectOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let form = OutcomeForm::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "a connect's `expect` is connect, connect_error, nothing, or \
                 {connect_error: {message, data}}",
            )
        })?;
        Ok(match form {
            OutcomeForm::Word(OutcomeWord::Connect) => ConnectOutcome::Connect,
            OutcomeForm::Word(OutcomeWord::ConnectError) => ConnectOutcome::ConnectError,
            OutcomeForm::Word(OutcomeWord::Nothing) => ConnectOutcome::Nothing,
            OutcomeForm::Refused { connect_error } => ConnectOutcome::Refused(connect_error),
        })
    }
}

/// The schema of the YAML spellings the `Deserialize` impl above reads.
impl JsonSchema for ConnectOutcome {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ConnectOutcome".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        OutcomeForm::json_schema(generator)
    }
}

impl Serialize for ConnectOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ConnectOutcome::Connect => OutcomeForm::Word(OutcomeWord::Connect),
            ConnectOutcome::ConnectError => OutcomeForm::Word(OutcomeWord::ConnectError),
            ConnectOutcome::Nothing => OutcomeForm::Word(OutcomeWord::Nothing),
            ConnectOutcome::Refused(connect_error) => OutcomeForm::Refused {
                connect_error: connect_error.clone(),
            },
        }
        .serialize(serializer)
    }
}

/// What a client connects through, instead of straight to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The cluster's HAProxy (the launch spec's `cluster.haproxy`).
    Haproxy,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Reconnection {
    Enabled(bool),
    Policy(ReconnectionPolicy),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconnectionPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_max: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomization: Option<f64>,
}

/// An event emitted on every (re)connect; with `ack`, the connect (or the awaited reconnect)
/// completes only once the server has answered it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitSpec {
    pub event: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<AckExpectation>,
}
