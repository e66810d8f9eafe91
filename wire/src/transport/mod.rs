//! Engine.IO transports: websocket, long-polling, and polling upgraded to websocket.
//!
//! [`open`] performs the handshake on the chosen transport and returns a [`Link`]: incoming
//! Engine.IO packets one at a time and a queue for outgoing ones, the same whatever the
//! transport. A websocket is read and written in the link owner's own task; long-polling runs
//! its requests in tasks of its own behind two channels.
//! The upgrade is done before the link is handed over (probe, pause polling, `5`), so the
//! Socket.IO layer above always starts on the final transport and transcripts are stable.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::codec::engine::{self, EnginePacket, Frame, Handshake};
use crate::cookies::CookieJar;

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

/// A connection attempt that failed for want of something on this machine, not because of the
/// server: retrying at once cannot help, and a load run must say so instead of spinning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LocalLimit {
    /// EMFILE: this process's open-files limit.
    OpenFiles,
    /// ENFILE: the system's open-files limit.
    SystemFiles,
    /// EADDRNOTAVAIL / EADDRINUSE on connect: no free local port for that address.
    Addresses,
    /// ENOBUFS / ENOMEM: the kernel's socket memory.
    Memory,
}

impl LocalLimit {
    /// The limit behind `error`, looking through its sources for an OS error.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(limit) = error
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::raw_os_error)
                .and_then(Self::from_os_error)
            {
                return Some(limit);
            }
            current = error.source();
        }
        None
    }

    const ALL: [Self; 4] = [
        Self::OpenFiles,
        Self::SystemFiles,
        Self::Addresses,
        Self::Memory,
    ];

    /// The limit named in a client's failure message ([`OpenError::client_message`]), if any.
    pub fn in_client_message(message: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|limit| message.contains(&format!("(local: {limit})")))
    }

    fn from_os_error(code: i32) -> Option<Self> {
        match code {
            24 => Some(Self::OpenFiles),
            23 => Some(Self::SystemFiles),
            98 | 99 => Some(Self::Addresses),
            12 | 105 => Some(Self::Memory),
            _ => None,
        }
    }
}

impl fmt::Display for LocalLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenFiles => "too many open files in this process (EMFILE)",
            Self::SystemFiles => "too many open files on this system (ENFILE)",
            Self::Addresses => "no free local address or port (EADDRNOTAVAIL)",
            Self::Memory => "out of socket memory (ENOBUFS)",
        })
    }
}

/// Why a transport could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Named as the official client names it: `websocket error` or `xhr poll error`; `local`
    /// when the cause is a limit of this machine.
    #[error("{kind}: {detail}")]
    Transport {
        kind: &'static str,
        detail: String,
        local: Option<LocalLimit>,
    },
    #[error("timed out opening the transport")]
    Timeout,
    #[error("unexpected handshake: {0}")]
    Handshake(String),
    #[error("upgrade failed: {0}")]
    Upgrade(String),
}

impl OpenError {
    /// The message the official client reports for this failure.
    pub fn client_message(&self) -> String {
        match self {
            OpenError::Transport {
                kind, local: None, ..
            } => (*kind).to_owned(),
            // Never seen against a working setup, so transcripts do not change; a load run
            // counts these apart.
            OpenError::Transport {
                kind,
                local: Some(limit),
                ..
            } => format!("{kind} (local: {limit})"),
            OpenError::Timeout => "timeout".to_owned(),
            OpenError::Handshake(_) => "parse error".to_owned(),
            OpenError::Upgrade(_) => "probe error".to_owned(),
        }
    }
}

/// What the transport tells the layer above.
#[derive(Debug)]
pub enum LinkEvent {
    Packet(EnginePacket),
    /// Bytes that are not an Engine.IO packet.
    Malformed(String),
    /// The transport is gone: `transport close` or `transport error`.
    Closed {
        reason: &'static str,
        detail: String,
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

struct WsLink {
    ws: Ws,
    /// Packets that arrived before the link existed (during an upgrade), delivered first.
    early: VecDeque<EnginePacket>,
    /// Frames accepted by [`Link::send`], written while the owner waits in [`Link::next_event`].
    outbox: VecDeque<Message>,
    /// A flush found the socket full; the next poll finishes it.
    unflushed: bool,
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
                })
            }
        }
    }

    /// Queues a packet for the server.
    pub fn send(&mut self, packet: EnginePacket) {
        match &mut self.io {
            LinkIo::Websocket(link) => link.outbox.push_back(to_message(packet.to_frame())),
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Send(packet));
            }
        }
    }

    /// Queues bytes exactly as given, for malformed-input tests.
    pub fn send_raw(&mut self, frame: Frame) {
        match &mut self.io {
            LinkIo::Websocket(link) => link.outbox.push_back(to_message(frame)),
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Raw(frame));
            }
        }
    }

    /// Ends the session: what is queued is sent, then the transport is closed (`Close`), in
    /// the background so the owner can go on.
    pub fn close(self) {
        match self.io {
            LinkIo::Websocket(link) => {
                let WsLink { mut ws, outbox, .. } = *link;
                tokio::spawn(async move {
                    for message in outbox {
                        if ws.feed(message).await.is_err() {
                            return;
                        }
                    }
                    let _ = ws.close(None).await;
                });
            }
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Close);
            }
        }
    }

    /// Drops the connection without a goodbye, as a network failure would: a websocket is
    /// reset (RST), so the server learns of it at once and neither side keeps it in TIME-WAIT.
    pub fn abort(self) {
        match self.io {
            LinkIo::Websocket(link) => {
                if let MaybeTlsStream::Plain(stream) = link.ws.get_ref() {
                    let _ = stream.set_zero_linger();
                }
            }
            LinkIo::Queued { commands, .. } => {
                let _ = commands.send(LinkCommand::Abort);
            }
        }
    }
}

impl WsLink {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<LinkEvent> {
        if let Some(packet) = self.early.pop_front() {
            return Poll::Ready(LinkEvent::Packet(packet));
        }
        if let Err(e) = self.poll_write(cx) {
            return Poll::Ready(LinkEvent::Closed {
                reason: ws_close_reason(Some(&e)),
                detail: e.to_string(),
            });
        }
        loop {
            let event = match ready!(self.ws.poll_next_unpin(cx)) {
                Some(Ok(Message::Text(text))) => match EnginePacket::decode_text(text.as_str()) {
                    Ok(packet) => LinkEvent::Packet(packet),
                    Err(e) => LinkEvent::Malformed(e.to_string()),
                },
                Some(Ok(Message::Binary(bytes))) => {
                    LinkEvent::Packet(EnginePacket::Binary(bytes.to_vec()))
                }
                Some(Ok(Message::Close(frame))) => LinkEvent::Closed {
                    reason: "transport close",
                    detail: frame
                        .map(|f| format!("close frame {}", f.code))
                        .unwrap_or_default(),
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => LinkEvent::Closed {
                    reason: ws_close_reason(Some(&e)),
                    detail: e.to_string(),
                },
                None => LinkEvent::Closed {
                    reason: "transport close",
                    detail: "stream ended".into(),
                },
            };
            return Poll::Ready(event);
        }
    }

    /// Writes what the outbox holds, as far as the socket takes it now.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), tungstenite::Error> {
        let mut wrote = false;
        while !self.outbox.is_empty() {
            match self.ws.poll_ready_unpin(cx) {
                Poll::Ready(ready) => ready?,
                Poll::Pending => return Ok(()),
            }
            if let Some(message) = self.outbox.pop_front() {
                self.ws.start_send_unpin(message)?;
                wrote = true;
            }
        }
        if wrote || self.unflushed {
            // Pending means the socket is full; the waker brings us back to finish.
            match self.ws.poll_flush_unpin(cx) {
                Poll::Ready(flushed) => {
                    self.unflushed = false;
                    flushed?;
                }
                Poll::Pending => self.unflushed = true,
            }
        }
        Ok(())
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
            let mut ws = connect_ws(options, None).await?;
            let handshake = match next_ws_packet(&mut ws).await? {
                EnginePacket::Open(handshake) => handshake,
                other => {
                    return Err(OpenError::Handshake(format!(
                        "expected open, got {other:?}"
                    )));
                }
            };
            Ok(ws_link(ws, handshake, TransportKind::Websocket, Vec::new()))
        }
        TransportKind::Polling => {
            let (handshake, early) = polling_handshake(options).await?;
            Ok(spawn_polling_link(options.clone(), handshake, early))
        }
        TransportKind::Upgrade => upgrade(options).await,
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect_ws(options: &EndpointOptions, sid: Option<&str>) -> Result<Ws, OpenError> {
    let ws_error = |detail: String| OpenError::Transport {
        kind: "websocket error",
        detail,
        local: None,
    };
    let mut request = options
        .url(true, "websocket", sid)
        .into_client_request()
        .map_err(|e| ws_error(e.to_string()))?;
    for (name, value) in &options.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| ws_error(e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| ws_error(e.to_string()))?;
        request.headers_mut().append(name, value);
    }
    if let Some(cookies) = options.cookies.header() {
        let value = HeaderValue::from_str(&cookies).map_err(|e| ws_error(e.to_string()))?;
        request.headers_mut().append("cookie", value);
    }
    let stream =
        connect_tcp(&request, options.local_address)
            .await
            .map_err(|(detail, local)| OpenError::Transport {
                kind: "websocket error",
                detail,
                local,
            })?;
    let config = WebSocketConfig::default()
        .read_buffer_size(options.ws_read_buffer)
        .write_buffer_size(0);
    let (ws, response) = tokio_tungstenite::client_async_with_config(
        request,
        MaybeTlsStream::Plain(stream),
        Some(config),
    )
    .await
    .map_err(|e| OpenError::Transport {
        kind: "websocket error",
        local: LocalLimit::of(&e),
        detail: e.to_string(),
    })?;
    options.cookies.store_all(
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(HeaderValue::as_bytes),
    );
    Ok(ws)
}

/// Opens the TCP connection under a websocket request, from `local_address` if one is given.
/// An error says what failed, and which limit of this machine caused it, if one did.
async fn connect_tcp(
    request: &tungstenite::handshake::client::Request,
    local_address: Option<IpAddr>,
) -> Result<TcpStream, (String, Option<LocalLimit>)> {
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err((
            format!("unsupported scheme in {uri} (only ws:// and http:// are supported)"),
            None,
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| (format!("no host in {uri}"), None))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let mut last_error = (format!("{host} did not resolve"), None);
    for address in tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| (format!("resolving {host}: {e}"), LocalLimit::of(&e)))?
    {
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        };
        let attempt = async {
            let socket = socket?;
            if let Some(local) = local_address.filter(|local| local.is_ipv4() == address.is_ipv4())
            {
                // Without it, these ports (and their TIME-WAIT) would refuse a server's later
                // wildcard listen on the same port number for a minute.
                socket.set_reuseaddr(true)?;
                socket.bind((local, 0).into())?;
            }
            let stream = socket.connect(address).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        match attempt.await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = (format!("connecting to {address}: {e}"), LocalLimit::of(&e)),
        }
    }
    Err(last_error)
}

async fn next_ws_packet(ws: &mut Ws) -> Result<EnginePacket, OpenError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return EnginePacket::decode_text(text.as_str())
                    .map_err(|e| OpenError::Handshake(e.to_string()));
            }
            Some(Ok(Message::Binary(bytes))) => return Ok(EnginePacket::Binary(bytes.to_vec())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                return Err(OpenError::Transport {
                    kind: "websocket error",
                    local: LocalLimit::of(&e),
                    detail: e.to_string(),
                });
            }
            None => {
                return Err(OpenError::Transport {
                    kind: "websocket error",
                    detail: "closed during handshake".into(),
                    local: None,
                });
            }
        }
    }
}

fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => Message::text(text),
        Frame::Binary(bytes) => Message::binary(bytes),
    }
}

/// Maps how a websocket ended to the official client's reason.
fn ws_close_reason(error: Option<&tungstenite::Error>) -> &'static str {
    match error {
        None
        | Some(tungstenite::Error::ConnectionClosed)
        | Some(tungstenite::Error::AlreadyClosed)
        | Some(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        )) => "transport close",
        Some(_) => "transport error",
    }
}

type LinkChannels = (
    mpsc::UnboundedSender<LinkEvent>,
    mpsc::UnboundedReceiver<LinkEvent>,
    mpsc::UnboundedSender<LinkCommand>,
    mpsc::UnboundedReceiver<LinkCommand>,
);

/// A link's two channels, with packets that arrived before the link existed already queued.
fn link_channels(early: Vec<EnginePacket>) -> LinkChannels {
    let (event_tx, events) = mpsc::unbounded_channel();
    let (commands, command_rx) = mpsc::unbounded_channel();
    for packet in early {
        let _ = event_tx.send(LinkEvent::Packet(packet));
    }
    (event_tx, events, commands, command_rx)
}

fn ws_link(
    ws: Ws,
    handshake: Handshake,
    transport: TransportKind,
    early: Vec<EnginePacket>,
) -> Link {
    Link {
        handshake,
        transport,
        io: LinkIo::Websocket(Box::new(WsLink {
            ws,
            early: early.into(),
            outbox: VecDeque::new(),
            unflushed: false,
        })),
    }
}

fn poll_error(detail: impl std::fmt::Display) -> OpenError {
    OpenError::Transport {
        kind: "xhr poll error",
        detail: detail.to_string(),
        local: None,
    }
}

/// A failed polling request, with the limit of this machine behind it, if any.
fn poll_request_error(error: reqwest::Error) -> OpenError {
    OpenError::Transport {
        kind: "xhr poll error",
        local: LocalLimit::of(&error),
        detail: error.to_string(),
    }
}

/// Sends a polling request with the client's headers and cookies; keeps the cookies it sets.
async fn polling_send(
    options: &EndpointOptions,
    mut request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, OpenError> {
    for (name, value) in &options.headers {
        request = request.header(name, value);
    }
    if let Some(cookies) = options.cookies.header() {
        request = request.header("cookie", cookies);
    }
    let response = request.send().await.map_err(poll_request_error)?;
    options.cookies.store_all(
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.as_bytes()),
    );
    Ok(response)
}

async fn polling_get(options: &EndpointOptions, sid: Option<&str>) -> Result<String, OpenError> {
    let request = options.http.get(options.url(false, "polling", sid));
    let response = polling_send(options, request).await?;
    let status = response.status();
    let body = response.text().await.map_err(poll_request_error)?;
    if !status.is_success() {
        return Err(poll_error(format!("HTTP {status}: {body}")));
    }
    Ok(body)
}

async fn polling_post(options: &EndpointOptions, sid: &str, body: String) -> Result<(), OpenError> {
    let request = options
        .http
        .post(options.url(false, "polling", Some(sid)))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body);
    let response = polling_send(options, request).await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(poll_error(format!("HTTP {status}: {body}")));
    }
    Ok(())
}

async fn polling_handshake(
    options: &EndpointOptions,
) -> Result<(Handshake, Vec<EnginePacket>), OpenError> {
    let body = polling_get(options, None).await?;
    let mut packets = engine::decode_payload(&body)
        .map_err(|e| OpenError::Handshake(e.to_string()))?
        .into_iter();
    match packets.next() {
        Some(EnginePacket::Open(handshake)) => Ok((handshake, packets.collect())),
        other => Err(OpenError::Handshake(format!(
            "expected open, got {other:?}"
        ))),
    }
}

/// Runs the GET loop until the session ends or `paused` is set; returns whether it was paused.
async fn poll_loop(
    options: EndpointOptions,
    sid: String,
    events: mpsc::UnboundedSender<LinkEvent>,
    paused: Arc<AtomicBool>,
) -> bool {
    loop {
        if paused.load(Ordering::SeqCst) {
            return true;
        }
        let body = match polling_get(&options, Some(&sid)).await {
            Ok(body) => body,
            Err(e) => {
                let _ = events.send(LinkEvent::Closed {
                    reason: "transport error",
                    detail: e.to_string(),
                });
                return false;
            }
        };
        for record in body.split('\x1e') {
            let event = match EnginePacket::decode_text(record) {
                Ok(EnginePacket::Close) => {
                    let _ = events.send(LinkEvent::Closed {
                        reason: "transport close",
                        detail: "close packet".into(),
                    });
                    return false;
                }
                Ok(packet) => LinkEvent::Packet(packet),
                Err(e) => LinkEvent::Malformed(e.to_string()),
            };
            if events.send(event).is_err() {
                return false;
            }
        }
    }
}

fn spawn_polling_link(
    options: EndpointOptions,
    handshake: Handshake,
    early: Vec<EnginePacket>,
) -> Link {
    let (event_tx, events, commands, mut command_rx) = link_channels(early);
    let sid = handshake.sid.clone();
    let reader = tokio::spawn(poll_loop(
        options.clone(),
        sid.clone(),
        event_tx.clone(),
        Arc::default(),
    ));
    tokio::spawn(async move {
        while let Some(first) = command_rx.recv().await {
            // Batch whatever is queued into one POST, as the reference client does.
            let mut batch = vec![first];
            while let Ok(more) = command_rx.try_recv() {
                batch.push(more);
            }
            let closing = batch.iter().any(|c| matches!(c, LinkCommand::Close));
            let mut packets = Vec::new();
            let mut bodies = Vec::new();
            for command in batch {
                match command {
                    LinkCommand::Send(packet) => packets.push(packet),
                    LinkCommand::Raw(Frame::Text(text)) => bodies.push(text),
                    LinkCommand::Raw(Frame::Binary(bytes)) => {
                        bodies.push(String::from_utf8_lossy(&bytes).into_owned())
                    }
                    LinkCommand::Close => packets.push(EnginePacket::Close),
                    LinkCommand::Abort => {
                        reader.abort();
                        return;
                    }
                }
            }
            if !packets.is_empty() {
                bodies.insert(0, engine::encode_payload(&packets));
            }
            for body in bodies {
                if let Err(e) = polling_post(&options, &sid, body).await {
                    if !closing {
                        let _ = event_tx.send(LinkEvent::Closed {
                            reason: "transport error",
                            detail: e.to_string(),
                        });
                    }
                    reader.abort();
                    return;
                }
            }
            if closing {
                reader.abort();
                return;
            }
        }
        reader.abort();
    });
    Link {
        handshake,
        transport: TransportKind::Polling,
        io: LinkIo::Queued { events, commands },
    }
}

/// Polling handshake, websocket probe, pause polling, `5`: then everything goes over websocket.
async fn upgrade(options: &EndpointOptions) -> Result<Link, OpenError> {
    let (handshake, early) = polling_handshake(options).await?;
    if !handshake.upgrades.iter().any(|u| u == "websocket") {
        return Err(OpenError::Upgrade(
            "server offers no websocket upgrade".into(),
        ));
    }
    let (poll_tx, mut poll_rx) = mpsc::unbounded_channel();
    let paused = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll_loop(
        options.clone(),
        handshake.sid.clone(),
        poll_tx,
        paused.clone(),
    ));

    // Pause first: the GET in flight then ends (the server answers it with a noop once it sees
    // the probe) and no new one starts behind it.
    paused.store(true, Ordering::SeqCst);
    let mut ws = connect_ws(options, Some(&handshake.sid)).await?;
    ws.send(Message::text("2probe"))
        .await
        .map_err(|e| OpenError::Upgrade(e.to_string()))?;
    match next_ws_packet(&mut ws).await? {
        EnginePacket::Pong(data) if data == "probe" => {}
        other => {
            return Err(OpenError::Upgrade(format!(
                "expected 3probe, got {other:?}"
            )));
        }
    }
    let paused_cleanly = poller.await.unwrap_or(false);
    if !paused_cleanly {
        return Err(OpenError::Upgrade(
            "polling ended during the upgrade".into(),
        ));
    }
    ws.send(Message::text("5"))
        .await
        .map_err(|e| OpenError::Upgrade(e.to_string()))?;
    let mut carried = early;
    while let Ok(event) = poll_rx.try_recv() {
        if let LinkEvent::Packet(packet) = event
            && packet != EnginePacket::Noop
        {
            carried.push(packet);
        }
    }
    Ok(ws_link(ws, handshake, TransportKind::Upgrade, carried))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_limits_are_found_through_error_sources_and_named_in_client_messages() {
        let emfile = std::io::Error::from_raw_os_error(24);
        assert_eq!(LocalLimit::of(&emfile), Some(LocalLimit::OpenFiles));
        let wrapped = tungstenite::Error::Io(std::io::Error::from_raw_os_error(99));
        assert_eq!(LocalLimit::of(&wrapped), Some(LocalLimit::Addresses));
        let refused = std::io::Error::from_raw_os_error(111);
        assert_eq!(
            LocalLimit::of(&refused),
            None,
            "the server's doing, not ours"
        );

        let local = OpenError::Transport {
            kind: "websocket error",
            detail: "connecting: Too many open files".into(),
            local: Some(LocalLimit::OpenFiles),
        };
        let message = local.client_message();
        assert_eq!(
            LocalLimit::in_client_message(&message),
            Some(LocalLimit::OpenFiles)
        );
        let remote = OpenError::Transport {
            kind: "websocket error",
            detail: "connection refused".into(),
            local: None,
        };
        assert_eq!(
            remote.client_message(),
            "websocket error",
            "as the official client says"
        );
    }
}
