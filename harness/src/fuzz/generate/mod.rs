//! Frame generation: a seeded, pure function from (seed, frame budget) to a sequence of
//! [`Case`]s, each one short connection's worth of messages. Nothing here touches the network,
//! so the same seed gives the same frames on any machine with the same build, and a failure can
//! be replayed from its seed and case number alone.
//!
//! The first fifth of the budget is valid traffic only (every Engine.IO and Socket.IO packet
//! type, the seed's events with real and made-up arguments), so a server that cannot take valid
//! input fails early and plainly. The rest mixes a few valid messages with one to three mutated
//! ones at the end of each connection, where the server is most likely to drop it.
//!
//! This file holds the cases' types and the generator's loop; [`valid`] writes valid messages,
//! [`mutate`] mutated ones, [`values`] the random values both carry.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

mod mutate;
mod valid;
mod values;

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
