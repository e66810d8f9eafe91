//! Driving: one generated [`Case`] sent to a server over a short connection of its own, on a
//! websocket or a long-polling session, byte for byte as generated (text frames that are not
//! UTF-8 included, which a websocket library will not send as text on its own).
//!
//! A case never waits for answers it does not need: it connects (and, when planned, waits for
//! the Socket.IO connect's answer), sends its messages, collects whatever the server said, and
//! closes. The server may drop the connection at any point; that is counted, not an error.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::FuzzError;
use super::generate::{Case, CaseTransport, ConnectPlan, Payload};

/// How long a case waits for the handshake, the Socket.IO connect's answer, or the last answers.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a case listens after its last message before it closes.
const LINGER: Duration = Duration::from_millis(50);

/// What happened to one case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseOutcome {
    /// Engine.IO packets written before the connection ended (the Socket.IO connect included).
    pub frames_sent: u64,
    /// The server ended the connection before the case had sent everything.
    pub dropped_by_server: bool,
    /// The server refused the Engine.IO handshake itself (it always should accept one).
    pub handshake_failed: Option<String>,
}

/// Runs `case` against `base_url` (`http://host:port`), sending `connect` (a virtual client's
/// Socket.IO connect packet) when it plans to; every failure of the server's making is part of
/// the outcome, not an error.
pub async fn run_case(
    base_url: &str,
    http: &reqwest::Client,
    case: &Case,
    connect: &str,
) -> CaseOutcome {
    let connect = match case.connect {
        ConnectPlan::Authenticated => Some(connect.to_owned()),
        ConnectPlan::BadToken => Some(r#"40{"token":"not.a.jwt"}"#.to_owned()),
        ConnectPlan::EngineOnly => None,
    };
    let result = match case.transport {
        CaseTransport::Websocket => websocket(base_url, case, connect).await,
        CaseTransport::Polling => polling(base_url, http, case, connect).await,
    };
    result.unwrap_or_else(|error| CaseOutcome {
        handshake_failed: Some(error.to_string()),
        ..CaseOutcome::default()
    })
}

async fn websocket(
    base_url: &str,
    case: &Case,
    connect: Option<String>,
) -> Result<CaseOutcome, FuzzError> {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base_url.replacen("http", "ws", 1)
    );
    // Our own frames may be larger than the server allows: that is the point, so no client limit.
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    let (ws, _) = tokio::time::timeout(
        ANSWER_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .map_err(|_| FuzzError::Handshake("websocket handshake timed out".into()))?
    .map_err(|e| FuzzError::Handshake(format!("websocket: {e}")))?;
    let (mut sink, mut stream) = ws.split();
    let mut outcome = CaseOutcome::default();

    // The Engine.IO open packet.
    match tokio::time::timeout(ANSWER_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(WsMessage::Text(text)))) if text.starts_with('0') => {}
        other => {
            return Err(FuzzError::Handshake(format!(
                "expected an open packet, got {other:?}"
            )));
        }
    }
    if let Some(connect) = connect {
        if sink.send(WsMessage::text(connect)).await.is_err() {
            outcome.dropped_by_server = true;
            return Ok(outcome);
        }
        outcome.frames_sent += 1;
        // The answer (`40{"sid"…}` or `44{…}`); pings meanwhile are answered.
        let answered = tokio::time::timeout(ANSWER_TIMEOUT, async {
            while let Some(Ok(message)) = stream.next().await {
                if let WsMessage::Text(text) = &message {
                    if text.as_str() == "2" {
                        let _ = sink.send(WsMessage::text("3")).await;
                    } else if text.starts_with("40") || text.starts_with("44") {
                        return true;
                    }
                }
            }
            false
        })
        .await;
        if answered != Ok(true) {
            outcome.dropped_by_server = true;
            return Ok(outcome);
        }
    }

    for message in &case.messages {
        let frame = match &message.payload {
            Payload::Text(text) => WsMessage::text(text.clone()),
            Payload::Binary(bytes) => WsMessage::binary(bytes.clone()),
            Payload::InvalidText(bytes) => WsMessage::Frame(WsFrame::message(
                bytes.clone(),
                OpCode::Data(Data::Text),
                true,
            )),
        };
        if sink.send(frame).await.is_err() {
            outcome.dropped_by_server = true;
            break;
        }
        outcome.frames_sent += message.packets;
        // Whatever the server said so far; a ping is answered, an end noticed.
        while let Some(incoming) = stream.now_or_never_ready() {
            match incoming {
                Some(Ok(WsMessage::Text(text))) if text.as_str() == "2" => {
                    let _ = sink.send(WsMessage::text("3")).await;
                }
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => {
                    outcome.dropped_by_server = true;
                    break;
                }
                Some(Ok(_)) => {}
            }
        }
        if outcome.dropped_by_server {
            break;
        }
    }
    // Let the server answer the last messages, then close; the server's close is awaited
    // briefly so it does not linger half-open on our side.
    let _ = tokio::time::timeout(LINGER, async { while stream.next().await.is_some() {} }).await;
    let _ = sink.send(WsMessage::Close(None)).await;
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    Ok(outcome)
}

async fn polling(
    base_url: &str,
    http: &reqwest::Client,
    case: &Case,
    connect: Option<String>,
) -> Result<CaseOutcome, FuzzError> {
    let handshake_url = format!("{base_url}/socket.io/?EIO=4&transport=polling");
    // Once more on a transport error: a pooled keep-alive connection may have been closed by
    // the server (after an earlier case's oversized body) just as it was reused.
    let mut open = handshake(http, &handshake_url).await;
    if matches!(&open, Err(FuzzError::Handshake(e)) if e.contains("sending request")) {
        open = handshake(http, &handshake_url).await;
    }
    let open = open?;
    let sid = open
        .strip_prefix('0')
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .and_then(|handshake| handshake["sid"].as_str().map(str::to_owned))
        .ok_or_else(|| FuzzError::Handshake(format!("expected an open packet, got {open:?}")))?;
    let session_url = format!("{handshake_url}&sid={sid}");
    let mut outcome = CaseOutcome::default();
    let post = |body: Vec<u8>| {
        http.post(&session_url)
            .header("content-type", "text/plain;charset=UTF-8")
            .timeout(ANSWER_TIMEOUT)
            .body(body)
            .send()
    };

    if let Some(connect) = connect {
        match post(connect.into_bytes()).await {
            Ok(response) if response.status().is_success() => outcome.frames_sent += 1,
            _ => {
                outcome.dropped_by_server = true;
                return Ok(outcome);
            }
        }
        // The answer comes on a later GET; socketioxide pings right after the handshake, so
        // the first GET may hold only that ping, which is answered.
        let mut answered = false;
        for _ in 0..4 {
            let Ok(response) = http.get(&session_url).timeout(ANSWER_TIMEOUT).send().await else {
                break;
            };
            if !response.status().is_success() {
                break;
            }
            let body = response.text().await.unwrap_or_default();
            if body.split('\x1e').any(|record| record == "2") {
                let _ = post(b"3".to_vec()).await;
            }
            if body
                .split('\x1e')
                .any(|r| r.starts_with("40") || r.starts_with("44"))
            {
                answered = true;
                break;
            }
        }
        if !answered {
            outcome.dropped_by_server = true;
            return Ok(outcome);
        }
    }

    for message in &case.messages {
        let body = match &message.payload {
            Payload::Text(text) => text.clone().into_bytes(),
            Payload::InvalidText(bytes) | Payload::Binary(bytes) => bytes.clone(),
        };
        match post(body).await {
            Ok(response) if response.status().is_success() => {
                outcome.frames_sent += message.packets;
            }
            // A 400 (bad body, unknown session) or a closed connection: the session is over.
            _ => {
                outcome.dropped_by_server = true;
                break;
            }
        }
    }
    // Collect the answers (the server queues them for the next GET), then say goodbye.
    if !outcome.dropped_by_server {
        if let Ok(response) = http.get(&session_url).timeout(ANSWER_TIMEOUT).send().await {
            let _ = response.text().await;
        }
        let _ = post(b"1".to_vec()).await;
    }
    Ok(outcome)
}

async fn handshake(http: &reqwest::Client, url: &str) -> Result<String, FuzzError> {
    let failed = |e: reqwest::Error| {
        let mut detail = format!("polling: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            detail.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        FuzzError::Handshake(detail)
    };
    http.get(url)
        .timeout(ANSWER_TIMEOUT)
        .send()
        .await
        .map_err(failed)?
        .text()
        .await
        .map_err(failed)
}

/// Polls a stream once without waiting: `Some(item)` if one was ready.
trait NowOrNever: StreamExt + Unpin {
    fn now_or_never_ready(&mut self) -> Option<Option<Self::Item>> {
        futures_util::FutureExt::now_or_never(self.next())
    }
}

impl<S: StreamExt + Unpin> NowOrNever for S {}
