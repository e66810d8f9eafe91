//! The socket service (seed section 6): how the rest of the backend pushes events to clients.
//!
//! It is a thin, typed face on the Socket.IO server ([`Io`]): the HTTP API uses it, and so can any other code that
//! holds a clone. Emitting to an empty room is not an error, as in socket.io.

use serde::Serialize;

use crate::clock;
use crate::cluster::Io;
use crate::metrics::Metrics;
use crate::rooms;
use crate::store::Notification;

/// An event with no arguments (`socket.emit("name")` in JavaScript), not one `null` argument.
pub const NO_ARGS: [(); 0] = [];

/// Wraps `data` so socketioxide sends it as one argument: it spreads arrays and tuples into
/// several arguments, which would turn `status:current`'s array into one argument per row.
pub fn single_arg<T: Serialize + ?Sized>(data: &T) -> (&T,) {
    (data,)
}

#[derive(Debug, thiserror::Error)]
#[error("could not emit {event:?} to room {room:?}: {reason}")]
pub struct EmitError {
    pub room: String,
    pub event: String,
    pub reason: String,
}

/// `service:status` payload.
#[derive(Debug, Clone, Serialize)]
pub struct StatusUpdate<'a> {
    pub service: &'a str,
    pub status: &'a str,
    pub timestamp: String,
}

#[derive(Clone)]
pub struct SocketService {
    io: Io,
    metrics: Metrics,
}

impl SocketService {
    /// Counts its emits in `metrics`.
    pub fn new(io: Io, metrics: Metrics) -> Self {
        Self { io, metrics }
    }

    /// The Socket.IO server, for what this service does not wrap (fetching or disconnecting
    /// sockets across the cluster, emits with acks).
    pub fn io(&self) -> &Io {
        &self.io
    }

    /// Emits `event` with `data` as its single argument to every socket in `room`.
    pub async fn emit_to_room<T: Serialize + ?Sized>(
        &self,
        room: &str,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.metrics.emitted(event);
        self.io
            .to(room.to_owned())
            .emit(event.to_owned(), &single_arg(data))
            .await
            .map_err(|e| EmitError {
                room: room.to_owned(),
                event: event.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Emits to every subscribed socket of one user.
    pub async fn emit_to_user<T: Serialize + ?Sized>(
        &self,
        user_id: &str,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.emit_to_room(&rooms::user_room(user_id), event, data)
            .await
    }

    /// Tells status subscribers that `service` is now `status`.
    pub async fn broadcast_status_update(
        &self,
        service: &str,
        status: &str,
    ) -> Result<(), EmitError> {
        let update = StatusUpdate {
            service,
            status,
            timestamp: clock::now_iso(),
        };
        self.emit_to_room(rooms::STATUS_UPDATES, "service:status", &update)
            .await
    }

    /// Pushes a stored notification to its user.
    pub async fn send_notification(&self, notification: &Notification) -> Result<(), EmitError> {
        self.emit_to_user(&notification.user_id, "notification:new", notification)
            .await
    }

    /// Number of sockets connected to the main namespace.
    pub fn connected_sockets(&self) -> usize {
        self.io.of("/").map(|ns| ns.sockets().len()).unwrap_or(0)
    }

    /// Sockets connected to the main namespace on long-polling and on websocket (after an
    /// upgrade, websocket).
    pub fn connected_by_transport(&self) -> (usize, usize) {
        let sockets = self.io.of("/").map(|ns| ns.sockets()).unwrap_or_default();
        let websocket = sockets
            .iter()
            .filter(|socket| socket.transport_type() == socketioxide::TransportType::Websocket)
            .count();
        (sockets.len() - websocket, websocket)
    }
}
