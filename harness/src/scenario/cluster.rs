//! The steps that act on a cluster: a node stopped, killed, started or restarted (`server`),
//! redis stopped, killed, frozen or started (`redis`), clients failed over to another node
//! (`move`), and the wait until every node is connected to redis again (`cluster: ready`).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::Millis;
use super::parse::Clients;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServerAction {
    /// SIGTERM, then wait for the exit.
    Stop,
    /// SIGKILL.
    Kill,
    Start,
    Restart,
}

/// `server: stop` (the target's only server) or `server: { kill: b }` (a cluster's node);
/// `server: { start: b, as: rust }` starts a stopped node as another of the cluster's
/// `servers` (a rolling migration replaces a node by a node of another server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStep {
    pub action: ServerAction,
    pub node: Option<String>,
    /// The server the node runs from this start on (`as`); default: the one it ran.
    pub start_as: Option<String>,
}

impl ServerStep {
    pub(super) fn check(&self) -> Result<(), String> {
        if let Some(server) = &self.start_as {
            if !matches!(self.action, ServerAction::Start | ServerAction::Restart) {
                return Err(format!(
                    "`as: {server}` goes with `start` or `restart`, not `{}`",
                    action_name(self.action)
                ));
            }
            check_node_name(server).map_err(|e| format!("as: {e}"))?;
        }
        self.node.as_deref().map_or(Ok(()), check_node_name)
    }
}

fn action_name(action: ServerAction) -> &'static str {
    match action {
        ServerAction::Stop => "stop",
        ServerAction::Kill => "kill",
        ServerAction::Start => "start",
        ServerAction::Restart => "restart",
    }
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
                Ok(ServerStep {
                    action,
                    node: None,
                    start_as: None,
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ServerStep, A::Error> {
                let mut step: Option<(ServerAction, String)> = None;
                let mut start_as = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "as" {
                        start_as = Some(map.next_value::<String>()?);
                        continue;
                    }
                    let action = ServerAction::deserialize(
                        de::value::StrDeserializer::<A::Error>::new(&key),
                    )?;
                    if step.is_some() {
                        return Err(de::Error::custom("`server` takes one action at a time"));
                    }
                    step = Some((action, map.next_value::<String>()?));
                }
                let Some((action, node)) = step else {
                    return Err(de::Error::custom(
                        "`server` needs an action: { stop: NODE }, { kill: NODE }, { start: NODE } or { restart: NODE }",
                    ));
                };
                Ok(ServerStep {
                    action,
                    node: Some(node),
                    start_as,
                })
            }
        }
        d.deserialize_any(ServerVisitor)
    }
}

impl JsonSchema for ServerStep {
    fn schema_name() -> Cow<'static, str> {
        "ServerStep".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let action = generator.subschema_for::<ServerAction>();
        json_schema!({
            "description": "An action on the target's only server, or `{ ACTION: NODE }` on a cluster's node, with `as: SERVER` to start it as another of the cluster's servers.",
            "anyOf": [
                action,
                {
                    "type": "object",
                    "properties": { "as": { "type": "string" } },
                    "propertyNames": { "anyOf": [action, { "const": "as" }] },
                    "additionalProperties": { "type": "string" },
                    "minProperties": 1,
                    "maxProperties": 2
                }
            ]
        })
    }
}

impl Serialize for ServerStep {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.node {
            None => self.action.serialize(s),
            Some(node) => {
                let mut map = s.serialize_map(Some(1 + usize::from(self.start_as.is_some())))?;
                map.serialize_entry(&self.action, node)?;
                if let Some(server) = &self.start_as {
                    map.serialize_entry("as", server)?;
                }
                map.end()
            }
        }
    }
}

/// What a `redis` step does to the cluster's redis-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    pub node: String,
}

impl MoveStep {
    /// The clients moved, in order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.client.iter().chain(&self.clients)
    }

    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        if self.client.is_some() != self.clients.is_empty() {
            return Err("`move` names either `client` or `clients`".into());
        }
        check_node_name(&self.node)?;
        clients.uses(self.names().map(String::as_str))
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

impl JsonSchema for ClusterStep {
    fn schema_name() -> Cow<'static, str> {
        "ClusterStep".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let timeout = generator.subschema_for::<Millis>();
        json_schema!({
            "description": "`ready`, or `{ ready: TIMEOUT }`: wait until every node is connected to redis.",
            "anyOf": [
                { "const": "ready" },
                {
                    "type": "object",
                    "properties": { "ready": timeout },
                    "required": ["ready"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl Serialize for ClusterStep {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.timeout {
            None => s.serialize_str("ready"),
            Some(timeout) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("ready", timeout)?;
                map.end()
            }
        }
    }
}

/// A node name, in a scenario or a launch spec: lowercase letters, digits, `-` and `_`.
pub fn check_node_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a node name: lowercase letters, digits, '-' and '_', at most 32"
        ))
    }
}
