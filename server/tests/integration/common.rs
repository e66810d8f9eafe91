//! A running server for one test, and small helpers to drive clients against it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use realtime_server::auth::JwtSecret;
use realtime_server::kuma::KumaConfig;
use realtime_server::rate_limit::RateQuota;
use realtime_server::socket_service::SocketService;
use realtime_server::store::{Store, StoreSettings};
use realtime_server::{Server, ServerConfig};
use serde_json::Value;
use sio_wire::client::{Client, ClientOptions, NamespaceOptions, Observed, ReconnectPolicy};
use sio_wire::transport::TransportKind;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
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
    sockets: SocketService,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<Result<(), realtime_server::ServerError>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with_quota(RateQuota::default()).await
    }

    pub async fn start_with_quota(rate_quota: RateQuota) -> Self {
        Self::start_with(|config| config.rate_quota = rate_quota).await
    }

    /// A server whose configuration `adjust` changed from the tests' defaults.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::launch(adjust, None).await
    }

    /// A server running the Uptime Kuma feed.
    pub async fn start_with_kuma(kuma: KumaConfig) -> Self {
        Self::launch(|_| {}, Some(kuma)).await
    }

    async fn launch(adjust: impl FnOnce(&mut ServerConfig), kuma: Option<KumaConfig>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("test.db").display());
        Self::configure(database_url, dir, adjust, kuma).await
    }

    /// A server on `database_url` (loaded with the fixtures); `dir` lives as long as it.
    pub async fn start_on(
        database_url: String,
        store: StoreSettings,
        rate_quota: RateQuota,
        dir: tempfile::TempDir,
    ) -> Self {
        let adjust = |config: &mut ServerConfig| {
            config.store = store;
            config.rate_quota = rate_quota;
        };
        Self::configure(database_url, dir, adjust, None).await
    }

    async fn configure(
        database_url: String,
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut ServerConfig),
        kuma: Option<KumaConfig>,
    ) -> Self {
        let (secret_text, secret) = random_secret();
        let mut config = ServerConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            secret: secret.clone(),
            frontend_url: "http://localhost:3000".into(),
            database_url,
            store: StoreSettings::default(),
            rate_quota: RateQuota::default(),
            heartbeat: realtime_server::app::Heartbeat::default(),
            connect_timeout: realtime_server::app::DEFAULT_CONNECT_TIMEOUT,
            redis_url: None,
            redis_adapter: Default::default(),
            trusted_proxies: Default::default(),
            metrics_token: None,
        };
        adjust(&mut config);
        let server = Server::bind(config).await.expect("server binds");
        server
            .store()
            .run_script(FIXTURES)
            .await
            .expect("fixtures load");
        let server = match kuma {
            Some(kuma) => server.with_kuma_feed(kuma).expect("feed starts"),
            None => server,
        };
        let store = server.store().clone();
        let sockets = server.sockets();
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
            sockets,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's socket service, as code in its process would push events.
    pub fn sockets(&self) -> SocketService {
        self.sockets.clone()
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

    /// `GET /health`'s body.
    pub async fn health(&self) -> Value {
        self.http()
            .get(format!("{}/health", self.url()))
            .send()
            .await
            .expect("health answers")
            .json()
            .await
            .expect("health is JSON")
    }
}

/// What the metrics tests make a server count: one handshake accepted (the returned client, on
/// websocket, left connected), one refused (a forged token), and three `subscribe:status` under
/// a quota of two: two answered, one rate-limited.
pub async fn counted_actions(url: &str, token: &str) -> Client {
    let auth = |token: &str| Some(serde_json::json!({ "token": token }));
    let mut client = client_for(url, auth(token), Vec::new(), TransportKind::Websocket);
    connected(&mut client).await;
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJ1c2VyLTEifQ.forged";
    let mut refused = client_for(url, auth(forged), Vec::new(), TransportKind::Websocket);
    refused
        .wait_for(WAIT, |o| matches!(o, Observed::ConnectError { .. }))
        .await
        .expect("the forged token is refused");
    for _ in 0..3 {
        emit(&client, "subscribe:status", vec![]);
    }
    event(&mut client, "status:current").await;
    event(&mut client, "status:current").await;
    let limited = event(&mut client, "error").await;
    assert_eq!(limited[0]["message"], "Rate limit exceeded");
    client
}

/// The value of one series (`name{label="value"}`, as written) in a scrape of `url`'s open
/// `/metrics`; `None` when the series is absent.
pub async fn scraped(url: &str, series: &str) -> Option<f64> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("a body");
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
}

/// A random secret, as text (for a server process or the harness) and as the key that mints
/// tokens.
pub fn random_secret() -> (String, JwtSecret) {
    let text: String = (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect();
    let secret = JwtSecret::new(&text).expect("long enough");
    (text, secret)
}

/// A port free on loopback now, for a child process or a service that must not be reachable.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
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

/// The server binary.
pub const BINARY: &str = env!("CARGO_BIN_EXE_realtime-server");

/// A SQLite database in `dir` loaded with [`FIXTURES`] by the binary's `db seed`; returns its URL.
pub async fn seeded_database(dir: &Path) -> String {
    let database_url = format!("sqlite://{}", dir.join("server.db").display());
    seed_fixtures(dir, &database_url).await;
    database_url
}

/// Loads [`FIXTURES`] into the database at `url` (a SQLite file or a PostgreSQL database) with
/// the binary's own `db seed`, which also applies the migrations; `dir` holds the script.
pub async fn seed_fixtures(dir: &Path, url: &str) {
    let fixtures = dir.join("fixtures.sql");
    std::fs::write(&fixtures, FIXTURES).expect("write fixtures");
    let seeded = Command::new(BINARY)
        .args(["db", "seed"])
        .arg(&fixtures)
        .env("DATABASE_URL", url)
        .output()
        .await
        .expect("seed runs");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
}

/// The server binary running as its own process (`serve`, JSON logs), for tests that signal it by
/// pid or start it again on the same port. Killed if dropped while running.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Every log line after the one that gave the address, until the process exits.
    logs: JoinHandle<String>,
}

impl ServerProcess {
    /// Starts `serve` on `port` (0 picks one) with `settings` as extra environment variables, and
    /// waits until it listens.
    pub async fn start(
        secret: &str,
        database_url: &str,
        port: u16,
        settings: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(BINARY)
            .args(["serve", "--port", &port.to_string(), "--log-format", "json"])
            .env("JWT_SECRET", secret)
            .env("DATABASE_URL", database_url)
            .envs(settings.iter().copied())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("server starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                let log: Value = serde_json::from_str(&line).unwrap_or_default();
                if let Some(addr) = log["fields"]["addr"].as_str() {
                    return addr.parse::<SocketAddr>().expect("a socket address");
                }
            }
            panic!("server exited before listening");
        })
        .await
        .expect("listening in time");
        let logs = tokio::spawn(async move {
            let mut text = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        Self { child, addr, logs }
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the process by its pid.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running");
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// Waits for the process to exit and returns its status and its log lines.
    pub async fn exited(mut self) -> (ExitStatus, String) {
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits in time")
            .expect("status");
        let logs = self.logs.await.expect("log reader");
        (status, logs)
    }
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
