//! Health for load balancers, supervisors and people: `/health`, `/health/live`,
//! `/health/ready`, and the gate that refuses new Engine.IO sessions while the database is down.
//!
//! Every answer comes from memory (the database's state as its background probe last saw it,
//! see [`crate::store::availability`]), so it takes microseconds whatever the database does.
//!
//! - `/health/live`: 200 while the process serves HTTP. A supervisor restarts a process that
//!   fails it; a load balancer keeps sending it the page, the API and existing sessions.
//! - `/health/ready`: 200 while the node can take new sessions (its database answers), else 503.
//!   A load balancer sends new sessions only to ready nodes.
//! - `/health`: the compatible summary (200 `status: ok`, or 503 `database: down`), with the
//!   Uptime Kuma feed's and the Redis link's state when they run.
//!
//! While the database is known to be down, a new Engine.IO session (a `/socket.io/` request
//! without `sid`) is answered 503 with `Retry-After` before socketioxide sees it: the official
//! client retries a failed transport with its own back-off, whereas a `connect_error` would be
//! final for it. Existing sessions go on.

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::cluster::Cluster;
use crate::kuma::FeedHandle;
use crate::socket_service::SocketService;
use crate::store::Availability;

/// What the health endpoints report on.
#[derive(Clone)]
pub struct HealthState {
    pub database: Availability,
    pub sockets: SocketService,
    pub kuma: FeedHandle,
    pub cluster: Cluster,
}

pub fn router(state: HealthState) -> Router {
    Router::new()
        .route("/health", get(summary))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state)
}

/// The path socketioxide serves Engine.IO on (its default, which the server keeps), with or
/// without the trailing slash clients send.
const ENGINE_IO_PATH: &str = "/socket.io";
/// Seconds a refused client is told to wait; the official client ignores it and uses its own
/// back-off, a load balancer or a plain HTTP client may use it.
const RETRY_AFTER_SECS: &str = "1";

/// 200 whenever the process answers at all.
async fn live() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// 200 when new sessions can be taken, 503 while the database is down.
async fn ready(State(state): State<HealthState>) -> Response {
    if state.database.is_up() {
        Json(json!({ "status": "ok", "database": "up" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "database": "down" })),
        )
            .into_response()
    }
}

/// 200 while the database answers, else 503: the same fields as before readiness existed. With
/// the Uptime Kuma feed on, `kuma` tells the feed's state; in a cluster, `adapter` tells the
/// Redis link's (Redis being away does not make this 503: the node still serves its own clients).
async fn summary(State(state): State<HealthState>) -> Response {
    let connections = state.sockets.connected_sockets();
    let up = state.database.is_up();
    let mut body = if up {
        json!({ "status": "ok", "connections": connections })
    } else {
        json!({ "status": "error", "database": "down", "connections": connections })
    };
    if let Some(feed) = state.kuma.health() {
        body["kuma"] = json!(feed);
    }
    if let Some(link) = state.cluster.health() {
        body["adapter"] = json!(link);
    }
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Middleware: while the database is down, a new Engine.IO session gets 503 and `Retry-After`.
pub async fn refuse_new_sessions_while_database_down(
    State(database): State<Availability>,
    request: Request,
    next: Next,
) -> Response {
    if !database.is_up() && opens_engine_io_session(&request) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
            "database unavailable: retry later",
        )
            .into_response();
    }
    next.run(request).await
}

/// An Engine.IO handshake: a request on its path without a session id (long-polling's first
/// GET, or a websocket-only client's upgrade).
fn opens_engine_io_session(request: &Request) -> bool {
    request.uri().path().trim_end_matches('/') == ENGINE_IO_PATH
        && !request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .any(|pair| pair.starts_with("sid="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request {
        Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .expect("valid request")
    }

    #[test]
    fn only_handshakes_open_a_session() {
        assert!(opens_engine_io_session(&request(
            "/socket.io/?EIO=4&transport=polling"
        )));
        assert!(opens_engine_io_session(&request(
            "/socket.io/?EIO=4&transport=websocket"
        )));
        assert!(!opens_engine_io_session(&request(
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!opens_engine_io_session(&request(
            "/socket.io/?sid=abc&EIO=4&transport=websocket"
        )));
        assert!(!opens_engine_io_session(&request("/health")));
        assert!(!opens_engine_io_session(&request("/")));
    }
}
