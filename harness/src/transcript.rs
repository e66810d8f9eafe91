//! Transcripts: what each client saw and did, and the HTTP calls made, as stable text.
//!
//! Values that differ between runs are replaced by placeholders numbered in order of first
//! appearance within one transcript, so the same value keeps the same placeholder: socket and
//! Engine.IO session ids (`<session:1>`, `<sid:1>`) and UUIDs (`<uuid:1>`). RFC 3339 times all
//! become `<time>`. Reconnect attempt counts depend on timing and are left out unless a
//! scenario asks for them.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::client::{Observation, Observed};
use crate::matcher::{is_rfc3339, is_uuid};

/// One HTTP exchange of a scenario.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: Value,
}

/// Everything a scenario run recorded, before rendering.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Clients in the order the scenario first connected them.
    pub clients: Vec<(String, Vec<Observation>)>,
    pub http: Vec<HttpExchange>,
    pub record_reconnect_attempts: bool,
    pub merge_transport_reasons: bool,
}

#[derive(Default)]
struct Redactor {
    seen: HashMap<(&'static str, String), usize>,
    counts: HashMap<&'static str, usize>,
    /// Socket ids seen in `connect`: a payload that carries one gets its placeholder too.
    known_ids: HashSet<String>,
}

impl Redactor {
    fn placeholder(&mut self, kind: &'static str, value: &str) -> String {
        let next = self.counts.get(kind).copied().unwrap_or(0) + 1;
        let n = *self
            .seen
            .entry((kind, value.to_owned()))
            .or_insert_with(|| {
                self.counts.insert(kind, next);
                next
            });
        format!("<{kind}:{n}>")
    }

    fn json(&mut self, value: &Value) -> Value {
        match value {
            Value::String(text) if self.known_ids.contains(text) => {
                Value::String(self.placeholder("sid", text))
            }
            Value::String(text) if is_uuid(text) => Value::String(self.placeholder("uuid", text)),
            // Times are not numbered: two stamps taken in the same millisecond are equal by
            // chance, not by identity.
            Value::String(text) if looks_like_time(text) => Value::String("<time>".to_owned()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.json(v))).collect())
            }
            other => other.clone(),
        }
    }

    fn args(&mut self, args: &[Value]) -> String {
        self.json(&Value::Array(args.to_vec())).to_string()
    }
}

fn looks_like_time(text: &str) -> bool {
    text.len() >= 20 && text.as_bytes().get(4) == Some(&b'-') && is_rfc3339(text)
}

/// Renders a recording as transcript text.
pub fn render(recording: &Recording) -> String {
    let known_ids = recording
        .clients
        .iter()
        .flat_map(|(_, observations)| observations)
        .filter_map(|o| match &o.what {
            Observed::Connect { sid, .. } => Some(sid.clone()),
            _ => None,
        })
        .collect();
    let mut redactor = Redactor {
        known_ids,
        ..Redactor::default()
    };
    let mut out = String::new();
    for (name, observations) in &recording.clients {
        let _ = writeln!(out, "client {name}");
        for observation in observations {
            if let Some(line) = line(&mut redactor, &observation.what, recording) {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    if !recording.http.is_empty() {
        let _ = writeln!(out, "http");
        for exchange in &recording.http {
            let body = redactor.json(&exchange.body);
            let _ = writeln!(
                out,
                "  {} {} -> {} {}",
                exchange.method, exchange.path, exchange.status, body
            );
        }
    }
    out
}

fn line(redactor: &mut Redactor, what: &Observed, recording: &Recording) -> Option<String> {
    let attempts = recording.record_reconnect_attempts;
    Some(match what {
        Observed::Open {
            transport,
            sid,
            ping_interval,
            ping_timeout,
            max_payload,
        } => {
            let transport = serde_json::to_value(transport).ok()?.as_str()?.to_owned();
            // Its own kind: socketioxide reuses the session id as the socket id, Node does not.
            let sid = redactor.placeholder("session", sid);
            format!(
                "open {transport} sid={sid} pingInterval={ping_interval} pingTimeout={ping_timeout} maxPayload={max_payload}"
            )
        }
        Observed::Connect { nsp, sid } => {
            format!("connect {nsp} sid={}", redactor.placeholder("sid", sid))
        }
        Observed::ConnectError { nsp, message, data } => {
            let mut payload = serde_json::json!({ "message": message });
            if let (Some(data), Some(map)) = (data, payload.as_object_mut()) {
                map.insert("data".into(), data.clone());
            }
            format!("connect_error {nsp} {}", redactor.json(&payload))
        }
        Observed::Event {
            nsp,
            event,
            args,
            ack_id,
        } => {
            format!(
                "event {nsp} {event} {}{}",
                redactor.args(args),
                ack_suffix(*ack_id)
            )
        }
        Observed::Emit {
            nsp,
            event,
            args,
            ack_id,
        } => {
            format!(
                "emit {nsp} {event} {}{}",
                redactor.args(args),
                ack_suffix(*ack_id)
            )
        }
        Observed::Ack { nsp, id, args } => format!("ack {nsp} {id} {}", redactor.args(args)),
        Observed::AckSent { nsp, id, args } => {
            format!("ack_sent {nsp} {id} {}", redactor.args(args))
        }
        Observed::AckError { nsp, id, message } => format!("ack_error {nsp} {id} {message}"),
        Observed::Disconnect { nsp, reason }
            if recording.merge_transport_reasons
                && (reason == "transport close" || reason == "transport error") =>
        {
            format!("disconnect {nsp} transport lost")
        }
        Observed::Disconnect { nsp, reason } => format!("disconnect {nsp} {reason}"),
        Observed::ReconnectAttempt { attempt } if attempts => {
            format!("reconnect_attempt {attempt}")
        }
        Observed::ReconnectError { attempt, message } if attempts => {
            format!("reconnect_error {attempt} {message}")
        }
        Observed::Reconnect { attempt } if attempts => format!("reconnect {attempt}"),
        Observed::Reconnect { .. } => "reconnect".to_owned(),
        Observed::ReconnectFailed => "reconnect_failed".to_owned(),
        Observed::ReconnectAttempt { .. }
        | Observed::ReconnectError { .. }
        | Observed::Ping
        | Observed::Pong => {
            return None;
        }
    })
}

fn ack_suffix(id: Option<u64>) -> String {
    id.map(|id| format!(" ack={id}")).unwrap_or_default()
}

/// One observation as a readable line, unredacted (failure messages).
pub fn describe(observed: &Observed) -> String {
    let everything = Recording {
        record_reconnect_attempts: true,
        ..Recording::default()
    };
    line(&mut Redactor::default(), observed, &everything).unwrap_or_else(|| format!("{observed:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn at(what: Observed) -> Observation {
        Observation {
            at: Duration::ZERO,
            what,
        }
    }

    #[test]
    fn same_values_get_the_same_placeholder() {
        let uuid = "0b9e1f3c-7d1a-4c55-9a53-0f1e2d3c4b5a";
        let recording = Recording {
            clients: vec![(
                "alice".into(),
                vec![
                    at(Observed::Connect {
                        nsp: "/".into(),
                        sid: "abc".into(),
                    }),
                    at(Observed::Event {
                        nsp: "/".into(),
                        event: "n".into(),
                        args: vec![
                            json!({"id": uuid, "at": "2026-11-25T22:34:57.123Z", "again": uuid}),
                        ],
                        ack_id: None,
                    }),
                    at(Observed::ReconnectAttempt { attempt: 1 }),
                    at(Observed::Reconnect { attempt: 3 }),
                ],
            )],
            http: vec![HttpExchange {
                method: "GET".into(),
                path: "/x".into(),
                status: 200,
                body: json!([uuid]),
            }],
            record_reconnect_attempts: false,
            merge_transport_reasons: false,
        };
        assert_eq!(
            render(&recording),
            "client alice\n  connect / sid=<sid:1>\n  event / n [{\"again\":\"<uuid:1>\",\"at\":\"<time>\",\"id\":\"<uuid:1>\"}]\n  reconnect\nhttp\n  GET /x -> 200 [\"<uuid:1>\"]\n"
        );
    }
}
