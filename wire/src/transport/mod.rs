//! Engine.IO transports: websocket, long-polling, and polling upgraded to websocket.
//!
//! [`open`] performs the handshake on the chosen transport and returns a [`Link`]: incoming
//! Engine.IO packets one at a time and a queue for outgoing ones, the same whatever the
//! transport. A websocket is read and written in the link owner's own task; long-polling runs
//! its requests in tasks of its own behind two channels.
//! The upgrade is done before the link is handed over (probe, pause polling, `5`), so the
//! Socket.IO layer above always starts on the final transport and transcripts are stable.

mod error;
mod polling;
mod upgrade;
mod websocket;

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::codec::engine::{EnginePacket, Frame, Handshake};
use crate::cookies::CookieJar;
pub use error::{LocalLimit, OpenError};
use websocket::WsLink;

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Websocket,
    Polling,
    /// Long-polling first, then upgraded to websocket (the browser client's default).
    Upgrade,
}

/// Where and how to open an Engine.IO session.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    /// `http://host:port` of the server.
    pub base_url: String,
    /// Engine.IO path, `/socket.io/` by default.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub transport: TransportKind,
    pub timeout: Duration,
    /// Websocket read buffer; small values keep thousands of load-test clients cheap.
    pub ws_read_buffer: usize,
    /// HTTP client shared by polling transports (cheap to clone).
    pub http: reqwest::Client,
    /// Source address for websocket connections. A load generator on one host spreads its
    /// clients over several loopback addresses, as real clients come from many hosts: with one
    /// address the kernel searches an ever fuller ephemeral port range on every connect.
    pub local_address: Option<IpAddr>,
    /// The client's cookies, sent on every request and updated from every response (a load
    /// balancer's stickiness cookie). Clones of these options share it.
    pub cookies: CookieJar,
}

impl EndpointOptions {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_http(base_url, reqwest::Client::new())
    }

    /// Like [`EndpointOptions::new`], with a given HTTP client (many clients can share one).
    pub fn with_http(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            path: "/socket.io/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            transport: TransportKind::Websocket,
            timeout: Duration::from_secs(5),
            ws_read_buffer: 4096,
            http,
            local_address: None,
            cookies: CookieJar::default(),
        }
    }

    fn url(&self, scheme_ws: bool, transport: &str, sid: Option<&str>) -> String {
        let base = if scheme_ws {
            self.base_url.replacen("http", "ws", 1)
        } else {
            self.base_url.clone()
        };
        let mut url = format!("{base}{}?EIO=4&transport={transport}", self.path);
        if let Some(sid) = sid {
            url.push_str("&sid=");
            url.push_str(&urlencode(sid));
        }
        for (key, value) in &self.query {
            url.push('&');
            url.push_str(&urlencode(key));
            url.push('=');
            url.push_str(&urlencode(value));
        }
        url
    }
}

fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What the transport tells the layer above.
#[derive(Debug)]
pub enum LinkEvent {
    Packet(EnginePacket),
    /// Bytes that are not an Engine.IO packet.
    Malformed(String),
    /// The transport is gone: `transport close` or `transport error`. `handshake`: the peer
    /// ended it on purpose (a websocket close frame, an Engine.IO close packet), not by dropping
    /// the connection.
    Closed {
        reason: &'static str,
        detail: String,
        handshake: bool,
    },
}

/// What the layer above asks of a queued (long-polling) transport's tasks.
#[derive(Debug)]
enum LinkCommand {
    Send(EnginePacket),
    /// Bytes sent as they are, for malformed-input tests.
    Raw(Frame),
    Close,
    /// Drop the connection without a goodbye, as a network failure would.
    Abort,
}

/// An open Engine.IO session.
pub struct Link {
    pub handshake: Handshake,
    pub transport: TransportKind,
    io: LinkIo,
}

enum LinkIo {
    /// A websocket read and written in the owner's own task: no task or queue per message in
    /// between, which is what keeps thousands of load-test clients cheap.
    Websocket(Box<WsLink>),
    /// Long-polling, served by a reader and a writer task.
    Queued {
        events: mpsc::UnboundedReceiver<LinkEvent>,
        commands: mpsc::UnboundedSender<LinkCommand>,
    },
}

impl Link {
    /// The next thing the transport has to say; queued frames are written meanwhile.
    /// Cancel-safe: nothing is lost when a `select!` drops the future.
    pub async fn next_event(&mut self) -> LinkEvent {
        match &mut self.io {
            LinkIo::Websocket(link) => std::future::poll_fn(|cx| link.poll_event(cx)).await,
            LinkIo::Queued { events, .. } => {
                events.recv().await.unwrap_or_else(|| LinkEvent::Closed {
                    reason: "transport close",
                    detail: String::new(),
                    handshake: false,
                })
            }
        }
    }

    /// Queues a packet for the server.
    pub fn send(&mut self, packet: EnginePacket) {
        match &mut self.io {
            LinkIo::Websocket(link) => link.queue(packet.to_frame()),
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Send(packet));
            }
        }
    }

    /// Queues bytes exactly as given, for malformed-input tests.
    pub fn send_raw(&mut self, frame: Frame) {
        match &mut self.io {
            LinkIo::Websocket(link) => link.queue(frame),
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Raw(frame));
            }
        }
    }

    /// Ends the session: what is queued is sent, then the transport is closed (`Close`), in
    /// the background so the owner can go on.
    pub fn close(self) {
        match self.io {
            LinkIo::Websocket(link) => link.close(),
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Close);
            }
        }
    }

    /// Drops the connection without a goodbye, as a network failure would: a websocket is
    /// reset (RST), so the server learns of it at once and neither side keeps it in TIME-WAIT.
    pub fn abort(self) {
        match self.io {
            LinkIo::Websocket(link) => link.abort(),
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Abort);
            }
        }
    }
}

/// Opens a session on the configured transport, upgrading if asked.
pub async fn open(options: &EndpointOptions) -> Result<Link, OpenError> {
    tokio::time::timeout(options.timeout, open_inner(options))
        .await
        .map_err(|_| OpenError::Timeout)?
}

async fn open_inner(options: &EndpointOptions) -> Result<Link, OpenError> {
    match options.transport {
        TransportKind::Websocket => {
            let mut ws = websocket::connect(options, None).await?;
            let handshake = match websocket::next_packet(&mut ws).await? {
                EnginePacket::Open(handshake) => handshake,
                other => {
                    return Err(OpenError::Handshake(format!(
                        "expected open, got {other:?}"
                    )));
                }
            };
            Ok(websocket::link(
                ws,
                handshake,
                TransportKind::Websocket,
                Vec::new(),
            ))
        }
        TransportKind::Polling => {
            let (handshake, early) = polling::handshake(options).await?;
            Ok(polling::spawn_link(options.clone(), handshake, early))
        }
        TransportKind::Upgrade => upgrade::upgrade(options).await,
    }
}
