//! The Engine.IO server the engine.io-protocol suite expects: every text and binary message
//! echoed back on the session it came from (upstream's reference: `engine.io`'s `listen` with
//! `socket.on("data", socket.send)`; socketioxide's: `e2e/engineioxide`).

use std::sync::Arc;

use bytes::Bytes;
use engineioxide::{
    Str,
    config::EngineIoConfig,
    handler::EngineIoHandler,
    service::EngineIoService,
    socket::{DisconnectReason, Socket},
};

use crate::{MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT};

#[derive(Debug)]
pub struct Echo;

impl EngineIoHandler for Echo {
    type Data = ();

    fn on_connect(self: Arc<Self>, socket: Arc<Socket<()>>) {
        tracing::debug!(sid = %socket.id, "open");
    }

    fn on_disconnect(&self, socket: Arc<Socket<()>>, reason: DisconnectReason) {
        tracing::debug!(sid = %socket.id, ?reason, "close");
    }

    fn on_message(self: &Arc<Self>, msg: Str, socket: Arc<Socket<()>>) {
        // A full queue or a closed session: the suite sees the missing echo and fails.
        if let Err(err) = socket.emit(msg) {
            tracing::warn!(sid = %socket.id, "echo not sent: {err}");
        }
    }

    fn on_binary(self: &Arc<Self>, data: Bytes, socket: Arc<Socket<()>>) {
        if let Err(err) = socket.emit_binary(data) {
            tracing::warn!(sid = %socket.id, "binary echo not sent: {err}");
        }
    }
}

pub fn service() -> EngineIoService<Echo> {
    let config = EngineIoConfig::builder()
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .max_payload(MAX_PAYLOAD)
        .build();
    EngineIoService::with_config(Arc::new(Echo), config)
}
