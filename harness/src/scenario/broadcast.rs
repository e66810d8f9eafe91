//! Traffic that runs beside the steps, and what it must have reached: a `broadcaster` sends one
//! HTTP request (a broadcast through the app's API) every `every`, numbered `{{tick}}` from 1,
//! while the next steps run (nodes stopped, started as another server); `deliveries` stops it
//! and counts, for each client it names, which ticks arrived as `event` against which were sent
//! while the client was connected (a rolling migration's promise: nobody connected misses a
//! broadcast, across reconnects to whichever node is live).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse::Clients;
use super::{HttpStep, Millis, check_node_name};

/// `broadcaster`: starts sending `http` every `every` until a `deliveries` step names it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcasterStep {
    /// What `deliveries` calls it.
    pub name: String,
    /// The pause between one answer and the next request.
    pub every: Millis,
    /// The request, `{{tick}}` in it filled with its number (1, 2, ...). Its `status` (default:
    /// any 2xx) must hold for every request, or `deliveries` fails.
    pub http: HttpStep,
}

impl BroadcasterStep {
    pub(super) fn check<'a>(&'a self, clients: &mut Clients<'a>) -> Result<(), String> {
        check_node_name(&self.name).map_err(|e| format!("broadcaster name: {e}"))?;
        self.http.check()?;
        if !self.http.capture.is_empty() || self.http.within.is_some() {
            return Err("a broadcaster's `http` takes no `capture` and no `within`".into());
        }
        if !mentions_tick(&serde_json::to_value(&self.http).unwrap_or_default()) {
            return Err(
                "a broadcaster's `http` must carry `{{tick}}` (in its path or body), so that \
                 each broadcast can be told apart"
                    .into(),
            );
        }
        clients.start_broadcaster(&self.name)
    }
}

/// `deliveries`: stops the broadcaster and checks that each client received, as `event` whose
/// `args` match with `{{tick}}` filled, every tick sent while it was connected, and none twice.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesStep {
    pub broadcaster: String,
    pub clients: Vec<String>,
    /// The event each broadcast arrives as (on any namespace).
    pub event: String,
    /// What a tick's event carries, `{{tick}}` filled; partial when `partial`.
    pub args: Vec<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// A client listens from this event on after each connect (e.g. the answer to its
    /// `on_connect` subscription); default: from the connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening_from: Option<String>,
    /// How long a broadcast may take to reach a client on another node: a client must have
    /// listened from before a tick was sent until this long after it was answered to owe it,
    /// and the step counts this long after the last tick was answered (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<Millis>,
}

impl DeliveriesStep {
    pub(super) fn check(&self, clients: &mut Clients<'_>) -> Result<(), String> {
        if self.clients.is_empty() {
            return Err("`deliveries` names no client".into());
        }
        clients.uses(self.clients.iter().map(String::as_str))?;
        clients.stop_broadcaster(&self.broadcaster)?;
        if !mentions_tick(&Value::Array(self.args.clone())) {
            return Err(
                "`deliveries` needs `{{tick}}` in `args`, to tell which broadcast arrived".into(),
            );
        }
        Ok(())
    }
}

/// Whether `{{tick}}` appears in a string of `value`.
fn mentions_tick(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{tick}}"),
        Value::Array(items) => items.iter().any(mentions_tick),
        Value::Object(map) => map.values().any(mentions_tick),
        _ => false,
    }
}
