//! The load modes' preflight: before any load, one virtual client of the load profile connects
//! and waits until it is ready as the profile says. A server that does not follow the profile
//! is another app (or another profile's), not a broken server: the mode stops at once with a
//! usage error naming what the profile expected, and sends no load.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use serde_json::Value;

use super::virtual_client::{ClientPlan, Conversation};
use crate::client::{Client, Observed};
use crate::load::reports::Milestone;
use crate::transport::EndpointOptions;

/// How long the preflight waits for the client to be ready.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects `client` to `base_url` once and waits until it is ready as `conversation` says;
/// `Err` says which part the server did not follow and what it did instead.
pub async fn check(
    base_url: &str,
    client: &ClientPlan,
    conversation: &Conversation,
) -> Result<(), String> {
    let mut endpoint = EndpointOptions::new(base_url.to_owned());
    endpoint.timeout = ANSWER_TIMEOUT;
    let mut client = Client::connect(client.options(conversation, endpoint));
    let result = converse(&mut client, conversation).await;
    client.close();
    result
}

async fn converse(client: &mut Client, conversation: &Conversation) -> Result<(), String> {
    let acks = AtomicUsize::new(0);
    let mut connected = false;
    let mut settled = None;
    let seen = client
        .wait_for(ANSWER_TIMEOUT, |o| {
            settled = conversation.milestone(o, &acks);
            connected |= matches!(settled, Some(Milestone::Connected | Milestone::Ready));
            matches!(
                settled,
                Some(Milestone::Ready | Milestone::Failure(_) | Milestone::Lost)
            )
        })
        .await
        .map(|o| o.what);
    let at = format!("{} at {}", conversation.namespace, conversation.path);
    match (settled, seen) {
        (Some(Milestone::Ready), _) => Ok(()),
        (Some(Milestone::Failure(message)), _) if connected => {
            Err(format!("once connected: {message}"))
        }
        (_, Some(Observed::ConnectError { message, .. })) => {
            Err(format!("connecting {at} was refused: {message}"))
        }
        (_, Some(other)) if !connected => Err(format!("connecting {at} failed: {}", brief(&other))),
        (_, Some(other)) => Err(format!("once connected: {}", brief(&other))),
        (_, None) if !connected => Err(format!(
            "connecting {at} got no answer within {ANSWER_TIMEOUT:?}"
        )),
        (_, None) => {
            let seen: Vec<String> = client
                .unconsumed()
                .filter_map(|o| match &o.what {
                    Observed::Event { event, .. } => Some(format!("`{event}`")),
                    _ => None,
                })
                .collect();
            Err(format!(
                "the client was not ready within {ANSWER_TIMEOUT:?} (events received: {})",
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

/// The message of a load mode that cannot drive the target with its profile: what the profile
/// expected, what happened, and that this says nothing about the server.
pub fn refusal(
    mode: &str,
    target: &str,
    profile: &str,
    conversation: &Conversation,
    what_happened: &str,
) -> String {
    format!(
        "{mode} cannot drive {target} with the profile {profile} ({}): {what_happened}.\n\
         This is not a verdict on the server: its flow is not the profile's. Check the profile's \
         `client` and `ready` against the app. No load was sent.",
        conversation.describe()
    )
}
