//! The HTTP API other backend code uses to reach the socket service (health is in
//! [`crate::health`]).
//!
//! `POST /api/v1/notifications` and `PUT /api/v1/status/{service}` store first and push second,
//! so a client that reconnects and reloads sees what it missed. Errors are JSON
//! `{"error": "..."}` with 400, 401, 403, 404, or 503 while the database is unreachable (at once
//! while it is known to be down: see [`crate::store::availability`]).

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::auth::{self, AuthError, AuthUser, Authenticator};
use crate::client_addr::ClientAddr;
use crate::service_state::ServiceState;
use crate::socket_service::SocketService;
use crate::store::{Change, NewNotification, StatusReport, Store, StoreError};

/// Largest request body accepted by the API.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_TITLE_LEN: usize = 200;
const MAX_MESSAGE_LEN: usize = 4000;
const MAX_SHORT_FIELD_LEN: usize = 64;

#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub auth: Authenticator,
    pub sockets: SocketService,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/api/v1/notifications",
            post(create_notification).get(list_notifications),
        )
        .route("/api/v1/status/{service}", put(record_status))
        .route("/api/v1/me", get(current_user))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// An API failure, rendered as a JSON error with its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(AuthError),
    #[error("Admin role required")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Internal server error")]
    Internal,
    /// The database is unreachable (`Service temporarily unavailable`).
    #[error("{0}")]
    Unavailable(AuthError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        // An outage is logged once, by the store's probe, not by every call it fails.
        if error.is_unavailable() {
            return ApiError::Unavailable(AuthError::Unavailable);
        }
        tracing::error!(%error, "database error in HTTP API");
        ApiError::Internal
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// The authenticated caller of an API request, and where it called from.
pub struct Caller {
    pub user: AuthUser,
    /// `None` only for a request that did not come through the server's accept loop.
    pub client: Option<ClientAddr>,
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(auth::bearer_token);
        let client = ClientAddr::of(&parts.extensions);
        match state.auth.authenticate(token).await {
            Ok(user) => Ok(Caller { user, client }),
            Err(AuthError::Unavailable) => Err(ApiError::Unavailable(AuthError::Unavailable)),
            Err(error) => {
                tracing::warn!(
                    target: "audit",
                    client_addr = client.map(tracing::field::display),
                    method = %parts.method,
                    path = %parts.uri.path(),
                    reason = %error,
                    "HTTP request refused"
                );
                Err(ApiError::Unauthorized(error))
            }
        }
    }
}

impl Caller {
    fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.is_admin() {
            return Ok(());
        }
        tracing::warn!(
            target: "audit",
            user_id = %self.user.id,
            client_addr = self.client.map(tracing::field::display),
            "HTTP request refused: admin role required"
        );
        Err(ApiError::Forbidden)
    }
}

async fn create_notification(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let Json(body) = body?;
    let body = only_fields(&body, &["userId", "title", "message", "type"])?;
    let user_id = required_text("userId", body.get("userId"), MAX_SHORT_FIELD_LEN)?;
    let title = required_text("title", body.get("title"), MAX_TITLE_LEN)?;
    let message = required_text("message", body.get("message"), MAX_MESSAGE_LEN)?;
    let kind = match body.get("type") {
        Some(kind) => required_text("type", Some(kind), MAX_SHORT_FIELD_LEN)?,
        None => "info".to_owned(),
    };
    if state.store.find_user(&user_id).await?.is_none() {
        return Err(ApiError::NotFound("User not found".to_owned()));
    }
    let notification = state
        .store
        .create_notification(NewNotification {
            user_id,
            title,
            message,
            kind,
        })
        .await?;
    tracing::info!(
        target: "audit",
        user_id = %caller.user.id,
        client_addr = caller.client.map(tracing::field::display),
        to_user = %notification.user_id,
        notification_id = %notification.id,
        "notification pushed over HTTP"
    );
    if let Err(error) = state.sockets.send_notification(&notification).await {
        tracing::error!(%error, "stored notification could not be pushed");
    }
    Ok((StatusCode::CREATED, Json(notification)))
}

/// Who the token signs in as (`{id, email, role}`): the dashboard shows admin controls by it.
async fn current_user(caller: Caller) -> Json<AuthUser> {
    Json(caller.user)
}

async fn list_notifications(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.notifications_for(&caller.user.id).await?))
}

async fn record_status(
    State(state): State<ApiState>,
    caller: Caller,
    Path(service): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let Json(body) = body?;
    let body = only_fields(&body, &["status", "responseTime", "uptime"])?;
    let service = required_text(
        "service",
        Some(&Value::String(service)),
        MAX_SHORT_FIELD_LEN,
    )?;
    let status = required_text("status", body.get("status"), MAX_SHORT_FIELD_LEN)?;
    if ServiceState::parse(&status).is_none() {
        return Err(ApiError::BadRequest(format!(
            "status must be one of {}",
            ServiceState::listed()
        )));
    }
    // A field left out keeps its stored value; `null` clears it.
    let response_time = match body.get("responseTime") {
        None => Change::Keep,
        Some(Value::Null) => Change::To(None),
        // Any integer, `12.0` included, as JavaScript's `Number.isInteger` sees it.
        Some(ms) => Change::To(Some(
            ms.as_i64()
                .or_else(|| {
                    ms.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .filter(|ms| *ms >= 0)
                .ok_or_else(|| {
                    ApiError::BadRequest("responseTime must not be negative".to_owned())
                })?,
        )),
    };
    let uptime = match body.get("uptime") {
        None => Change::Keep,
        Some(Value::Null) => Change::To(None),
        Some(uptime) => Change::To(Some(
            uptime
                .as_f64()
                .filter(|u| (0.0..=100.0).contains(u))
                .ok_or_else(|| {
                    ApiError::BadRequest("uptime must be between 0 and 100".to_owned())
                })?,
        )),
    };
    let stored = state
        .store
        .record_status(
            &service,
            StatusReport {
                status,
                response_time,
                uptime,
                checked_at: None,
            },
        )
        .await?;
    tracing::info!(
        target: "audit",
        user_id = %caller.user.id,
        client_addr = caller.client.map(tracing::field::display),
        service = %stored.service,
        status = %stored.status,
        "status changed over HTTP"
    );
    if let Err(error) = state
        .sockets
        .broadcast_status_update(&stored.service, &stored.status)
        .await
    {
        tracing::error!(%error, "stored status could not be broadcast");
    }
    Ok(Json(stored))
}

/// The body as an object with no field outside `allowed`; the messages are the Node original's,
/// word for word (a body that is not JSON at all is axum's rejection: compatibility.md row 16).
fn only_fields<'a>(body: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("body must be a JSON object".to_owned()))?;
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(unknown) => Err(ApiError::BadRequest(format!("unknown field {unknown}"))),
        None => Ok(object),
    }
}

/// A string field, trimmed, non-empty, of at most `max` characters.
fn required_text(field: &str, value: Option<&Value>, max: usize) -> Result<String, ApiError> {
    let Some(Value::String(value)) = value else {
        return Err(ApiError::BadRequest(format!("{field} must be a string")));
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::BadRequest(format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(trimmed.to_owned())
}
