//! Engine.IO v4: packet types `0`–`6`, the open handshake, and long-polling payloads (packets
//! joined by `\x1e`, binary as `b` + base64).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::CodecError;

const RECORD_SEPARATOR: char = '\x1e';

/// The server's `open` packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    pub sid: String,
    #[serde(default)]
    pub upgrades: Vec<String>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    #[serde(default = "default_max_payload")]
    pub max_payload: u64,
}

fn default_max_payload() -> u64 {
    1_000_000
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket {
    Open(Handshake),
    Close,
    /// A ping; servers send an empty one, the upgrade probe carries `probe`.
    Ping(String),
    Pong(String),
    Message(String),
    Binary(Vec<u8>),
    Upgrade,
    Noop,
}

/// A websocket frame's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

impl EnginePacket {
    /// The packet as one websocket frame (binary messages travel raw in a binary frame).
    pub fn to_frame(&self) -> Frame {
        match self {
            EnginePacket::Binary(bytes) => Frame::Binary(bytes.clone()),
            other => Frame::Text(other.encode_text()),
        }
    }

    /// The packet as text; binary becomes `b` + base64, as in polling payloads.
    pub fn encode_text(&self) -> String {
        match self {
            EnginePacket::Open(handshake) => {
                // Serialising a plain struct of strings and integers cannot fail.
                format!("0{}", serde_json::to_string(handshake).unwrap_or_default())
            }
            EnginePacket::Close => "1".to_owned(),
            EnginePacket::Ping(data) => format!("2{data}"),
            EnginePacket::Pong(data) => format!("3{data}"),
            EnginePacket::Message(text) => format!("4{text}"),
            EnginePacket::Binary(bytes) => format!("b{}", BASE64.encode(bytes)),
            EnginePacket::Upgrade => "5".to_owned(),
            EnginePacket::Noop => "6".to_owned(),
        }
    }

    /// Decodes one text packet (a websocket text frame, or one record of a polling payload).
    pub fn decode_text(text: &str) -> Result<Self, CodecError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(CodecError::Empty)?;
        let rest = chars.as_str();
        Ok(match kind {
            '0' => EnginePacket::Open(
                serde_json::from_str(rest).map_err(|e| CodecError::Handshake(e.to_string()))?,
            ),
            '1' => EnginePacket::Close,
            '2' => EnginePacket::Ping(rest.to_owned()),
            '3' => EnginePacket::Pong(rest.to_owned()),
            '4' => EnginePacket::Message(rest.to_owned()),
            '5' => EnginePacket::Upgrade,
            '6' => EnginePacket::Noop,
            'b' => EnginePacket::Binary(
                BASE64
                    .decode(rest)
                    .map_err(|e| CodecError::Base64(e.to_string()))?,
            ),
            other => return Err(CodecError::UnknownType(other)),
        })
    }

    /// Decodes a websocket frame.
    pub fn decode_frame(frame: Frame) -> Result<Self, CodecError> {
        match frame {
            Frame::Text(text) => Self::decode_text(&text),
            Frame::Binary(bytes) => Ok(EnginePacket::Binary(bytes)),
        }
    }
}

/// Joins packets into one long-polling request body.
pub fn encode_payload(packets: &[EnginePacket]) -> String {
    let mut body = String::new();
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            body.push(RECORD_SEPARATOR);
        }
        body.push_str(&packet.encode_text());
    }
    body
}

/// Splits a long-polling response body into packets.
pub fn decode_payload(body: &str) -> Result<Vec<EnginePacket>, CodecError> {
    body.split(RECORD_SEPARATOR)
        .map(EnginePacket::decode_text)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_document_examples() {
        assert_eq!(
            EnginePacket::decode_text("4hello"),
            Ok(EnginePacket::Message("hello".into()))
        );
        assert_eq!(
            EnginePacket::decode_text("2probe"),
            Ok(EnginePacket::Ping("probe".into()))
        );
        assert_eq!(
            EnginePacket::decode_text("bAQIDBA=="),
            Ok(EnginePacket::Binary(vec![1, 2, 3, 4]))
        );
        assert_eq!(
            decode_payload("4hello\x1e2\x1ebAQIDBA=="),
            Ok(vec![
                EnginePacket::Message("hello".into()),
                EnginePacket::Ping(String::new()),
                EnginePacket::Binary(vec![1, 2, 3, 4]),
            ])
        );
        let open = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#;
        let Ok(EnginePacket::Open(handshake)) = EnginePacket::decode_text(open) else {
            panic!("open packet expected");
        };
        assert_eq!(handshake.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!(handshake.ping_timeout, 5000);
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(EnginePacket::decode_text(""), Err(CodecError::Empty));
        assert_eq!(
            EnginePacket::decode_text("9"),
            Err(CodecError::UnknownType('9'))
        );
        assert!(matches!(
            EnginePacket::decode_text("b!!"),
            Err(CodecError::Base64(_))
        ));
        assert!(matches!(
            EnginePacket::decode_text("0{}"),
            Err(CodecError::Handshake(_))
        ));
    }
}
