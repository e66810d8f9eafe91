//! Mutated traffic: one class of mistake per message (wrong packet types, broken JSON, bad
//! attachments, huge ids, unknown namespaces, broken polling framing, payloads around the size
//! limit, invalid UTF-8, deep nesting, random bytes), picked by weight.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng;
use serde_json::{Value, json};

use super::{CaseTransport, FrameClass, Generator, Message, Payload, bundle, single};

impl Generator {
    pub(super) fn mutated_messages(&mut self, transport: CaseTransport) -> Vec<Message> {
        let class = loop {
            let class = self.pick_mutation();
            if transport == CaseTransport::Polling || !class.polling_only() {
                break class;
            }
        };
        let max = self.max_payload;
        match class {
            FrameClass::WrongEngineType => {
                let types = ["7", "8", "9", "a", "x", "-", " ", "\u{0}", "", "é", "42"];
                let kind = types[self.rng.random_range(0..types.len())];
                let rest = if kind == "42" {
                    // "42" is fine as a whole; a leading space makes the type wrong.
                    " 42[\"subscribe:status\"]".to_owned()
                } else {
                    self.printable(0..20)
                };
                vec![single(class, Payload::Text(format!("{kind}{rest}")))]
            }
            FrameClass::WrongSocketType => {
                let types = ["7", "8", "9", "x", "-", "", " ", "10"];
                let kind = types[self.rng.random_range(0..types.len())];
                vec![single(
                    class,
                    Payload::Text(format!("4{kind}[\"subscribe:status\"]")),
                )]
            }
            FrameClass::BrokenJson => {
                let shapes = [
                    r#"42["subscribe:status""#.to_owned(),
                    r#"42["a",]"#.to_owned(),
                    r#"42{"a":1}"#.to_owned(),
                    "42[]".to_owned(),
                    "42[1,2]".to_owned(),
                    r#"42"just a string""#.to_owned(),
                    "42[null]".to_owned(),
                    "40{".to_owned(),
                    "40[1]".to_owned(),
                    r#"40"token""#.to_owned(),
                    r#"43["no id"]"#.to_owned(),
                    "421".to_owned(),
                    r#"42["a",NaN]"#.to_owned(),
                    r#"42["a","\ud800"]"#.to_owned(),
                    r#"42["a",1e999999]"#.to_owned(),
                ];
                let mut text = shapes[self.rng.random_range(0..shapes.len())].clone();
                if self.rng.random_bool(0.3) {
                    let valid = self.valid_socket_packet();
                    let cut = self.rng.random_range(2..valid.len().max(3));
                    text = valid.chars().take(cut).collect();
                }
                vec![single(class, Payload::Text(text))]
            }
            FrameClass::WrongAttachmentCount => {
                let placeholders = self.rng.random_range(0..3usize);
                let announced = [
                    "0".to_owned(),
                    (placeholders + 1).to_string(),
                    "99999999999999999999".to_owned(),
                    "-1".to_owned(),
                    "1000000".to_owned(),
                ];
                let announced = announced[self.rng.random_range(0..announced.len())].clone();
                let mut args = vec![json!("upload")];
                args.extend(
                    (0..placeholders).map(|num| json!({ "_placeholder": true, "num": num })),
                );
                let text = if self.rng.random_bool(0.2) {
                    // No dash after the count.
                    format!("45{announced}{}", Value::Array(args))
                } else {
                    format!("45{announced}-{}", Value::Array(args))
                };
                let sent = self.rng.random_range(0..3usize);
                let attachments = (0..sent).map(|_| self.bytes(0..16)).collect();
                let mut messages = Vec::new();
                self.push_with_attachments(transport, class, text, attachments, &mut messages);
                bundle(class, transport, messages)
            }
            FrameClass::MismatchedBinary => {
                let mut messages = Vec::new();
                match self.rng.random_range(0..4) {
                    0 => {
                        // Binary nobody announced.
                        let bytes = self.bytes(0..64);
                        self.push_with_attachments(
                            transport,
                            class,
                            String::new(),
                            vec![bytes],
                            &mut messages,
                        );
                        messages.retain(|m| !m.payload.is_empty());
                    }
                    1 => {
                        // A text packet in the middle of the attachments.
                        let text = r#"452-["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
                        let first = self.bytes(1..8);
                        self.push_with_attachments(
                            transport,
                            class,
                            text.to_owned(),
                            vec![first],
                            &mut messages,
                        );
                        messages.push(single(
                            class,
                            Payload::Text(r#"42["subscribe:status"]"#.to_owned()),
                        ));
                    }
                    2 => {
                        // Placeholders pointing past the attachments, or not numbers.
                        let nums = [json!(5), json!(-1), json!("0"), json!(1.5), json!(null)];
                        let num = nums[self.rng.random_range(0..nums.len())].clone();
                        let text = format!(
                            "451-{}",
                            json!(["upload", { "_placeholder": true, "num": num }])
                        );
                        let bytes = self.bytes(1..8);
                        self.push_with_attachments(
                            transport,
                            class,
                            text,
                            vec![bytes],
                            &mut messages,
                        );
                    }
                    _ => {
                        let text = if transport == CaseTransport::Polling {
                            "b!!not base64!!".to_owned()
                        } else {
                            // A binary frame where text was expected and vice versa.
                            "b".to_owned()
                        };
                        messages.push(single(class, Payload::Text(text)));
                    }
                }
                bundle(class, transport, messages)
            }
            FrameClass::HugeAckId => {
                let ids = [
                    "9007199254740992",
                    "9007199254740993",
                    "18446744073709551615",
                    "18446744073709551616",
                    "1000000000000000000000000000000",
                    "0000000000001",
                    "-1",
                ];
                let id = ids[self.rng.random_range(0..ids.len())];
                let kind = if self.rng.random_bool(0.7) { "2" } else { "3" };
                let body = if kind == "2" {
                    r#"["subscribe:status"]"#
                } else {
                    "[]"
                };
                vec![single(class, Payload::Text(format!("4{kind}{id}{body}")))]
            }
            FrameClass::UnknownNamespace => {
                let long = format!("/{}", "n".repeat(300));
                let namespaces = ["/nope", "/admin", "/", "/\u{0}", "//", long.as_str(), "/é"];
                let nsp = namespaces[self.rng.random_range(0..namespaces.len())];
                let text = match self.rng.random_range(0..4) {
                    0 => format!("40{nsp},"),
                    1 => format!(r#"40{nsp},{{"token":"x"}}"#),
                    2 => format!(r#"42{nsp},["subscribe:status"]"#),
                    // Not terminated by a comma.
                    _ => format!("40{nsp}"),
                };
                vec![single(class, Payload::Text(text))]
            }
            FrameClass::BadLengthPrefix => {
                let packet = self.valid_socket_packet();
                let text = match self.rng.random_range(0..5) {
                    0 => format!("{}:{packet}", packet.len()),
                    1 => format!("{}:{packet}", packet.len() + 7),
                    2 => format!("999999:{packet}"),
                    3 => format!("-1:{packet}"),
                    _ => ":".to_owned(),
                };
                vec![single(class, Payload::Text(text))]
            }
            FrameClass::BadSeparator => {
                let a = self.valid_socket_packet();
                let b = self.valid_socket_packet();
                let (text, records) = match self.rng.random_range(0..6) {
                    0 => ("\x1e".to_owned(), 2),
                    1 => (format!("{a}\x1e"), 2),
                    2 => (format!("\x1e\x1e{a}"), 3),
                    3 => (format!("{a}\x1f{b}"), 1),
                    4 => (format!("{a}\n{b}"), 1),
                    _ => ("\x1e".repeat(1000), 1001),
                };
                vec![Message {
                    class,
                    payload: Payload::Text(text),
                    packets: records,
                }]
            }
            FrameClass::PayloadUnderLimit => {
                let size = max.saturating_sub(self.rng.random_range(1..=64));
                vec![single(class, Payload::Text(self.sized_event(size)))]
            }
            FrameClass::PayloadOverLimit => {
                let size = max + self.rng.random_range(1..=64);
                vec![single(class, Payload::Text(self.sized_event(size)))]
            }
            FrameClass::InvalidUtf8 => {
                let bad: [&[u8]; 6] = [
                    b"\xff\xfe",
                    b"\xe2\x82",
                    b"\xc0\xaf",
                    b"\xed\xa0\x80",
                    b"\xf4\x90\x80\x80",
                    b"\x80",
                ];
                let chosen = bad[self.rng.random_range(0..bad.len())];
                let mut bytes = b"42[\"notification:read\",\"".to_vec();
                bytes.extend_from_slice(chosen);
                bytes.extend_from_slice(b"\"]");
                if self.rng.random_bool(0.2) {
                    // The type itself is not UTF-8.
                    bytes = chosen.to_vec();
                }
                vec![single(class, Payload::InvalidText(bytes))]
            }
            FrameClass::DeepNesting => {
                // As deep as fits under the limit, whatever each level costs.
                let (open, close) = if self.rng.random_bool(0.5) {
                    ("[", "]")
                } else {
                    (r#"{"a":"#, "}")
                };
                let deepest = (max.saturating_sub(64) / (open.len() + close.len())).max(2);
                let depth = self.rng.random_range(deepest / 2..=deepest);
                let text = format!(
                    r#"42["no-such-event",{}0{}]"#,
                    open.repeat(depth),
                    close.repeat(depth)
                );
                vec![single(class, Payload::Text(text))]
            }
            FrameClass::RandomBytes => {
                if transport == CaseTransport::Websocket && self.rng.random_bool(0.5) {
                    vec![single(class, Payload::Binary(self.bytes(0..256)))]
                } else {
                    vec![single(class, Payload::Text(self.printable(1..256)))]
                }
            }
            // `pick_mutation` never picks these.
            FrameClass::EngineValid | FrameClass::SocketValid => Vec::new(),
        }
    }

    /// Mutation classes, weighted so that the expensive ones (100 kB frames) stay rare.
    pub(super) fn pick_mutation(&mut self) -> FrameClass {
        const WEIGHTED: [(FrameClass, u32); 14] = [
            (FrameClass::WrongEngineType, 10),
            (FrameClass::WrongSocketType, 10),
            (FrameClass::BrokenJson, 14),
            (FrameClass::WrongAttachmentCount, 10),
            (FrameClass::MismatchedBinary, 10),
            (FrameClass::HugeAckId, 8),
            (FrameClass::UnknownNamespace, 10),
            (FrameClass::BadLengthPrefix, 6),
            (FrameClass::BadSeparator, 6),
            (FrameClass::PayloadUnderLimit, 1),
            (FrameClass::PayloadOverLimit, 1),
            (FrameClass::InvalidUtf8, 8),
            (FrameClass::DeepNesting, 1),
            (FrameClass::RandomBytes, 6),
        ];
        let total: u32 = WEIGHTED.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.random_range(0..total);
        for (class, weight) in WEIGHTED {
            if pick < weight {
                return class;
            }
            pick -= weight;
        }
        FrameClass::RandomBytes
    }

    /// A binary event (`text`, unless empty) and its attachments: separate websocket frames, or
    /// one polling body with the attachments as `b<base64>` records.
    pub(super) fn push_with_attachments(
        &mut self,
        transport: CaseTransport,
        class: FrameClass,
        text: String,
        attachments: Vec<Vec<u8>>,
        into: &mut Vec<Message>,
    ) {
        match transport {
            CaseTransport::Websocket => {
                if !text.is_empty() {
                    into.push(single(class, Payload::Text(text)));
                }
                into.extend(
                    attachments
                        .into_iter()
                        .map(|bytes| single(class, Payload::Binary(bytes))),
                );
            }
            CaseTransport::Polling => {
                let mut records: Vec<String> = Vec::new();
                if !text.is_empty() {
                    records.push(text);
                }
                records.extend(attachments.iter().map(|b| format!("b{}", BASE64.encode(b))));
                into.push(Message {
                    class,
                    packets: records.len() as u64,
                    payload: Payload::Text(records.join("\x1e")),
                });
            }
        }
    }
}
