//! The load modes' preflight: before any load, one client runs the flow the modes speak (this
//! repository's dashboard: connect a namespace with a JWT in `auth.token`, emit the subscribe
//! event, receive its answer). A server that does not follow it is another app, not a broken
//! server: the mode stops at once with a usage error naming what it expected, and sends no load.
//! [`Flow`] is the one description of what is expected, so a load profile (issue #29) can hand
//! the preflight its own.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Client, ClientOptions, NamespaceOptions, Observed, ReconnectPolicy};

/// How long the preflight waits for each answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The conversation a load mode's clients hold with the server.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The Engine.IO path.
    pub path: String,
    pub namespace: String,
    /// Emitted once connected.
    pub subscribe: String,
    /// The event that answers `subscribe`.
    pub answer: String,
}

impl Flow {
    /// The dashboard's flow, which `storm`, `fanout`, `churn`, `exhaust` and `fuzz` speak.
    pub fn dashboard() -> Self {
        Self {
            path: "/socket.io/".into(),
            namespace: "/".into(),
            subscribe: "subscribe:status".into(),
            answer: "status:current".into(),
        }
    }

    /// What the flow expects of a server, for messages.
    pub fn describe(&self) -> String {
        format!(
            "Engine.IO path {}, namespace {} with a JWT in auth.token, `{}` answered by `{}`",
            self.path, self.namespace, self.subscribe, self.answer
        )
    }
}

/// Runs `flow` once against `base_url` as the holder of `token`; `Err` says which part the
/// server did not follow and what it did instead.
pub async fn check(base_url: &str, token: &str, flow: &Flow) -> Result<(), String> {
    let mut options = ClientOptions::new(base_url.to_owned());
    options.endpoint.path = flow.path.clone();
    options.endpoint.timeout = ANSWER_TIMEOUT;
    options.namespaces = vec![NamespaceOptions {
        auth: Some(json!({ "token": token })),
        ..NamespaceOptions::new(&flow.namespace)
    }];
    options.reconnect = ReconnectPolicy {
        enabled: false,
        ..ReconnectPolicy::default()
    };
    let mut client = Client::connect(options);
    let result = converse(&mut client, flow).await;
    client.close();
    result
}

async fn converse(client: &mut Client, flow: &Flow) -> Result<(), String> {
    let connected = client
        .wait_for(ANSWER_TIMEOUT, |o| {
            matches!(
                o,
                Observed::Connect { .. }
                    | Observed::ConnectError { .. }
                    | Observed::Disconnect { .. }
                    | Observed::ReconnectFailed
            )
        })
        .await
        .map(|o| o.what);
    match connected {
        Some(Observed::Connect { .. }) => {}
        Some(Observed::ConnectError { message, .. }) => {
            return Err(format!(
                "connecting {} at {} was refused: {message}",
                flow.namespace, flow.path
            ));
        }
        Some(other) => {
            return Err(format!(
                "connecting {} at {} failed: {}",
                flow.namespace,
                flow.path,
                brief(&other)
            ));
        }
        None => {
            return Err(format!(
                "connecting {} at {} got no answer within {ANSWER_TIMEOUT:?}",
                flow.namespace, flow.path
            ));
        }
    }
    client
        .emit(&flow.namespace, &flow.subscribe, Vec::new(), None)
        .map_err(|_| format!("the connection closed before `{}` was sent", flow.subscribe))?;
    let answered = client
        .wait_for(ANSWER_TIMEOUT, |o| match o {
            Observed::Event { event, .. } => *event == flow.answer,
            Observed::Disconnect { .. } => true,
            _ => false,
        })
        .await
        .map(|o| o.what);
    match answered {
        Some(Observed::Event { .. }) => Ok(()),
        Some(other) => Err(format!("after `{}`: {}", flow.subscribe, brief(&other))),
        None => {
            let seen: Vec<String> = client
                .unconsumed()
                .filter_map(|o| match &o.what {
                    Observed::Event { event, .. } => Some(format!("`{event}`")),
                    _ => None,
                })
                .collect();
            Err(format!(
                "`{}` got no `{}` within {ANSWER_TIMEOUT:?} (events received: {})",
                flow.subscribe,
                flow.answer,
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    seen.join(", ")
                }
            ))
        }
    }
}

/// An observation in a few words: its kind and reason, never its payload (another app's data).
fn brief(observed: &Observed) -> String {
    match serde_json::to_value(observed) {
        Ok(Value::Object(map)) => {
            let kind = map.get("type").and_then(Value::as_str).unwrap_or("event");
            match map.get("reason").or_else(|| map.get("message")) {
                Some(Value::String(reason)) => format!("{kind} ({reason})"),
                _ => kind.to_owned(),
            }
        }
        _ => "an unexpected answer".to_owned(),
    }
}

/// The message of a load mode that cannot speak to the target: what it expected, what happened,
/// and that this says nothing about the server.
pub fn refusal(mode: &str, target: &str, flow: &Flow, what_happened: &str) -> String {
    format!(
        "{mode} cannot drive {target}: it speaks this repository's dashboard flow ({}), and {what_happened}.\n\
         This is not a verdict on the server: the load modes cannot drive another app's flow yet \
         (load profiles, issue #29). No load was sent.",
        flow.describe()
    )
}
