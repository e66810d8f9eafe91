//! Assembly and lifecycle: open the store, bind the listener, wire Socket.IO and the HTTP API
//! into one axum router, serve, and shut down in order.
//!
//! Shutdown order: refuse new requests (503), stop the Uptime Kuma feed if it runs, close every
//! socket's transport (clients see the connection drop and reconnect, here after the restart or
//! on another node), let queued cross-node messages reach Redis (briefly) and close the Redis
//! link, stop accepting, let in-flight HTTP requests finish, then close the database.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use socketioxide::SocketIo;
use tokio::net::{TcpListener, TcpSocket};
use tower_http::cors::CorsLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::auth::{Authenticator, JwtSecret};
use crate::client_addr::{self, TrustedProxies};
use crate::cluster::{AdapterKind, Cluster, ClusterAdapter, ClusterError, Io, RedisUrl};
use crate::handlers;
use crate::health::{self, HealthState};
use crate::http_api::{self, ApiState};
use crate::http_server;
use crate::kuma::{FeedHandle, FeedTask, KumaClient, KumaConfig};
use crate::metrics::{self, Metrics, MetricsToken, ScrapeState};
use crate::page;
use crate::rate_limit::{EventRateLimiter, RateQuota};
use crate::request_head;
use crate::socket_service::SocketService;
use crate::store::{Store, StoreError, StoreSettings};

/// Pending connections the kernel may queue; reconnect storms need far more than the default 128.
/// The kernel caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 65_535;

/// Largest Engine.IO packet accepted, in bytes, the same on every transport.
pub const MAX_PAYLOAD: u64 = 100_000;

/// Everything the server needs to run, independent of how it was configured.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    pub port: u16,
    pub secret: JwtSecret,
    pub frontend_url: String,
    pub database_url: String,
    pub store: StoreSettings,
    pub rate_quota: RateQuota,
    pub heartbeat: Heartbeat,
    /// How long an Engine.IO session may stay open without connecting to a namespace. socketioxide
    /// keeps a closed session's state until this timer fires, so it also bounds how long an
    /// abandoned handshake holds memory (docs/benchmarks.md, churn).
    pub connect_timeout: Duration,
    /// Share rooms and broadcasts with other processes through this Redis (see [`crate::cluster`]).
    pub redis_url: Option<RedisUrl>,
    /// The protocol spoken on Redis (see [`crate::cluster::AdapterKind`]).
    pub redis_adapter: AdapterKind,
    /// Proxies whose `X-Forwarded-For` names the client in the logs (see [`crate::client_addr`]).
    pub trusted_proxies: TrustedProxies,
    /// The bearer token `GET /metrics` requires; `None`: open (see [`crate::metrics`]).
    pub metrics_token: Option<MetricsToken>,
}

/// socketioxide's default is socket.io's 45 s; a closed connection's state then lingered that
/// long under churn. 10 s still leaves a slow long-polling client ample time to connect.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Engine.IO heartbeat: the server pings every `interval` and drops a client that has not
/// answered within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for Heartbeat {
    /// socket.io's defaults.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(25),
            timeout: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("FRONTEND_URL {0:?} is not a valid origin")]
    InvalidFrontendUrl(String),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot start the Uptime Kuma feed: {0}")]
    KumaFeed(#[from] crate::kuma::KumaClientError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot set up the Socket.IO namespace: {0}")]
    Namespace(String),
}

/// State shared by the Socket.IO handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub auth: Authenticator,
    pub limiter: EventRateLimiter,
    /// The Uptime Kuma feed, a no-op handle when none runs.
    pub kuma: FeedHandle,
    /// How long a handshake whose user lookup failed may wait for the database (see
    /// [`handlers`]): past the session's connect timeout, by which socketioxide has closed the
    /// transport.
    pub handshake_hold: Duration,
    /// The counters `/metrics` shows.
    pub metrics: Metrics,
}

/// How long past the connect timeout a held handshake waits, so that socketioxide's own timer
/// (which closes the transport) has surely fired first.
const HANDSHAKE_HOLD_MARGIN: Duration = Duration::from_secs(1);

/// A bound, ready server; [`Server::run`] serves until the shutdown future completes.
pub struct Server {
    listener: TcpListener,
    router: Router,
    io: Io,
    cluster: Cluster,
    state: AppState,
    draining: Draining,
    kuma: Option<(KumaConfig, KumaClient)>,
}

/// Set once shutdown has begun. Until the listener closes, new requests get 503: a client that
/// reconnects at that moment meets a transport error, which it retries, instead of a namespace
/// refusal from a closing Socket.IO server (`Invalid namespace`), which it would take as final.
#[derive(Clone, Default)]
struct Draining(Arc<AtomicBool>);

async fn refuse_while_draining(
    State(draining): State<Draining>,
    request: Request,
    next: Next,
) -> Response {
    if draining.0.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "server is shutting down",
        )
            .into_response();
    }
    next.run(request).await
}

impl Server {
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let store = Store::start(&config.database_url, &config.store).await?;
        let origin = HeaderValue::from_str(config.frontend_url.trim_end_matches('/'))
            .map_err(|_| ServerError::InvalidFrontendUrl(config.frontend_url.clone()))?;
        let state = AppState {
            auth: Authenticator::new(&config.secret, store.clone()),
            limiter: EventRateLimiter::new(config.rate_quota),
            store,
            kuma: FeedHandle::default(),
            handshake_hold: config.connect_timeout + HANDSHAKE_HOLD_MARGIN,
            metrics: Metrics::default(),
        };

        let cluster = Cluster::start(config.redis_url.as_ref(), config.redis_adapter)?;
        let (socket_layer, io) = SocketIo::builder()
            .ping_interval(config.heartbeat.interval)
            .ping_timeout(config.heartbeat.timeout)
            .connect_timeout(config.connect_timeout)
            .max_payload(MAX_PAYLOAD)
            .ws_max_message_size(MAX_PAYLOAD as usize)
            .ws_max_frame_size(MAX_PAYLOAD as usize)
            // tungstenite allocates this read buffer up front for every websocket connection
            // and keeps it for the connection's life; every event a client of this server
            // sends fits in 256 bytes, and a larger frame grows the buffer as it needs
            // (docs/benchmarks.md, "Memory per connection").
            .ws_read_buffer_size(256)
            .with_state(state.clone())
            .with_adapter::<ClusterAdapter>(cluster.adapter_choice())
            .build_layer();
        handlers::register(&io)
            .await
            .map_err(ServerError::Namespace)?;

        let api = ApiState {
            store: state.store.clone(),
            auth: state.auth.clone(),
            sockets: SocketService::new(io.clone(), state.metrics.clone()),
        };
        let health = HealthState {
            database: state.store.availability().clone(),
            sockets: SocketService::new(io.clone(), state.metrics.clone()),
            kuma: state.kuma.clone(),
            cluster: cluster.clone(),
        };
        let scrape = ScrapeState::new(
            metrics::Sources {
                metrics: state.metrics.clone(),
                sockets: SocketService::new(io.clone(), state.metrics.clone()),
                store: state.store.clone(),
                kuma: state.kuma.clone(),
                cluster: cluster.clone(),
            },
            config.metrics_token.clone(),
        );
        let cors = CorsLayer::new()
            .allow_origin(origin)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
        let draining = Draining::default();
        let router = http_api::router(api)
            .merge(health::router(health))
            .merge(page::router())
            .merge(metrics::router(scrape))
            .layer(socket_layer)
            .layer(axum::middleware::from_fn_with_state(
                state.store.availability().clone(),
                health::refuse_new_sessions_while_database_down,
            ))
            .layer(axum::middleware::from_fn_with_state(
                draining.clone(),
                refuse_while_draining,
            ))
            .layer(cors)
            // A 5xx is logged where it is decided (a database error, the outage's one line),
            // not again for every response: during a database outage every refused handshake
            // and every load-balancer check would be an ERROR line.
            .layer(
                TraceLayer::new_for_http()
                    .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
            )
            .layer(axum::middleware::map_request_with_state(
                config.trusted_proxies.clone(),
                client_addr::attach,
            ))
            .layer(axum::middleware::map_request(async |request| {
                request_head::detach(request)
            }));

        let addr = SocketAddr::new(config.host, config.port);
        let listener = listen(addr).map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self {
            listener,
            router,
            io,
            cluster,
            state,
            draining,
            kuma: None,
        })
    }

    /// Runs the Uptime Kuma feed (see [`crate::kuma`]) while the server serves.
    pub fn with_kuma_feed(mut self, config: KumaConfig) -> Result<Self, ServerError> {
        let client = KumaClient::new(&config)?;
        self.kuma = Some((config, client));
        Ok(self)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The socket service, for code in the same process that pushes events.
    pub fn sockets(&self) -> SocketService {
        SocketService::new(self.io.clone(), self.state.metrics.clone())
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self {
            listener,
            router,
            io,
            cluster,
            state,
            draining,
            kuma,
        } = self;
        let pruner = state.limiter.spawn_pruner();
        let feed = kuma.map(|(config, client)| {
            FeedTask::spawn(
                config,
                client,
                state.store.clone(),
                SocketService::new(io.clone(), state.metrics.clone()),
                state.kuma.clone(),
            )
        });
        let closing_io = io.clone();
        let served = http_server::serve(listener, router, async move {
            shutdown.await;
            draining.0.store(true, Ordering::Release);
            // First, so no status is broadcast to sockets being closed or written to a
            // store about to close.
            if let Some(feed) = feed {
                feed.stop().await;
            }
            tracing::info!("shutting down: closing socket connections");
            closing_io.close().await;
            tracing::info!("socket connections closed");
            cluster.shutdown().await;
        })
        .await;
        pruner.abort();
        state.store.close().await;
        tracing::info!("database closed");
        served.map_err(ServerError::Serve)
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
