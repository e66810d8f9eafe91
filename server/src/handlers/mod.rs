//! Socket.IO handlers: the handshake (authentication) and the events of the seed.
//!
//! [`register`] installs everything on the Socket.IO server ([`Io`]). The connect middleware authenticates,
//! attaches an [`AuthUser`] to the socket and installs its event handler before the client is
//! told it is connected; every event then passes the per-user rate limiter before its handler
//! runs, in arrival order, and answers bad input with an error event instead of failing.
//!
//! Each handshake's outcome, each event received (before the rate limiter, so a dropped one
//! counts too) and each emit is counted in [`crate::metrics`].
//!
//! Refusals: `connect_error` only for final answers (no token, a bad token, an unknown or
//! inactive user). A handshake whose user lookup fails because the database does not answer is
//! held until the database answers again and then looked up again; if the session's connect
//! timeout passes first, socketioxide closes the transport, which the official client retries
//! with its back-off, where it would take a `connect_error` as final. (While the database is
//! known to be down, new sessions do not get this far: [`crate::health`] answers them 503.)

mod notifications;
mod ordering;
mod status;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{Event, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::app::AppState;
use crate::auth::{self, AuthError, AuthUser};
use crate::client_addr::ClientAddr;
use crate::cluster::{Io, Socket};
use crate::metrics;
use crate::socket_service::single_arg;
use ordering::{Ticket, Turnstile};

/// Installs the handshake middleware and the event handlers on the main namespace, and waits
/// until its adapter is ready (in a cluster: its Redis subscriptions are registered).
pub async fn register(io: &Io) -> Result<(), String> {
    io.ns("/", on_connect.with(authenticate)).await
}

async fn authenticate(
    socket: Socket,
    TryData(auth): TryData<Value>,
    State(app): State<AppState>,
) -> Result<(), AuthError> {
    let auth = auth.unwrap_or(Value::Null);
    let header = socket
        .req_parts()
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let token = auth::handshake_token(&auth, header);
    match authenticate_or_hold(&app, token).await {
        Ok(user) => {
            app.metrics.handshake_accepted();
            socket.extensions.insert(user);
            // socket.io puts every socket in a room named after its id, so `to(id)` reaches it
            // from any node; socketioxide does not, so it is done here.
            socket.join(socket.id.to_string());
            socket.extensions.insert(Arc::new(Turnstile::default()));
            // Here, not in the connect handler: socketioxide sends the CONNECT reply and then
            // spawns the connect handler, so a client that emits at once (the seed's browser
            // client subscribes in its `connect` listener) could beat a handler registered there,
            // and its events would be dropped. Middleware finishes before the reply is sent.
            // One handler for every event name, see [`on_event`].
            socket.on_fallback(on_event);
            socket.on_disconnect(async |socket: Socket, reason: DisconnectReason| {
                let user_id = socket.extensions.get::<AuthUser>().map(|u| u.id);
                tracing::info!(user_id = user_id.map(tracing::field::display), socket_id = %socket.id, %reason, "client disconnected");
            });
            Ok(())
        }
        Err(error) => {
            app.metrics.handshake_refused(&error);
            tracing::warn!(
                target: "audit",
                client_addr = client_addr(&socket).map(tracing::field::display),
                socket_id = %socket.id,
                reason = %error,
                "socket authentication refused"
            );
            Err(error)
        }
    }
}

/// [`Authenticator::authenticate`](crate::auth::Authenticator::authenticate), tried again each
/// time the database has answered since the last failure, until [`AppState::handshake_hold`]
/// has passed. The last failure, if it comes to that, goes to a transport socketioxide has
/// closed: the client never sees it.
async fn authenticate_or_hold(app: &AppState, token: Option<&str>) -> Result<AuthUser, AuthError> {
    let deadline = tokio::time::Instant::now() + app.handshake_hold;
    loop {
        let attempt = tokio::time::Instant::now();
        match app.auth.authenticate(token).await {
            Err(AuthError::Unavailable)
                if app
                    .store
                    .availability()
                    .answered_since(attempt, deadline)
                    .await => {}
            outcome => return outcome,
        }
    }
}

async fn on_connect(socket: Socket) {
    let user_id = socket.extensions.get::<AuthUser>().map(|u| u.id);
    tracing::info!(
        user_id = user_id.map(tracing::field::display),
        client_addr = client_addr(&socket).map(tracing::field::display),
        socket_id = %socket.id,
        "client connected"
    );
}

/// Where the socket's handshake came from (see [`crate::client_addr`]).
pub(crate) fn client_addr(socket: &Socket) -> Option<ClientAddr> {
    ClientAddr::of(&socket.req_parts().extensions)
}

/// What a handler needs: who sent the event, on which socket, and the server's state.
pub(crate) struct EventContext {
    pub socket: Socket,
    pub user: AuthUser,
    pub app: AppState,
}

impl EventContext {
    /// Builds the context for `event` if the user still has allowance for it; otherwise tells the
    /// client the event was dropped and returns `None`.
    fn admit(socket: Socket, app: AppState, event: &'static str) -> Option<Self> {
        let user = socket.extensions.get::<AuthUser>()?;
        if !app.limiter.allow(&user.id, event) {
            app.metrics.event_rate_limited(event);
            tracing::warn!(
                target: "audit",
                user_id = %user.id,
                client_addr = client_addr(&socket).map(tracing::field::display),
                socket_id = %socket.id,
                event = %event,
                "rate limit exceeded"
            );
            let ctx = Self { socket, user, app };
            ctx.emit(
                "error",
                &serde_json::json!({ "message": "Rate limit exceeded", "event": event }),
            );
            return None;
        }
        Some(Self { socket, user, app })
    }

    /// Emits one event with one argument to this socket only.
    fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        self.app.metrics.emitted(event);
        if let Err(error) = self.socket.emit(event, &single_arg(data)) {
            tracing::warn!(socket_id = %self.socket.id, event, %error, "could not emit to socket");
        }
    }
}

/// Every event of a socket: counted, then in the socket's arrival order, behind the rate
/// limiter, to its handler with its first argument (if any) unvalidated, so the handler can
/// answer bad input. A name this server does not handle is only counted.
///
/// One fallback handler, not one `socket.on` per event: socketioxide keeps a socket's handlers
/// in a map of its own, a boxed handler per event, for every connected socket (about half a KiB
/// of each idle connection; docs/benchmarks.md, "Memory per connection").
async fn on_event(
    ticket: Ticket,
    socket: Socket,
    State(app): State<AppState>,
    Event(name): Event,
    TryData(arg): TryData<Value>,
) {
    let event = ClientEvent::from_name(&name);
    app.metrics
        .event_received(event.map_or(metrics::OTHER, ClientEvent::name));
    // Every event took a ticket, so every event takes its turn, or later ones would wait forever.
    let _turn = ticket.turn().await;
    let Some(event) = event else {
        return;
    };
    until_connected(&socket).await;
    if let Some(ctx) = EventContext::admit(socket, app, event.name()) {
        let arg = arg.ok();
        match event {
            ClientEvent::SubscribeStatus => status::subscribe(ctx).await,
            ClientEvent::UnsubscribeStatus => status::unsubscribe(ctx),
            ClientEvent::RefreshStatus => status::refresh(ctx).await,
            ClientEvent::SubscribeNotifications => notifications::subscribe(ctx),
            ClientEvent::ReadNotification => notifications::mark_read(ctx, arg).await,
        }
    }
}

/// The events a client may send ([`metrics::RECEIVED_EVENTS`] names them for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientEvent {
    SubscribeStatus,
    UnsubscribeStatus,
    RefreshStatus,
    SubscribeNotifications,
    ReadNotification,
}

impl ClientEvent {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "subscribe:status" => Self::SubscribeStatus,
            "unsubscribe:status" => Self::UnsubscribeStatus,
            "admin:refresh-status" => Self::RefreshStatus,
            "subscribe:notifications" => Self::SubscribeNotifications,
            "notification:read" => Self::ReadNotification,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::SubscribeStatus => "subscribe:status",
            Self::UnsubscribeStatus => "unsubscribe:status",
            Self::RefreshStatus => "admin:refresh-status",
            Self::SubscribeNotifications => "subscribe:notifications",
            Self::ReadNotification => "notification:read",
        }
    }
}

/// How long an event waits for its socket to be marked connected; see [`until_connected`].
const CONNECTED_WAIT: Duration = Duration::from_millis(100);

/// socketioxide sends the CONNECT reply and only then marks the socket connected, and refuses to
/// emit to a socket not so marked. A client that answers the reply at once (the seed's client
/// subscribes in its `connect` listener) can have its first event handled in that gap, on
/// another thread, and lose the answer (a reconnect storm hit it about once in 50 000). The gap
/// is a few instructions, so a short wait closes it; a socket never marked was closed meanwhile,
/// and the handler runs as it would have.
async fn until_connected(socket: &Socket) {
    let deadline = tokio::time::Instant::now() + CONNECTED_WAIT;
    while !socket.connected() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counted_event_name_has_its_handler() {
        for name in metrics::RECEIVED_EVENTS {
            let event = ClientEvent::from_name(name);
            assert_eq!(event.map(ClientEvent::name), Some(name));
        }
        assert_eq!(ClientEvent::from_name("subscribe"), None);
    }
}
