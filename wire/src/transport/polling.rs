//! The long-polling transport: GET and POST requests with the client's headers and cookies,
//! payloads of `\x1e`-separated packets, and a link served by a reader and a writer task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use super::{
    EndpointOptions, Link, LinkCommand, LinkEvent, LinkIo, LocalLimit, OpenError, TransportKind,
};
use crate::codec::engine::{self, EnginePacket, Frame, Handshake};

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

/// The polling handshake: the `open` packet, and whatever the server sent with it.
pub(super) async fn handshake(
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
pub(super) async fn poll_loop(
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
                    handshake: false,
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
                        handshake: true,
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

/// A link over long-polling: a reader task runs the GET loop, a writer task batches what is
/// queued into POSTs.
pub(super) fn spawn_link(
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
                            handshake: false,
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
