//! `emit` (an event, optionally repeated, optionally waiting for its ack) and `ack` (the client
//! answering an ack the server asked for).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse::Clients;
use super::{Millis, root_namespace};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitStep {
    pub client: String,
    /// Default: the one namespace the client connected, else `/` ([`super::defaults`]); left
    /// out when written where that default gives it back.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Value>,
    /// Repeat the emit this many times (floods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// Ask for an ack and wait for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<AckExpectation>,
}

impl EmitStep {
    /// `client` emitting `event` with `args` on `/`.
    pub fn new(client: impl Into<String>, event: impl Into<String>, args: Vec<Value>) -> Self {
        Self {
            client: client.into(),
            namespace: root_namespace(),
            event: event.into(),
            args,
            repeat: None,
            ack: None,
        }
    }

    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        clients.uses([self.client.as_str()])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckExpectation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Millis>,
    /// Expected ack arguments (exact, matchers allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckStep {
    pub client: String,
    /// Default: the one namespace the client connected, else `/` ([`super::defaults`]); left
    /// out when written where that default gives it back.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The server's ack id, usually `{{captured}}`.
    pub id: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Value>,
}

impl AckStep {
    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        clients.uses([self.client.as_str()])
    }
}
