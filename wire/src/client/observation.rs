//! What a client tells its caller, [`Observation`]s in the order they happened, and what the
//! caller asks of it, [`Command`]s. Transcripts are built from observations alone.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::NamespaceOptions;
use crate::codec::engine::Frame;
use crate::transport::TransportKind;

/// One thing a client saw or did, `at` from the client's creation (monotonic).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    #[serde(skip)]
    pub at: Duration,
    /// The command whose handling produced this observation, numbered from 0 in the order the
    /// handle sent them (see [`Client::commands_sent`]); `None` for what the server, the
    /// network or a timer caused, and for what the client did on its own in answer to it (the
    /// `on_connect` emits). Transcripts use it to place a client's own actions
    /// deterministically among what it received.
    #[serde(skip)]
    pub command: Option<u64>,
    #[serde(flatten)]
    pub what: Observed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Observed {
    /// An Engine.IO session opened (and, for `upgrade`, was upgraded).
    Open {
        transport: TransportKind,
        sid: String,
        ping_interval: u64,
        ping_timeout: u64,
        max_payload: u64,
    },
    Connect {
        nsp: String,
        sid: String,
    },
    ConnectError {
        nsp: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    /// An event from the server; `ack_id` when the server asks for an acknowledgement.
    Event {
        nsp: String,
        event: String,
        args: Vec<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ack_id: Option<u64>,
    },
    /// An event this client sent.
    Emit {
        nsp: String,
        event: String,
        args: Vec<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ack_id: Option<u64>,
    },
    /// The server acknowledged this client's event `id`.
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    /// This client acknowledged the server's event `id`.
    AckSent {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    /// An ack this client waited for will not come: `operation has timed out` or
    /// `socket has been disconnected`.
    AckError {
        nsp: String,
        id: u64,
        message: String,
    },
    Disconnect {
        nsp: String,
        reason: String,
        /// The server ended the transport on purpose: a websocket close frame or an Engine.IO
        /// close packet, as a graceful shutdown sends, not a connection that just dropped. The
        /// official client hands this over as the `disconnect` event's details (the close code).
        closed_by_server: bool,
    },
    ReconnectAttempt {
        attempt: u32,
    },
    ReconnectError {
        attempt: u32,
        message: String,
    },
    Reconnect {
        attempt: u32,
    },
    ReconnectFailed,
    Ping,
    Pong,
}

impl Observed {
    /// The namespace this observation belongs to, if any.
    pub fn nsp(&self) -> Option<&str> {
        match self {
            Observed::Connect { nsp, .. }
            | Observed::ConnectError { nsp, .. }
            | Observed::Event { nsp, .. }
            | Observed::Emit { nsp, .. }
            | Observed::Ack { nsp, .. }
            | Observed::AckSent { nsp, .. }
            | Observed::AckError { nsp, .. }
            | Observed::Disconnect { nsp, .. } => Some(nsp),
            _ => None,
        }
    }
}

/// What the handle asks of the driver.
#[derive(Debug)]
pub enum Command {
    Connect(NamespaceOptions),
    Emit {
        nsp: String,
        event: String,
        args: Vec<Value>,
        ack_timeout: Option<Duration>,
    },
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    DisconnectNamespace(String),
    Raw(Frame),
    /// `socket.disconnect()` on every namespace, then close; no reconnection.
    Close,
    /// Lose the connection as a network failure would (`transport error`), then reconnect
    /// according to the policy. For load tests.
    SimulateNetworkLoss,
}
