//! Socket.IO v5 packets: `<type>[<attachments>-][/nsp,][ackId][json]`, with binary attachments
//! carried by separate Engine.IO messages and referenced by `{"_placeholder":true,"num":k}`.
//!
//! Binary data appears to users of this crate as `{"$binary": "<base64>"}` inside arguments:
//! [`Packet::event`] turns those into placeholders and attachments, [`Packet::resolved_data`]
//! turns them back, so transcripts and scenario files stay plain JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::CodecError;

/// The key that marks binary data in JSON arguments.
pub const BINARY_KEY: &str = "$binary";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

impl PacketKind {
    fn digit(self) -> char {
        match self {
            PacketKind::Connect => '0',
            PacketKind::Disconnect => '1',
            PacketKind::Event => '2',
            PacketKind::Ack => '3',
            PacketKind::ConnectError => '4',
            PacketKind::BinaryEvent => '5',
            PacketKind::BinaryAck => '6',
        }
    }

    fn from_digit(c: char) -> Result<Self, CodecError> {
        Ok(match c {
            '0' => PacketKind::Connect,
            '1' => PacketKind::Disconnect,
            '2' => PacketKind::Event,
            '3' => PacketKind::Ack,
            '4' => PacketKind::ConnectError,
            '5' => PacketKind::BinaryEvent,
            '6' => PacketKind::BinaryAck,
            other => return Err(CodecError::UnknownType(other)),
        })
    }

    pub fn is_binary(self) -> bool {
        matches!(self, PacketKind::BinaryEvent | PacketKind::BinaryAck)
    }
}

/// One Socket.IO packet with its attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub kind: PacketKind,
    pub nsp: String,
    pub id: Option<u64>,
    pub data: Option<Value>,
    pub attachments: Vec<Vec<u8>>,
}

impl Packet {
    pub fn connect(nsp: &str, auth: Option<Value>) -> Self {
        Self::plain(PacketKind::Connect, nsp, None, auth)
    }

    pub fn disconnect(nsp: &str) -> Self {
        Self::plain(PacketKind::Disconnect, nsp, None, None)
    }

    fn plain(kind: PacketKind, nsp: &str, id: Option<u64>, data: Option<Value>) -> Self {
        Self {
            kind,
            nsp: nsp.to_owned(),
            id,
            data,
            attachments: Vec::new(),
        }
    }

    /// An event `[name, ...args]`; `{"$binary": ..}` values in `args` become attachments.
    pub fn event(
        nsp: &str,
        name: &str,
        args: &[Value],
        id: Option<u64>,
    ) -> Result<Self, CodecError> {
        let mut items = Vec::with_capacity(args.len() + 1);
        items.push(Value::String(name.to_owned()));
        items.extend(args.iter().cloned());
        Self::with_binary(
            PacketKind::Event,
            PacketKind::BinaryEvent,
            nsp,
            id,
            Value::Array(items),
        )
    }

    /// An acknowledgement of the server's packet `id`.
    pub fn ack(nsp: &str, id: u64, args: &[Value]) -> Result<Self, CodecError> {
        Self::with_binary(
            PacketKind::Ack,
            PacketKind::BinaryAck,
            nsp,
            Some(id),
            Value::Array(args.to_vec()),
        )
    }

    fn with_binary(
        plain: PacketKind,
        binary: PacketKind,
        nsp: &str,
        id: Option<u64>,
        mut data: Value,
    ) -> Result<Self, CodecError> {
        let mut attachments = Vec::new();
        extract_binary(&mut data, &mut attachments)?;
        let kind = if attachments.is_empty() {
            plain
        } else {
            binary
        };
        Ok(Self {
            kind,
            nsp: nsp.to_owned(),
            id,
            data: Some(data),
            attachments,
        })
    }

    /// The data with placeholders replaced by `{"$binary": "<base64>"}`.
    pub fn resolved_data(&self) -> Option<Value> {
        let mut data = self.data.clone()?;
        if !self.attachments.is_empty() {
            insert_binary(&mut data, &self.attachments);
        }
        Some(data)
    }

    /// The header text; attachments follow as separate binary messages.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        out.push(self.kind.digit());
        if self.kind.is_binary() {
            out.push_str(&self.attachments.len().to_string());
            out.push('-');
        }
        if self.nsp != "/" && !self.nsp.is_empty() {
            out.push_str(&self.nsp);
            out.push(',');
        }
        if let Some(id) = self.id {
            out.push_str(&id.to_string());
        }
        if let Some(data) = &self.data {
            out.push_str(&data.to_string());
        }
        out
    }

    /// Decodes a header; the packet still needs the returned number of attachments.
    pub fn decode_header(text: &str) -> Result<(Self, usize), CodecError> {
        let mut rest = text;
        let kind = PacketKind::from_digit(take_char(&mut rest).ok_or(CodecError::Empty)?)?;
        let mut expected = 0;
        if kind.is_binary() {
            let (count, after) = rest.split_once('-').ok_or(CodecError::Attachments)?;
            if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CodecError::Attachments);
            }
            expected = count.parse().map_err(|_| CodecError::Attachments)?;
            rest = after;
        }
        let mut nsp = "/".to_owned();
        if rest.starts_with('/') {
            // Lenient like the reference parser: a namespace may end the packet without ','.
            let (name, after) = rest.split_once(',').unwrap_or((rest, ""));
            nsp = name.to_owned();
            rest = after;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = if digits > 0 {
            Some(rest[..digits].parse().map_err(|_| CodecError::AckId)?)
        } else {
            None
        };
        rest = &rest[digits..];
        let data = if rest.is_empty() {
            None
        } else {
            Some(serde_json::from_str::<Value>(rest).map_err(|e| CodecError::Json(e.to_string()))?)
        };
        validate_payload(kind, data.as_ref())?;
        Ok((
            Self {
                kind,
                nsp,
                id,
                data,
                attachments: Vec::new(),
            },
            expected,
        ))
    }

    /// The event name and arguments of an event packet.
    pub fn event_parts(&self) -> Option<(String, Vec<Value>)> {
        match self.resolved_data()? {
            Value::Array(mut items) if !items.is_empty() => {
                let name = match items.remove(0) {
                    Value::String(name) => name,
                    other => other.to_string(),
                };
                Some((name, items))
            }
            _ => None,
        }
    }
}

fn take_char(rest: &mut &str) -> Option<char> {
    let mut chars = rest.chars();
    let c = chars.next()?;
    *rest = chars.as_str();
    Some(c)
}

fn validate_payload(kind: PacketKind, data: Option<&Value>) -> Result<(), CodecError> {
    let valid = match kind {
        PacketKind::Connect => matches!(data, None | Some(Value::Object(_))),
        PacketKind::Disconnect => data.is_none(),
        PacketKind::ConnectError => matches!(data, Some(Value::Object(_) | Value::String(_))),
        PacketKind::Event | PacketKind::BinaryEvent => matches!(
            data,
            Some(Value::Array(items)) if matches!(items.first(), Some(Value::String(_) | Value::Number(_)))
        ),
        PacketKind::Ack | PacketKind::BinaryAck => matches!(data, Some(Value::Array(_))),
    };
    if valid {
        Ok(())
    } else {
        Err(CodecError::Payload(match kind {
            PacketKind::Connect => "CONNECT takes an object or nothing",
            PacketKind::Disconnect => "DISCONNECT takes no payload",
            PacketKind::ConnectError => "CONNECT_ERROR takes an object or a string",
            PacketKind::Event | PacketKind::BinaryEvent => "EVENT takes [name, ...args]",
            PacketKind::Ack | PacketKind::BinaryAck => "ACK takes an array",
        }))
    }
}

fn extract_binary(value: &mut Value, attachments: &mut Vec<Vec<u8>>) -> Result<(), CodecError> {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key(BINARY_KEY) => {
            let encoded = map
                .get(BINARY_KEY)
                .and_then(Value::as_str)
                .unwrap_or_default();
            let bytes = BASE64
                .decode(encoded)
                .map_err(|e| CodecError::Base64(e.to_string()))?;
            *value = json!({ "_placeholder": true, "num": attachments.len() });
            attachments.push(bytes);
            Ok(())
        }
        Value::Object(map) => map
            .values_mut()
            .try_for_each(|v| extract_binary(v, attachments)),
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|v| extract_binary(v, attachments)),
        _ => Ok(()),
    }
}

fn insert_binary(value: &mut Value, attachments: &[Vec<u8>]) {
    match value {
        Value::Object(map) if is_placeholder(map) => {
            let index = map.get("num").and_then(Value::as_u64).unwrap_or(u64::MAX);
            if let Some(bytes) = usize::try_from(index).ok().and_then(|i| attachments.get(i)) {
                *value = json!({ BINARY_KEY: BASE64.encode(bytes) });
            }
        }
        Value::Object(map) => map.values_mut().for_each(|v| insert_binary(v, attachments)),
        Value::Array(items) => items.iter_mut().for_each(|v| insert_binary(v, attachments)),
        _ => {}
    }
}

fn is_placeholder(map: &Map<String, Value>) -> bool {
    map.get("_placeholder") == Some(&Value::Bool(true)) && map.get("num").is_some_and(Value::is_u64)
}

/// Reassembles binary packets from a header and the binary messages that follow it.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: Option<(Packet, usize)>,
}

impl Assembler {
    /// Feeds a text message; returns a packet when it needs no attachments.
    pub fn text(&mut self, text: &str) -> Result<Option<Packet>, CodecError> {
        let (packet, expected) = Packet::decode_header(text)?;
        if expected == 0 {
            self.pending = None;
            Ok(Some(packet))
        } else {
            self.pending = Some((packet, expected));
            Ok(None)
        }
    }

    /// Feeds a binary message; returns the packet once its last attachment arrived.
    pub fn binary(&mut self, bytes: Vec<u8>) -> Result<Option<Packet>, CodecError> {
        let (mut packet, expected) = self.pending.take().ok_or(CodecError::UnexpectedBinary)?;
        packet.attachments.push(bytes);
        if packet.attachments.len() == expected {
            Ok(Some(packet))
        } else {
            self.pending = Some((packet, expected));
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Packet {
        Packet::decode_header(text).expect("decodes").0
    }

    #[test]
    fn protocol_document_examples() {
        assert_eq!(decode("0"), Packet::connect("/", None));
        assert_eq!(
            decode("0/admin,{\"token\":\"123\"}"),
            Packet::connect("/admin", Some(json!({"token": "123"})))
        );
        assert_eq!(decode("1/admin,"), Packet::disconnect("/admin"));
        let event = decode("2[\"hello\",1]");
        assert_eq!(event.event_parts(), Some(("hello".into(), vec![json!(1)])));
        let with_ack = decode("2/admin,456[\"project:delete\",123]");
        assert_eq!((with_ack.nsp.as_str(), with_ack.id), ("/admin", Some(456)));
        assert_eq!(decode("3/admin,456[]").kind, PacketKind::Ack);
        assert_eq!(
            decode("4{\"message\":\"Not authorized\"}").kind,
            PacketKind::ConnectError
        );
    }

    #[test]
    fn binary_event_round_trip() {
        let header = "51-[\"hello\",{\"_placeholder\":true,\"num\":0}]";
        assert_eq!(Packet::decode_header(header).map(|(_, n)| n), Ok(1));
        let mut assembler = Assembler::default();
        assert_eq!(assembler.text(header), Ok(None));
        let packet = assembler
            .binary(vec![1, 2, 3])
            .expect("ok")
            .expect("complete");
        assert_eq!(
            packet.event_parts(),
            Some(("hello".into(), vec![json!({"$binary": "AQID"})]))
        );
        let rebuilt =
            Packet::event("/", "hello", &[json!({"$binary": "AQID"})], None).expect("encodes");
        assert_eq!(rebuilt, packet);
    }

    #[test]
    fn invalid_packets_are_typed_errors() {
        assert_eq!(Packet::decode_header(""), Err(CodecError::Empty));
        assert_eq!(
            Packet::decode_header("7"),
            Err(CodecError::UnknownType('7'))
        );
        assert_eq!(
            Packet::decode_header("5x-[\"a\"]"),
            Err(CodecError::Attachments)
        );
        assert!(matches!(
            Packet::decode_header("2[\"a\""),
            Err(CodecError::Json(_))
        ));
        assert!(matches!(
            Packet::decode_header("2{}"),
            Err(CodecError::Payload(_))
        ));
        assert!(matches!(
            Packet::decode_header("299999999999999999999999[\"a\"]"),
            Err(CodecError::AckId)
        ));
        assert_eq!(
            Assembler::default().binary(vec![1]),
            Err(CodecError::UnexpectedBinary)
        );
    }
}
