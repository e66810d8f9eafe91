//! `expect` (events in order or in any order, or a connect, connect error, disconnect,
//! reconnect or failed reconnection, on one client or several) and `expect_none` (no event
//! for a while).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse::Clients;
use super::{Millis, is_default, root_namespace};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The same expectation for each of these clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// Default: the one namespace the client connected, else `/` ([`super::defaults`]); left
    /// out when written where that default gives it back.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// One event (with `args`, `partial`, `capture`, `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Expect the event this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Several events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventMatch>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub order: Order,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_error: Option<ConnectErrorMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<DisconnectMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<Empty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_failed: Option<Empty>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Millis>,
}

impl ExpectStep {
    /// An expectation of `client` on `/` with nothing to expect yet: set one of `event`,
    /// `events`, `connect`, … before writing it.
    pub fn of(client: impl Into<String>) -> Self {
        Self {
            client: Some(client.into()),
            clients: Vec::new(),
            namespace: root_namespace(),
            event: None,
            args: None,
            partial: false,
            count: None,
            events: None,
            order: Order::default(),
            connect: None,
            connect_error: None,
            disconnect: None,
            reconnect: None,
            reconnect_failed: None,
            capture: BTreeMap::new(),
            timeout: None,
        }
    }

    /// `client` expecting `event` on `/`, whatever its arguments.
    pub fn event(client: impl Into<String>, event: impl Into<String>) -> Self {
        Self {
            event: Some(event.into()),
            ..Self::of(client)
        }
    }

    /// The clients the expectation is about, in order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.client.iter().chain(&self.clients)
    }

    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        self.check_shape()?;
        clients.uses(self.names().map(String::as_str))
    }

    fn check_shape(&self) -> Result<(), String> {
        if self.client.is_some() != self.clients.is_empty() {
            return Err("`expect` names either `client` or `clients`".into());
        }
        let kinds = [
            self.event.is_some(),
            self.events.is_some(),
            self.connect.is_some(),
            self.connect_error.is_some(),
            self.disconnect.is_some(),
            self.reconnect.is_some(),
            self.reconnect_failed.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => {
                return Err(
                    "`expect` needs one of: event, events, connect, connect_error, disconnect, reconnect, reconnect_failed".into(),
                );
            }
            _ => {
                return Err(
                    "`expect` takes only one of: event, events, connect, connect_error, disconnect, reconnect, reconnect_failed".into(),
                );
            }
        }
        if self.event.is_none()
            && (self.args.is_some()
                || self.partial
                || !self.capture.is_empty()
                || self.count.is_some())
        {
            return Err("`args`, `partial`, `capture` and `count` go with `event`".into());
        }
        if self.events.as_ref().is_some_and(Vec::is_empty) {
            return Err("`events` is empty".into());
        }
        Ok(())
    }
}

/// How a list of expected events must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Strict,
    Any,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Value>>,
    /// Objects may carry keys the expectation does not name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
}

/// An empty map, for expectations without parameters (`connect: {}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectErrorMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `true`: the server ended the transport on purpose (a websocket close frame, an Engine.IO
    /// close packet), as a graceful shutdown does; `false`: the connection just dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by_server: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectNoneStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// Only these events count; default: any event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(rename = "for")]
    pub window: Millis,
}

impl ExpectNoneStep {
    /// The clients the step watches, in order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.client.iter().chain(&self.clients)
    }

    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        if self.client.is_some() != self.clients.is_empty() {
            return Err("`expect_none` names either `client` or `clients`".into());
        }
        clients.uses(self.names().map(String::as_str))
    }
}
