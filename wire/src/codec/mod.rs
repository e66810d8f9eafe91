//! Pure wire codecs: Engine.IO v4 packets and payloads ([`engine`]) and Socket.IO v5 packets
//! with binary attachments ([`socket`]). No I/O here; the transports feed bytes in and out.

pub mod engine;
pub mod socket;

/// Why bytes from the wire could not be decoded. Never a panic: every input gets one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("empty packet")]
    Empty,
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    #[error("invalid base64 binary payload: {0}")]
    Base64(String),
    #[error("invalid open handshake: {0}")]
    Handshake(String),
    #[error("invalid attachment count")]
    Attachments,
    #[error("namespace not terminated by ','")]
    Namespace,
    #[error("ack id out of range")]
    AckId,
    #[error("invalid JSON payload: {0}")]
    Json(String),
    #[error("payload not allowed for this packet type: {0}")]
    Payload(&'static str),
    #[error("unexpected binary attachment")]
    UnexpectedBinary,
}
