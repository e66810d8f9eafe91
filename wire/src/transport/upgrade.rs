//! Polling upgraded to websocket, as the browser client does by default: the session opens over
//! long-polling, a websocket probes it, polling pauses, `5` upgrades. It is done before the
//! link is handed over, so the layer above starts on the final transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::{EndpointOptions, Link, LinkEvent, OpenError, TransportKind, polling, websocket};
use crate::codec::engine::EnginePacket;

/// Polling handshake, websocket probe, pause polling, `5`: then everything goes over websocket.
pub(super) async fn upgrade(options: &EndpointOptions) -> Result<Link, OpenError> {
    let (handshake, early) = polling::handshake(options).await?;
    if !handshake.upgrades.iter().any(|u| u == "websocket") {
        return Err(OpenError::Upgrade(
            "server offers no websocket upgrade".into(),
        ));
    }
    let (poll_tx, mut poll_rx) = mpsc::unbounded_channel();
    let paused = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(polling::poll_loop(
        options.clone(),
        handshake.sid.clone(),
        poll_tx,
        paused.clone(),
    ));

    // Pause first: the GET in flight then ends (the server answers it with a noop once it sees
    // the probe) and no new one starts behind it.
    paused.store(true, Ordering::SeqCst);
    let mut ws = websocket::connect(options, Some(&handshake.sid)).await?;
    ws.send(Message::text("2probe"))
        .await
        .map_err(|e| OpenError::Upgrade(e.to_string()))?;
    match websocket::next_packet(&mut ws).await? {
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
    Ok(websocket::link(
        ws,
        handshake,
        TransportKind::Upgrade,
        carried,
    ))
}
