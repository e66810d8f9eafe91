//! The Socket.IO server the socket.io-protocol suite expects (upstream's reference
//! configuration in socket.io-protocol's README; socketioxide's: `e2e/socketioxide`):
//! namespaces `/` and `/custom`, each emitting `auth` with the handshake's auth payload; on `/`,
//! `message` echoed as `message-back`, `message-with-ack` acknowledged with its own arguments,
//! and `emit-with-ack` (socketioxide's addition) sent back with an ack request whose answer is
//! emitted again.

use std::{fmt, time::Duration};

use engineioxide::service::NotFoundService;
use rmpv::Value;
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{SeqAccess, Visitor},
    ser::SerializeTuple,
};
use socketioxide::{
    SocketIo,
    extract::{AckSender, Data, SocketRef},
    service::SocketIoService,
};

use crate::{MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT};

/// How long a socket may stay without a namespace after its Engine.IO handshake (the suite's
/// "no handshake" case waits for the close).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
const ACK_TIMEOUT: Duration = Duration::from_millis(200);

pub fn service() -> SocketIoService<NotFoundService> {
    let (svc, io) = SocketIo::builder()
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .max_payload(MAX_PAYLOAD)
        .connect_timeout(CONNECT_TIMEOUT)
        .ack_timeout(ACK_TIMEOUT)
        .build_svc();
    io.ns("/", on_connect_main);
    io.ns("/custom", on_connect);
    svc
}

/// Every argument of an event or an ack, however many and of whatever type (binary included).
/// socketioxide spreads a serde tuple into separate arguments and collects every argument into
/// one only for a tuple, so `Args` reads and writes itself as a tuple of any length.
struct Args(Vec<Value>);

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in &self.0 {
            tuple.serialize_element(arg)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the arguments of an event")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut args = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(Args(args))
            }
        }
        // The length is ignored by the JSON deserializer; the sequence says where it ends.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

async fn on_connect(socket: SocketRef, Data(auth): Data<Value>) {
    if let Err(err) = socket.emit("auth", &auth) {
        tracing::warn!(sid = %socket.id, "auth echo not sent: {err}");
    }
}

async fn on_connect_main(socket: SocketRef, auth: Data<Value>) {
    socket.on("message", on_message);
    socket.on("message-with-ack", on_message_with_ack);
    socket.on("emit-with-ack", on_emit_with_ack);
    on_connect(socket, auth).await;
}

async fn on_message(socket: SocketRef, Data(args): Data<Args>) {
    if let Err(err) = socket.emit("message-back", &args) {
        tracing::warn!(sid = %socket.id, "message-back not sent: {err}");
    }
}

async fn on_message_with_ack(Data(args): Data<Args>, ack: AckSender) {
    if let Err(err) = ack.send(&args) {
        tracing::warn!("ack not sent: {err}");
    }
}

/// Sends the arguments back with an ack request, then emits the ack's arguments.
async fn on_emit_with_ack(socket: SocketRef, Data(args): Data<Args>) {
    let answer = match socket.emit_with_ack::<_, Args>("emit-with-ack", &args) {
        Ok(pending) => pending.await,
        Err(err) => {
            tracing::warn!(sid = %socket.id, "emit-with-ack not sent: {err}");
            return;
        }
    };
    match answer {
        Ok(answer) => {
            if let Err(err) = socket.emit("emit-with-ack", &answer) {
                tracing::warn!(sid = %socket.id, "ack echo not sent: {err}");
            }
        }
        Err(err) => tracing::warn!(sid = %socket.id, "no ack: {err}"),
    }
}
