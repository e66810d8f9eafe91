//! A running server for one test, and small helpers to drive clients against it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use realtime_server::auth::JwtSecret;
use realtime_server::rate_limit::RateQuota;
use realtime_server::store::{Store, StoreSettings};
use realtime_server::{Server, ServerConfig};
use serde_json::Value;
use sio_harness::client::{Client, ClientOptions, NamespaceOptions, Observed, ReconnectPolicy};
use sio_harness::transport::TransportKind;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const FIXTURES: &str = include_str!("../../../scenarios/fixtures.sql");
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub secret: JwtSecret,
    /// The secret as text, for clients that mint their own tokens (the harness).
    pub secret_text: String,
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<Result<(), realtime_server::ServerError>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with_quota(RateQuota::default()).await
    }

    pub async fn start_with_quota(rate_quota: RateQuota) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("test.db").display());
        Self::start_on(database_url, StoreSettings::default(), rate_quota, dir).await
    }

    /// A server on `database_url` (loaded with the fixtures); `dir` lives as long as it.
    pub async fn start_on(
        database_url: String,
        store: StoreSettings,
        rate_quota: RateQuota,
        dir: tempfile::TempDir,
    ) -> Self {
        let secret_text: String = (0..4)
            .map(|_| format!("{:016x}", rand::random::<u64>()))
            .collect();
        let secret = JwtSecret::new(&secret_text).expect("long enough");
        let config = ServerConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            secret: secret.clone(),
            frontend_url: "http://localhost:3000".into(),
            database_url,
            store,
            rate_quota,
            heartbeat: realtime_server::app::Heartbeat::default(),
        };
        let server = Server::bind(config).await.expect("server binds");
        server
            .store()
            .run_script(FIXTURES)
            .await
            .expect("fixtures load");
        let store = server.store().clone();
        let addr = server.local_addr().expect("bound address");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            secret,
            secret_text,
            store,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self, user: &str) -> String {
        self.secret.mint(user, Duration::from_secs(3600))
    }

    /// A client for `user` (token in `auth`) on `transport`, without reconnection.
    pub fn client(&self, user: &str, transport: TransportKind) -> Client {
        let auth = serde_json::json!({ "token": self.token(user) });
        self.client_with(Some(auth), Vec::new(), transport)
    }

    pub fn client_with(
        &self,
        auth: Option<Value>,
        headers: Vec<(String, String)>,
        transport: TransportKind,
    ) -> Client {
        client_for(&self.url(), auth, headers, transport)
    }

    /// Asks the server to shut down and waits for it.
    pub async fn stop(&mut self) -> Result<(), realtime_server::ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(WAIT, task)
                .await
                .expect("shutdown in time")
                .expect("task joins"),
            None => Ok(()),
        }
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
}

/// A client of the server at `url` with `auth` and `headers` on `transport`, without
/// reconnection.
pub fn client_for(
    url: &str,
    auth: Option<Value>,
    headers: Vec<(String, String)>,
    transport: TransportKind,
) -> Client {
    let mut options = ClientOptions::new(url.to_owned());
    options.endpoint.transport = transport;
    options.endpoint.headers = headers;
    options.namespaces = vec![NamespaceOptions {
        auth,
        ..NamespaceOptions::new("/")
    }];
    options.reconnect = ReconnectPolicy {
        enabled: false,
        ..ReconnectPolicy::default()
    };
    Client::connect(options)
}

pub fn quota(events: u32, window: Duration) -> RateQuota {
    RateQuota {
        events: NonZeroU32::new(events).expect("non-zero"),
        window,
    }
}

/// Waits for the client to connect to `/`, panicking with what it saw otherwise.
pub async fn connected(client: &mut Client) {
    let seen = client
        .wait_for(WAIT, |o| {
            matches!(o, Observed::Connect { .. } | Observed::ConnectError { .. })
        })
        .await;
    match seen.map(|o| o.what) {
        Some(Observed::Connect { .. }) => {}
        other => panic!("expected connect, got {other:?}"),
    }
}

/// Waits for `event` and returns its arguments.
pub async fn event(client: &mut Client, name: &str) -> Vec<Value> {
    match client
        .wait_for(
            WAIT,
            |o| matches!(o, Observed::Event { event, .. } if event == name),
        )
        .await
        .map(|o| o.what)
    {
        Some(Observed::Event { args, .. }) => args,
        _ => panic!("no {name:?} event; saw {:?}", client.history()),
    }
}

/// Asserts that no `name` event arrives within `window`.
pub async fn no_event(client: &mut Client, name: &str, window: Duration) {
    let seen = client
        .wait_for(
            window,
            |o| matches!(o, Observed::Event { event, .. } if event == name),
        )
        .await;
    assert!(seen.is_none(), "unexpected {name:?}: {seen:?}");
}

/// Emits `event` with `args` on `/`.
pub fn emit(client: &Client, name: &str, args: Vec<Value>) {
    client.emit("/", name, args, None).expect("client running");
}

/// Emits a probe that the server answers only after handling everything sent before it, so a
/// test knows earlier events (joins, leaves) have taken effect.
pub async fn settle(client: &mut Client) {
    emit(
        client,
        "notification:read",
        vec![Value::String("settle-probe".into())],
    );
    event(client, "notification:read:error").await;
}

/// Connects a client with `auth` and `headers` and returns the message of the `connect_error`
/// it must get.
pub async fn refusal(
    server: &TestServer,
    auth: Option<Value>,
    headers: Vec<(String, String)>,
) -> String {
    refusal_at(&server.url(), auth, headers).await
}

/// [`refusal`] from the server at `url`.
pub async fn refusal_at(url: &str, auth: Option<Value>, headers: Vec<(String, String)>) -> String {
    let mut client = client_for(url, auth, headers, TransportKind::Websocket);
    match client
        .wait_for(WAIT, |o| {
            matches!(o, Observed::Connect { .. } | Observed::ConnectError { .. })
        })
        .await
        .map(|o| o.what)
    {
        Some(Observed::ConnectError { message, data, .. }) => {
            assert_eq!(data, None, "no data beyond the message");
            message
        }
        other => panic!("expected connect_error, got {other:?}"),
    }
}
