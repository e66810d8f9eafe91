//! The websocket transport: the TCP connection (from a chosen local address), the websocket
//! handshake with the client's headers and cookies, and a link read and written in its owner's
//! own task, with no task or queue per message in between.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::task::{Context, Poll, ready};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{EndpointOptions, Link, LinkEvent, LinkIo, LocalLimit, OpenError, TransportKind};
use crate::codec::engine::{EnginePacket, Frame, Handshake};

pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(super) struct WsLink {
    ws: Ws,
    /// Packets that arrived before the link existed (during an upgrade), delivered first.
    early: VecDeque<EnginePacket>,
    /// Frames accepted by [`Link::send`], written while the owner waits in [`Link::next_event`].
    outbox: VecDeque<Message>,
    /// A flush found the socket full; the next poll finishes it.
    unflushed: bool,
}

impl WsLink {
    /// Queues a frame; it is written while the owner waits in [`Link::next_event`].
    pub(super) fn queue(&mut self, frame: Frame) {
        self.outbox.push_back(to_message(frame));
    }

    /// Writes what is queued, then closes, in the background so the owner can go on.
    pub(super) fn close(self: Box<Self>) {
        let WsLink { mut ws, outbox, .. } = *self;
        tokio::spawn(async move {
            for message in outbox {
                if ws.feed(message).await.is_err() {
                    return;
                }
            }
            let _ = ws.close(None).await;
        });
    }

    /// Resets the connection (RST) as it is dropped.
    pub(super) fn abort(self: Box<Self>) {
        if let MaybeTlsStream::Plain(stream) = self.ws.get_ref() {
            let _ = stream.set_zero_linger();
        }
    }

    pub(super) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<LinkEvent> {
        if let Some(packet) = self.early.pop_front() {
            return Poll::Ready(LinkEvent::Packet(packet));
        }
        if let Err(e) = self.poll_write(cx) {
            return Poll::Ready(LinkEvent::Closed {
                reason: ws_close_reason(Some(&e)),
                detail: e.to_string(),
                handshake: false,
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
                    handshake: true,
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => LinkEvent::Closed {
                    reason: ws_close_reason(Some(&e)),
                    detail: e.to_string(),
                    handshake: false,
                },
                None => LinkEvent::Closed {
                    reason: "transport close",
                    detail: "stream ended".into(),
                    handshake: false,
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

pub(super) async fn connect(options: &EndpointOptions, sid: Option<&str>) -> Result<Ws, OpenError> {
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

pub(super) async fn next_packet(ws: &mut Ws) -> Result<EnginePacket, OpenError> {
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

/// A link over an open websocket; `early` packets (from an upgrade) are delivered first.
pub(super) fn link(
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
