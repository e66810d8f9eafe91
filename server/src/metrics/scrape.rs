//! `GET /metrics`: the registry rendered for Prometheus, behind a bearer token when
//! `METRICS_TOKEN` is set.
//!
//! The token is compared in constant time (its length aside), is never logged (it is one of the
//! log writer's secrets, see [`crate::logging`]), and a refused scrape learns nothing but 401.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq;

use super::Sources;

/// The media type of prometheus-client's encoder (OpenMetrics text, which Prometheus asks for
/// first and parses like the classic text format).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The bearer token a scrape must carry; its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(Arc<str>);

impl MetricsToken {
    /// `None` for an empty token: an empty `METRICS_TOKEN` would otherwise accept `Bearer `.
    pub fn new(token: &str) -> Option<Self> {
        (!token.is_empty()).then(|| Self(Arc::from(token)))
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`.
    fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(credentials) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, rest) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
            })
        else {
            return false;
        };
        bool::from(credentials.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

/// What the endpoint serves and who may read it.
#[derive(Clone)]
pub struct ScrapeState {
    registry: Arc<Registry>,
    token: Option<MetricsToken>,
}

impl ScrapeState {
    /// Says once in the log whether scrapes are open.
    pub fn new(sources: Sources, token: Option<MetricsToken>) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(sources));
        if token.is_none() {
            tracing::warn!(
                "GET /metrics is open to anyone who reaches this port: set METRICS_TOKEN to require a bearer token"
            );
        }
        Self {
            registry: Arc::new(registry),
            token,
        }
    }
}

pub fn router(state: ScrapeState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<ScrapeState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.token
        && !token.admits(&headers)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response();
    }
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "could not render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            value.parse().expect("a header value"),
        );
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = MetricsToken::new("scrape-token-123").expect("not empty");
        assert!(token.admits(&with_authorization("Bearer scrape-token-123")));
        assert!(token.admits(&with_authorization("bearer scrape-token-123")));
        for refused in [
            "Bearer scrape-token-12",
            "Bearer scrape-token-1234",
            "Basic scrape-token-123",
            "scrape-token-123",
            "Bearer ",
        ] {
            assert!(!token.admits(&with_authorization(refused)), "{refused}");
        }
        assert!(!token.admits(&HeaderMap::new()));
        assert_eq!(MetricsToken::new(""), None);
        assert_eq!(format!("{token:?}"), "MetricsToken(<redacted>)");
    }
}
