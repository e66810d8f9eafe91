//! Frame generation: a seeded, pure function from (seed, frame budget) to a sequence of
//! [`Case`]s, each one short connection's worth of messages. Nothing here touches the network,
//! so the same seed gives the same frames on any machine with the same build, and a failure can
//! be replayed from its seed and case number alone.
//!
//! The first fifth of the budget is valid traffic only (every Engine.IO and Socket.IO packet
//! type, the seed's events with real and made-up arguments), so a server that cannot take valid
//! input fails early and plainly. The rest mixes a few valid messages with one to three mutated
//! ones at the end of each connection, where the server is most likely to drop it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

/// The largest Engine.IO packet both servers accept (docs/protocol.md).
pub const DEFAULT_MAX_PAYLOAD: usize = 100_000;

/// Well-formed packets a server may answer by ending the session: a client's close, ping (the
/// Node server calls it "invalid heartbeat direction"), noop, probe or upgrade out of turn, an
/// `open` or `connect_error` sent the wrong way, leaving `/`.
pub const SESSION_ENDING: [&str; 9] = [
    "1",
    "2",
    "5",
    "6",
    "2probe",
    "3probe",
    r#"0{"sid":"x"}"#,
    "41",
    r#"44{"message":"x"}"#,
];

/// The share of the budget spent on valid traffic before mutations start.
const VALID_PHASE_DIVISOR: u64 = 5;

/// What a message is meant to exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FrameClass {
    /// A well-formed Engine.IO packet that is not a Socket.IO message (ping, pong, noop, upgrade,
    /// close, and an `open` sent the wrong way).
    EngineValid,
    /// A well-formed Socket.IO packet of any type, binary attachments included.
    SocketValid,
    /// An Engine.IO type that does not exist, or an empty frame.
    WrongEngineType,
    /// A Socket.IO type that does not exist, or a message with no type.
    WrongSocketType,
    /// Truncated, unbalanced or wrongly shaped JSON.
    BrokenJson,
    /// An attachment count that does not match the placeholders or the binary frames sent.
    WrongAttachmentCount,
    /// Binary frames nobody announced, placeholders pointing nowhere, bad base64 over polling.
    MismatchedBinary,
    /// Ack ids past 2^53, past 2^64, with leading zeros.
    HugeAckId,
    /// Namespaces that do not exist or are not terminated.
    UnknownNamespace,
    /// Polling only: EIO3-style `length:` prefixes with wrong lengths.
    BadLengthPrefix,
    /// Polling only: empty records, stray and doubled separators, wrong separator bytes.
    BadSeparator,
    /// A packet (or polling body) a few bytes under the server's limit.
    PayloadUnderLimit,
    /// A packet (or polling body) a few bytes over the server's limit.
    PayloadOverLimit,
    /// Text that is not UTF-8: truncated sequences, overlong forms, encoded surrogates.
    InvalidUtf8,
    /// Arrays nested thousands deep inside an event.
    DeepNesting,
    /// Random bytes in a binary frame, random printable text in a text frame.
    RandomBytes,
}

impl FrameClass {
    pub const ALL: [FrameClass; 16] = [
        FrameClass::EngineValid,
        FrameClass::SocketValid,
        FrameClass::WrongEngineType,
        FrameClass::WrongSocketType,
        FrameClass::BrokenJson,
        FrameClass::WrongAttachmentCount,
        FrameClass::MismatchedBinary,
        FrameClass::HugeAckId,
        FrameClass::UnknownNamespace,
        FrameClass::BadLengthPrefix,
        FrameClass::BadSeparator,
        FrameClass::PayloadUnderLimit,
        FrameClass::PayloadOverLimit,
        FrameClass::InvalidUtf8,
        FrameClass::DeepNesting,
        FrameClass::RandomBytes,
    ];

    pub fn is_valid(self) -> bool {
        matches!(self, FrameClass::EngineValid | FrameClass::SocketValid)
    }

    /// Mutations that only make sense in a long-polling body.
    fn polling_only(self) -> bool {
        matches!(self, FrameClass::BadLengthPrefix | FrameClass::BadSeparator)
    }
}

/// How a case reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseTransport {
    Websocket,
    Polling,
}

/// What a case does between the Engine.IO handshake and its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectPlan {
    /// Connects `/` with a valid token and waits for the answer first.
    Authenticated,
    /// Sends its messages on a bare Engine.IO session, no Socket.IO connect.
    EngineOnly,
    /// Connects `/` with a token that is not a JWT (refused) and goes on regardless.
    BadToken,
}

/// What one message carries: a websocket frame, or a whole long-polling request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Text(String),
    /// Bytes sent as a text frame (or a polling body) without being valid UTF-8.
    InvalidText(Vec<u8>),
    /// A binary websocket frame; over polling, a binary body.
    Binary(Vec<u8>),
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::InvalidText(bytes) | Payload::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Message {
    /// A valid packet that may end the session (see [`SESSION_ENDING`]).
    pub fn ends_session(&self) -> bool {
        matches!(&self.payload, Payload::Text(text) if SESSION_ENDING.contains(&text.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub class: FrameClass,
    pub payload: Payload,
    /// Engine.IO packets in it: 1 for a websocket frame, the records of a polling body.
    pub packets: u64,
}

/// One short connection and everything sent on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Position in the seed's sequence, from 0.
    pub index: u64,
    pub transport: CaseTransport,
    pub connect: ConnectPlan,
    /// Which of the run's users signs this case in (an index into its token list).
    pub user: usize,
    pub messages: Vec<Message>,
}

impl Case {
    /// Engine.IO packets this case sends, the Socket.IO connect included.
    pub fn frames(&self) -> u64 {
        let connect = u64::from(self.connect != ConnectPlan::EngineOnly);
        connect + self.messages.iter().map(|m| m.packets).sum::<u64>()
    }
}

/// The seed's cases, until `budget` frames have been generated.
pub struct Generator {
    rng: StdRng,
    budget: u64,
    generated: u64,
    next_index: u64,
    max_payload: usize,
    users: usize,
}

impl Generator {
    /// Cases for `seed` worth `budget` frames, against a server whose largest packet is
    /// `max_payload` bytes, signed in as one of `users` users.
    pub fn new(seed: u64, budget: u64, max_payload: usize, users: usize) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            budget,
            generated: 0,
            next_index: 0,
            max_payload,
            users: users.max(1),
        }
    }

    fn valid_phase(&self) -> bool {
        self.generated < self.budget / VALID_PHASE_DIVISOR
    }

    fn case(&mut self) -> Case {
        let transport = if self.rng.random_bool(0.6) {
            CaseTransport::Websocket
        } else {
            CaseTransport::Polling
        };
        let connect = match self.rng.random_range(0..10) {
            0 => ConnectPlan::EngineOnly,
            1 => ConnectPlan::BadToken,
            _ => ConnectPlan::Authenticated,
        };
        let user = self.rng.random_range(0..self.users);
        let mut messages = Vec::new();
        let valid_count = if self.valid_phase() {
            self.rng.random_range(5..40)
        } else {
            self.rng.random_range(2..20)
        };
        for _ in 0..valid_count {
            self.valid_message(transport, &mut messages);
        }
        if self.valid_phase() {
            // Valid packets a server may answer by ending the session go last, so the rest of
            // the case is still heard.
            if self.rng.random_bool(0.5) {
                let closing = SESSION_ENDING;
                let text = closing[self.rng.random_range(0..closing.len())];
                let class = if text.starts_with('4') {
                    FrameClass::SocketValid
                } else {
                    FrameClass::EngineValid
                };
                messages.push(single(class, Payload::Text(text.to_owned())));
            }
        } else {
            for _ in 0..self.rng.random_range(1..=3) {
                let mutated = self.mutated_messages(transport);
                messages.extend(mutated);
            }
        }
        let index = self.next_index;
        self.next_index += 1;
        let case = Case {
            index,
            transport,
            connect,
            user,
            messages,
        };
        self.generated += case.frames();
        case
    }

    /// Pushes one valid message (a binary event is several: the event, then its attachments).
    fn valid_message(&mut self, transport: CaseTransport, into: &mut Vec<Message>) {
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
    fn valid_socket_packet(&mut self) -> String {
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

    fn mutated_messages(&mut self, transport: CaseTransport) -> Vec<Message> {
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
    fn pick_mutation(&mut self) -> FrameClass {
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
    fn push_with_attachments(
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

    /// `42["notification:read","xxx…"]` of exactly `size` bytes (as an Engine.IO packet: with
    /// its leading `4`).
    fn sized_event(&mut self, size: usize) -> String {
        let frame = r#"42["notification:read",""]"#;
        let filler = ["x", "é", "\\\"", "0"][self.rng.random_range(0..4)];
        let room = size.saturating_sub(frame.len());
        let mut fill = filler.repeat(room / filler.len());
        fill.push_str(&"x".repeat(room - fill.len()));
        format!(r#"42["notification:read","{fill}"]"#)
    }

    fn args(&mut self, max: usize) -> Value {
        let count = self.rng.random_range(0..=max);
        Value::Array((0..count).map(|_| self.json_value(2)).collect())
    }

    fn json_value(&mut self, depth: u32) -> Value {
        match self.rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.rng.random_bool(0.5)),
            2 => json!(self.rng.random_range(-1_000_000i64..1_000_000)),
            3 => json!(self.rng.random::<f64>() * 1e6),
            4 => Value::String(self.unicode(0..24)),
            5 => Value::Array(
                (0..self.rng.random_range(0..4))
                    .map(|_| self.json_value(depth - 1))
                    .collect(),
            ),
            _ => {
                let mut object = serde_json::Map::new();
                for _ in 0..self.rng.random_range(0..4) {
                    object.insert(self.unicode(1..8), self.json_value(depth - 1));
                }
                Value::Object(object)
            }
        }
    }

    /// Any characters, controls and astral planes included.
    fn unicode(&mut self, length: std::ops::Range<usize>) -> String {
        let n = self.rng.random_range(length);
        (0..n)
            .map(|_| match self.rng.random_range(0..4) {
                0 => char::from(self.rng.random_range(0..0x80u8)),
                1 => char::from_u32(self.rng.random_range(0x80..0xD800)).unwrap_or('?'),
                2 => char::from_u32(self.rng.random_range(0x1_0000..0x11_0000)).unwrap_or('?'),
                _ => char::from(self.rng.random_range(b'a'..=b'z')),
            })
            .collect()
    }

    fn printable(&mut self, length: std::ops::Range<usize>) -> String {
        let n = self.rng.random_range(length);
        (0..n)
            .map(|_| char::from(self.rng.random_range(0x20..0x7fu8)))
            .collect()
    }

    fn bytes(&mut self, length: std::ops::Range<usize>) -> Vec<u8> {
        let n = self.rng.random_range(length);
        (0..n).map(|_| self.rng.random()).collect()
    }
}

impl Iterator for Generator {
    type Item = Case;

    fn next(&mut self) -> Option<Case> {
        (self.generated < self.budget).then(|| self.case())
    }
}

fn single(class: FrameClass, payload: Payload) -> Message {
    Message {
        class,
        payload,
        packets: 1,
    }
}

/// A mutation of several packets: separate websocket frames, or one polling body (records
/// joined by the separator, as a client batches them).
fn bundle(class: FrameClass, transport: CaseTransport, messages: Vec<Message>) -> Vec<Message> {
    if transport == CaseTransport::Websocket || messages.len() < 2 {
        return messages;
    }
    let packets = messages.iter().map(|m| m.packets).sum();
    let text = messages
        .into_iter()
        .map(|m| match m.payload {
            Payload::Text(text) => text,
            Payload::InvalidText(bytes) | Payload::Binary(bytes) => {
                String::from_utf8_lossy(&bytes).into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\x1e");
    vec![Message {
        class,
        payload: Payload::Text(text),
        packets,
    }]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn cases(seed: u64, budget: u64) -> Vec<Case> {
        Generator::new(seed, budget, DEFAULT_MAX_PAYLOAD, 50).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_frames() {
        assert_eq!(cases(7, 5_000), cases(7, 5_000));
        assert_ne!(cases(7, 5_000), cases(8, 5_000));
    }

    #[test]
    fn the_budget_is_spent_and_not_much_more() {
        let generated: u64 = cases(1, 20_000).iter().map(Case::frames).sum();
        assert!((20_000..22_000).contains(&generated), "{generated}");
    }

    #[test]
    fn every_class_appears_on_its_transports() {
        let all = cases(3, 30_000);
        let seen: BTreeSet<FrameClass> = all
            .iter()
            .flat_map(|c| c.messages.iter().map(|m| m.class))
            .collect();
        assert_eq!(seen, FrameClass::ALL.into_iter().collect());
        for transport in [CaseTransport::Websocket, CaseTransport::Polling] {
            let on: BTreeSet<FrameClass> = all
                .iter()
                .filter(|c| c.transport == transport)
                .flat_map(|c| c.messages.iter().map(|m| m.class))
                .collect();
            let expected = FrameClass::ALL
                .into_iter()
                .filter(|c| transport == CaseTransport::Polling || !c.polling_only())
                .collect::<BTreeSet<_>>();
            assert_eq!(on, expected, "{transport:?}");
        }
    }

    #[test]
    fn valid_traffic_covers_every_packet_type() {
        let all = cases(5, 30_000);
        let valid_texts: Vec<&str> = all
            .iter()
            .flat_map(|c| &c.messages)
            .filter(|m| m.class.is_valid())
            .filter_map(|m| match &m.payload {
                Payload::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .flat_map(|text| text.split('\x1e'))
            .collect();
        for engine in ['0', '1', '2', '3', '4', '5', '6', 'b'] {
            assert!(
                valid_texts.iter().any(|t| t.starts_with(engine)),
                "engine type {engine}"
            );
        }
        for socket in ['0', '1', '2', '3', '4', '5', '6'] {
            let prefix = format!("4{socket}");
            assert!(
                valid_texts.iter().any(|t| t.starts_with(&prefix)),
                "socket type {socket}"
            );
        }
        let binary_frames = all
            .iter()
            .flat_map(|c| &c.messages)
            .filter(|m| m.class.is_valid() && matches!(m.payload, Payload::Binary(_)))
            .count();
        assert!(binary_frames > 0);
    }

    #[test]
    fn limit_payloads_straddle_the_limit() {
        let all = cases(11, 60_000);
        let sizes = |class: FrameClass| -> Vec<usize> {
            all.iter()
                .flat_map(|c| &c.messages)
                .filter(|m| m.class == class)
                .map(|m| m.payload.len())
                .collect()
        };
        let under = sizes(FrameClass::PayloadUnderLimit);
        let over = sizes(FrameClass::PayloadOverLimit);
        assert!(!under.is_empty() && !over.is_empty());
        assert!(
            under
                .iter()
                .all(|n| (DEFAULT_MAX_PAYLOAD - 64..DEFAULT_MAX_PAYLOAD).contains(n))
        );
        assert!(
            over.iter()
                .all(|n| (DEFAULT_MAX_PAYLOAD + 1..=DEFAULT_MAX_PAYLOAD + 64).contains(n))
        );
        let deep = sizes(FrameClass::DeepNesting);
        assert!(deep.iter().all(|&n| n < DEFAULT_MAX_PAYLOAD));
    }

    #[test]
    fn invalid_utf8_is_invalid() {
        let all = cases(13, 30_000);
        let invalid: Vec<&Vec<u8>> = all
            .iter()
            .flat_map(|c| &c.messages)
            .filter_map(|m| match &m.payload {
                Payload::InvalidText(bytes) => Some(bytes),
                _ => None,
            })
            .collect();
        assert!(!invalid.is_empty());
        assert!(invalid.iter().all(|b| std::str::from_utf8(b).is_err()));
    }
}
