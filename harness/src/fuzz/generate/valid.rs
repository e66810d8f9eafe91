//! Valid traffic: every Engine.IO and Socket.IO packet type, the seed's events with real and
//! made-up arguments, binary events with their attachments.

use rand::Rng;
use serde_json::{Value, json};

use super::{CaseTransport, FrameClass, Generator, Message, Payload, single};

impl Generator {
    /// Pushes one valid message (a binary event is several: the event, then its attachments).
    pub(super) fn valid_message(&mut self, transport: CaseTransport, into: &mut Vec<Message>) {
        // A client's pong keeps a session; the other Engine.IO types may end it (above).
        let engine_only = ["3"];
        if self.rng.random_bool(0.1) {
            let text = engine_only[self.rng.random_range(0..engine_only.len())];
            into.push(single(
                FrameClass::EngineValid,
                Payload::Text(text.to_owned()),
            ));
            return;
        }
        if self.rng.random_bool(0.1) {
            // A binary event with its attachments: 45<n>-[...] then n binary frames.
            let count = self.rng.random_range(1..=3usize);
            let placeholders: Vec<Value> = (0..count)
                .map(|num| json!({ "_placeholder": true, "num": num }))
                .collect();
            let binary_event = self.rng.random_bool(0.8);
            // An event may ask for an ack; a binary ack always names the one it answers.
            let ack = if !binary_event || self.rng.random_bool(0.3) {
                format!("{}", self.rng.random_range(0..1000u32))
            } else {
                String::new()
            };
            let (kind, body) = if binary_event {
                let mut args = vec![json!("upload")];
                args.extend(placeholders);
                ("5", Value::Array(args))
            } else {
                ("6", Value::Array(placeholders))
            };
            let text = format!("4{kind}{count}-{ack}{body}");
            let attachments: Vec<Vec<u8>> = (0..count).map(|_| self.bytes(0..64)).collect();
            self.push_with_attachments(transport, FrameClass::SocketValid, text, attachments, into);
            return;
        }
        let text = self.valid_socket_packet();
        into.push(single(FrameClass::SocketValid, Payload::Text(text)));
    }

    /// A text Socket.IO packet of a type a client may send, or the server-only ones.
    pub(super) fn valid_socket_packet(&mut self) -> String {
        match self.rng.random_range(0..100) {
            0..=3 => "40".to_owned(),
            4..=5 => r#"40{"token":"not-a-jwt"}"#.to_owned(),
            6..=9 => format!("43{}{}", self.rng.random_range(0..100u32), self.args(2)),
            _ => {
                let events = [
                    "subscribe:status",
                    "unsubscribe:status",
                    "subscribe:notifications",
                    "notification:read",
                    "admin:refresh-status",
                    "no-such-event",
                ];
                let event = events[self.rng.random_range(0..events.len())];
                let mut args = vec![json!(event)];
                if event == "notification:read" {
                    let ids = [
                        json!("n-alice-1"),
                        json!("n-bob-1"),
                        json!("missing"),
                        json!(""),
                        json!(42),
                        json!(null),
                        json!({ "id": "n-alice-1" }),
                        json!("x".repeat(129)),
                    ];
                    args.push(ids[self.rng.random_range(0..ids.len())].clone());
                } else if let Value::Array(extra) = self.args(3) {
                    args.extend(extra);
                }
                let ack = if self.rng.random_bool(0.2) {
                    self.rng.random_range(0..10_000u32).to_string()
                } else {
                    String::new()
                };
                format!("42{ack}{}", Value::Array(args))
            }
        }
    }
}
