//! The recording proxy: an HTTP/1.1 and WebSocket reverse proxy that forwards every request to
//! the upstream unchanged and writes down, in the order it passes, what the Engine.IO sessions
//! and the HTTP API calls carried ([`Traffic`]).
//!
//! Polling requests are forwarded whole (request body, then the response once complete), so a
//! client's packets are taped before the server sees them and the server's when they leave the
//! proxy; websocket frames are relayed one by one and taped as they pass.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::codec::engine::{self, EnginePacket};
use crate::transport::TransportKind;

/// The largest request or response body the proxy buffers (polling payloads are 1 MB at most).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Who sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One thing that passed through the proxy.
#[derive(Debug, Clone)]
pub enum Traffic {
    /// An Engine.IO session opened (the server's `open` packet passed).
    Opened {
        sid: String,
        transport: TransportKind,
        /// The handshake request's query, without the Engine.IO parameters.
        query: Vec<(String, String)>,
        authorization: Option<String>,
    },
    /// A websocket joined an existing (polling) session.
    Upgraded { sid: String },
    Packet {
        sid: String,
        from: Side,
        packet: EnginePacket,
    },
    /// The session's websocket ended; `by` sent the close first.
    Closed { sid: String, by: Side },
    /// A request outside the Engine.IO path.
    Http(HttpCall),
}

/// An HTTP request that is not Engine.IO, with its response.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCall {
    pub method: String,
    pub path_and_query: String,
    pub authorization: Option<String>,
    /// The request body when it is JSON.
    pub request_json: Option<Value>,
    pub status: u16,
    pub response_is_json: bool,
    pub response_json: Option<Value>,
}

/// What the proxy saw so far, in order. An HTTP call holds the place where its request arrived
/// (a slot filled when the response is complete): what the request causes, such as an event to
/// a client, can pass the proxy before the response does, and must come after the call.
#[derive(Debug, Clone, Default)]
pub struct Tape(Arc<Mutex<Vec<Option<Traffic>>>>);

impl Tape {
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Option<Traffic>>> {
        // A poisoned lock means a relay panicked mid-push; the entries are still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, traffic: Traffic) {
        self.entries().push(Some(traffic));
    }

    /// A place for something whose content is known later.
    fn reserve(&self) -> usize {
        let mut entries = self.entries();
        entries.push(None);
        entries.len() - 1
    }

    fn fill(&self, slot: usize, traffic: Traffic) {
        if let Some(entry) = self.entries().get_mut(slot) {
            *entry = Some(traffic);
        }
    }

    /// Everything taped so far (calls still unanswered left out), leaving the tape empty.
    pub fn take(&self) -> Vec<Traffic> {
        std::mem::take(&mut *self.entries())
            .into_iter()
            .flatten()
            .collect()
    }
}

struct Shared {
    /// `http://host:port`, no trailing slash.
    upstream: String,
    /// The Engine.IO path without its trailing slash, e.g. `/socket.io`.
    engine_path: String,
    http: reqwest::Client,
    tape: Tape,
}

/// A running recording proxy; dropping it stops accepting connections.
pub struct RecordingProxy {
    pub addr: SocketAddr,
    pub tape: Tape,
    server: JoinHandle<()>,
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RecordingProxy {
    /// Listens on `listen` and forwards to `upstream` (`http://host:port`).
    pub async fn start(
        listen: SocketAddr,
        upstream: &str,
        engine_path: &str,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let tape = Tape::default();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            engine_path: engine_path.trim_end_matches('/').to_owned(),
            http,
            tape: tape.clone(),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "recording proxy stopped");
            }
        });
        Ok(Self { addr, tape, server })
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    match relay_request(&shared, request).await {
        Ok(response) => response,
        Err(message) => {
            tracing::warn!(%message, "recording proxy could not forward a request");
            let mut response = Response::new(Body::from(message));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    }
}

/// The query pairs of a path, decoded.
fn query_of(path_and_query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://proxy{path_and_query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Engine.IO's own query parameters, which the harness's client sets itself.
fn is_engine_parameter(key: &str) -> bool {
    matches!(key, "EIO" | "transport" | "t" | "sid" | "b64" | "j")
}

/// Headers that belong to one connection, not to the request.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            // Asked for by the proxy's own client or not at all: the recorder must read bodies.
            | "accept-encoding"
    )
}

fn forwardable(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn relay_request(
    shared: &Arc<Shared>,
    mut request: Request,
) -> Result<Response<Body>, String> {
    let path_and_query = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let path = request.uri().path().to_owned();
    let engine =
        path == shared.engine_path || path.starts_with(&format!("{}/", shared.engine_path));
    let query = query_of(&path_and_query);
    let session = SessionRequest {
        sid: query_value(&query, "sid").map(str::to_owned),
        query: query
            .iter()
            .filter(|(k, _)| !is_engine_parameter(k))
            .cloned()
            .collect(),
        authorization: authorization(request.headers()),
    };
    if engine && is_websocket(request.headers()) {
        let upgrade = request
            .extensions_mut()
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or("the client's connection cannot be upgraded")?;
        let headers = request.headers().clone();
        return websocket(shared, &headers, &path_and_query, upgrade, session).await;
    }

    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| format!("reading the request body: {e}"))?;
    let slot = (!engine).then(|| shared.tape.reserve());
    if engine
        && parts.method == axum::http::Method::POST
        && let Some(sid) = &session.sid
    {
        tape_payload(&shared.tape, sid, Side::Client, &body);
    }
    let upstream = shared
        .http
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", shared.upstream),
        )
        .headers(forwardable(&parts.headers))
        .body(body.clone())
        .send()
        .await
        .map_err(|e| format!("upstream {}: {e}", shared.upstream))?;
    let status = upstream.status();
    let response_headers = forwardable(upstream.headers());
    let response_body = upstream
        .bytes()
        .await
        .map_err(|e| format!("reading the upstream response: {e}"))?;

    if engine {
        if parts.method == axum::http::Method::GET && status.is_success() {
            match &session.sid {
                Some(sid) => tape_payload(&shared.tape, sid, Side::Server, &response_body),
                None => tape_polling_handshake(&shared.tape, &response_body, session),
            }
        }
    } else if let Some(slot) = slot {
        let response_is_json = response_headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        shared.tape.fill(
            slot,
            Traffic::Http(HttpCall {
                method: parts.method.to_string(),
                path_and_query,
                authorization: session.authorization,
                request_json: serde_json::from_slice(&body).ok(),
                status: status.as_u16(),
                response_is_json,
                response_json: serde_json::from_slice(&response_body).ok(),
            }),
        );
    }

    let mut response = Response::new(Body::from(response_body));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    Ok(response)
}

/// What identifies an Engine.IO request's session and how it was opened.
struct SessionRequest {
    sid: Option<String>,
    query: Vec<(String, String)>,
    authorization: Option<String>,
}

fn tape_payload(tape: &Tape, sid: &str, from: Side, body: &Bytes) {
    let Ok(text) = std::str::from_utf8(body) else {
        tracing::warn!(
            sid,
            "a polling payload is not UTF-8; left out of the recording"
        );
        return;
    };
    match engine::decode_payload(text) {
        Ok(packets) => {
            for packet in packets {
                tape.push(Traffic::Packet {
                    sid: sid.to_owned(),
                    from,
                    packet,
                });
            }
        }
        Err(error) => tracing::warn!(sid, %error, "undecodable polling payload left out"),
    }
}

fn tape_polling_handshake(tape: &Tape, body: &Bytes, session: SessionRequest) {
    let packets = std::str::from_utf8(body)
        .ok()
        .and_then(|text| engine::decode_payload(text).ok())
        .unwrap_or_default();
    let mut packets = packets.into_iter();
    let Some(EnginePacket::Open(handshake)) = packets.next() else {
        tracing::warn!("a polling handshake without an open packet; left out");
        return;
    };
    let sid = handshake.sid;
    tape.push(Traffic::Opened {
        sid: sid.clone(),
        transport: TransportKind::Polling,
        query: session.query,
        authorization: session.authorization,
    });
    for packet in packets {
        tape.push(Traffic::Packet {
            sid: sid.clone(),
            from: Side::Server,
            packet,
        });
    }
}

/// Opens the upstream websocket first, so a refusal reaches the client as an HTTP error, then
/// answers `101` and relays frames once the client's connection is upgraded.
async fn websocket(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    path_and_query: &str,
    upgrade: hyper::upgrade::OnUpgrade,
    session: SessionRequest,
) -> Result<Response<Body>, String> {
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("a websocket request without Sec-WebSocket-Key")?;
    let accept = derive_accept_key(key.as_bytes());
    let ws_base = shared.upstream.replacen("http", "ws", 1);
    let mut upstream_request = format!("{ws_base}{path_and_query}")
        .into_client_request()
        .map_err(|e| format!("upstream websocket URL: {e}"))?;
    for (name, value) in headers {
        let name_text = name.as_str();
        if !is_hop_by_hop(name_text) && !name_text.starts_with("sec-websocket-") {
            upstream_request
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    let (upstream, _) = tokio_tungstenite::connect_async(upstream_request)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(response) => {
                format!("upstream refused the websocket: {}", response.status())
            }
            other => format!("upstream websocket: {other}"),
        })?;
    let tape = shared.tape.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let client =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        relay_frames(client, upstream, session, tape).await;
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_str(&accept).map_err(|e| e.to_string())?;
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(response)
}

async fn relay_frames<C, U>(
    client: WebSocketStream<C>,
    upstream: WebSocketStream<U>,
    session: SessionRequest,
    tape: Tape,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut client_tx, mut client_rx) = client.split();
    let (mut upstream_tx, mut upstream_rx) = upstream.split();
    let mut frames = FrameTap {
        sid: session.sid.clone(),
        session: Some(session),
        tape,
        closed_by: None,
    };
    if let Some(sid) = &frames.sid {
        frames.tape.push(Traffic::Upgraded { sid: sid.clone() });
    }
    loop {
        tokio::select! {
            message = client_rx.next() => {
                let Some(Ok(message)) = message else {
                    frames.closed(Side::Client);
                    break;
                };
                frames.tap(Side::Client, &message);
                if upstream_tx.send(message).await.is_err() {
                    frames.closed(Side::Server);
                    break;
                }
            }
            message = upstream_rx.next() => {
                let Some(Ok(message)) = message else {
                    frames.closed(Side::Server);
                    break;
                };
                frames.tap(Side::Server, &message);
                if client_tx.send(message).await.is_err() {
                    frames.closed(Side::Client);
                    break;
                }
            }
        }
    }
    let _ = upstream_tx.close().await;
    let _ = client_tx.close().await;
    if let (Some(sid), Some(by)) = (frames.sid, frames.closed_by) {
        frames.tape.push(Traffic::Closed { sid, by });
    }
}

/// Tapes one websocket's frames; learns the session id from the `open` packet of a session that
/// starts on websocket.
struct FrameTap {
    sid: Option<String>,
    /// Until the session is known to the tape.
    session: Option<SessionRequest>,
    tape: Tape,
    closed_by: Option<Side>,
}

impl FrameTap {
    fn closed(&mut self, by: Side) {
        self.closed_by.get_or_insert(by);
    }

    fn tap(&mut self, from: Side, message: &Message) {
        let decoded = match message {
            Message::Text(text) => EnginePacket::decode_text(text.as_str()),
            Message::Binary(bytes) => Ok(EnginePacket::Binary(bytes.to_vec())),
            Message::Close(_) => {
                self.closed(from);
                return;
            }
            _ => return,
        };
        let packet = match decoded {
            Ok(packet) => packet,
            Err(error) => {
                tracing::warn!(%error, "undecodable websocket frame left out of the recording");
                return;
            }
        };
        if self.sid.is_none() {
            if let (Side::Server, EnginePacket::Open(handshake)) = (from, &packet) {
                self.sid = Some(handshake.sid.clone());
                if let Some(session) = self.session.take() {
                    self.tape.push(Traffic::Opened {
                        sid: handshake.sid.clone(),
                        transport: TransportKind::Websocket,
                        query: session.query,
                        authorization: session.authorization,
                    });
                }
            }
            return;
        }
        if let Some(sid) = &self.sid {
            self.tape.push(Traffic::Packet {
                sid: sid.clone(),
                from,
                packet,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_bad_gateway_with_the_reason_and_nothing_taped() {
        // A port that was free a moment ago: nothing listens there.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let upstream = format!("http://{closed}");
        let proxy = RecordingProxy::start(
            "127.0.0.1:0".parse().expect("addr"),
            &upstream,
            "/socket.io/",
        )
        .await
        .expect("the proxy starts");
        let response = reqwest::get(format!("http://{}/api/v1/me", proxy.addr))
            .await
            .expect("the proxy answers");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = response.text().await.expect("a body");
        assert!(body.contains(&upstream), "{body}");
        assert!(proxy.tape.take().is_empty());
    }
}
