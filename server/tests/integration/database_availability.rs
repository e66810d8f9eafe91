//! The database going away, as an operator and a plain client see it, on both servers (the Rust
//! binary and the Node original, each as a process) and a real PostgreSQL stopped and started:
//!
//! - a server started while PostgreSQL is down serves, not ready, logs the cause (where it
//!   looked and why it failed, never the password), and becomes ready by itself, migrations
//!   applied, once PostgreSQL is up; later outages are one line when they begin and one when
//!   they end, with how long it lasted; a restart logs no migrations-table notice;
//! - during an outage the health endpoints and the API answer at once (from the probe's state,
//!   not after the pool's connect timeout), liveness stays 200, readiness is 503;
//! - the official socket.io-client, left to its defaults, arriving during an outage is refused
//!   in a way it retries, and connects by itself once PostgreSQL is back (a `connect_error`
//!   would have been final for it);
//! - a user lookup stalled in the database (another session holding `LOCK TABLE users`) holds a
//!   Socket.IO connect only until the server's connect timeout, which closes the session (the
//!   client sees `disconnect`), on websocket and on long-polling; once the lock goes, a new
//!   client connects at once (issue 26: the bound that tells a stalled lookup from a connect
//!   left unanswered).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use realtime_server::auth::JwtSecret;
use serde_json::{Value, json};
use sio_wire::client::{Client, Observation, Observed};
use sio_wire::transport::TransportKind;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::common::{BINARY, FIXTURES, client_for, connected, free_port, random_secret};
use crate::pg::{self, Cluster};

/// Far longer than the probe's 1 s: the old behaviour (each health check and API call waiting
/// the pool's connect timeout) cannot pass for the new one.
const CONNECT_TIMEOUT_MS: &str = "5000";
/// Longest a health or API answer may take while the database is down: milliseconds in fact
/// (docs/protocol.md), bounded here well below the 5 s pool wait it replaces, with room for a
/// machine busy with other work.
const PROMPT: Duration = Duration::from_secs(2);
/// How long a server may take to notice PostgreSQL stopping or starting.
const NOTICE: Duration = Duration::from_secs(10);
/// How long a server may take to serve after it is started (Node takes seconds on a busy machine).
const STARTUP: Duration = Duration::from_secs(30);
/// Not a real secret (the tests' PostgreSQL trusts loopback): it must appear in no log line.
const DB_PASSWORD: &str = "pw-never-logged-4711";

#[derive(Debug, Clone, Copy)]
enum Kind {
    Rust,
    Node,
}

fn node_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../node-original")
}

/// Whether `kind` can run here; the Node original needs `npm ci && npm run build`.
fn available(kind: Kind) -> bool {
    if let Kind::Node = kind {
        let root = node_root();
        if !root.join("dist/src/index.js").exists() || !root.join("node_modules/pg").exists() {
            assert!(
                std::env::var_os("SIO_REQUIRE_NODE").is_none(),
                "node-original is not built: npm ci && npm run build there"
            );
            eprintln!("skipping the Node original: not built");
            return false;
        }
    }
    true
}

/// A server process on a free port with its log lines collected as they come; killed when
/// dropped.
struct Launched {
    url: String,
    child: Child,
    logs: Arc<Mutex<String>>,
}

impl Launched {
    /// Starts `kind` on `database_url`; `settings` are environment variables set after (and so
    /// overriding) the defaults here.
    async fn start(
        kind: Kind,
        database_url: &str,
        secret: &str,
        settings: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let mut command = match kind {
            Kind::Rust => {
                let mut command = Command::new(BINARY);
                command.args(["serve", "--log-format", "json"]);
                command
            }
            Kind::Node => {
                let mut command = Command::new("node");
                command.arg("dist/src/index.js").current_dir(node_root());
                command
            }
        };
        let mut child = command
            .env("DATABASE_URL", database_url)
            .env("DATABASE_CONNECT_TIMEOUT_MS", CONNECT_TIMEOUT_MS)
            .env("JWT_SECRET", secret)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let logs = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("stdout"), logs.clone());
        collect(child.stderr.take().expect("stderr"), logs.clone());
        let server = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            logs,
        };
        let deadline = Instant::now() + STARTUP;
        while get(&format!("{}/health/live", server.url)).await.0 != 200 {
            assert!(
                Instant::now() < deadline,
                "{kind:?} does not serve /health/live:\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn logs(&self) -> String {
        self.logs.lock().expect("log buffer").clone()
    }

    /// The log lines that contain `text`.
    fn lines_with(&self, text: &str) -> Vec<String> {
        self.logs()
            .lines()
            .filter(|line| line.contains(text))
            .map(str::to_owned)
            .collect()
    }

    async fn until_ready_is(&self, status: u16) {
        let deadline = Instant::now() + NOTICE;
        while get(&format!("{}/health/ready", self.url)).await.0 != status {
            assert!(
                Instant::now() < deadline,
                "/health/ready never answered {status}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
        // The readers finish with the pipes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.logs()
    }
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, logs: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut logs = logs.lock().expect("log buffer");
            logs.push_str(&line);
            logs.push('\n');
        }
    });
}

/// Status, body, and how long the answer took; status 0 if there was none.
async fn get(url: &str) -> (u16, String, Duration) {
    get_with(url, None).await
}

async fn get_with(url: &str, token: Option<&str>) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut request = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(20));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (status, body, started.elapsed())
        }
        Err(_) => (0, String::new(), started.elapsed()),
    }
}

/// Loads the fixtures into `database` with `kind`'s own seeding command (which migrates first).
async fn seed(database: &str, kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixtures = dir.path().join("fixtures.sql");
    std::fs::write(&fixtures, FIXTURES).expect("write fixtures");
    let mut command = match kind {
        Kind::Rust => {
            let mut command = Command::new(BINARY);
            command.args(["db", "seed"]);
            command
        }
        Kind::Node => {
            let mut command = Command::new("node");
            command.arg("dist/src/db/seed.js").current_dir(node_root());
            command
        }
    };
    let seeded = command
        .arg(&fixtures)
        .env("DATABASE_URL", database)
        .output()
        .await
        .expect("the seeding command runs");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
}

/// `postgres://postgres@host:port/db` with a password added.
fn with_password(url: &str) -> String {
    url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{DB_PASSWORD}@"),
        1,
    )
}

async fn starts_without_the_database(kind: Kind) {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let database = with_password(&pg::create_database(&cluster.url).await);
    let port = cluster.url.rsplit(':').next().expect("a port").to_owned();
    cluster.stop().await;
    let (secret, _) = random_secret();

    let server = Launched::start(kind, &database, &secret, &[]).await;
    let (ready, _, _) = get(&format!("{}/health/ready", server.url)).await;
    let (health, body, _) = get(&format!("{}/health", server.url)).await;
    assert_eq!((ready, health), (503, 503), "{body}");
    let start_line = server.lines_with("unreachable at start");
    assert_eq!(start_line.len(), 1, "{}", server.logs());
    let line = start_line[0].to_lowercase();
    assert!(
        line.contains(&format!("127.0.0.1:{port}")) && line.contains("refused"),
        "the cause and where: {line}"
    );

    cluster.restart().await;
    server.until_ready_is(200).await;
    assert_eq!(server.lines_with("migrations applied").len(), 1);

    cluster.stop().await;
    server.until_ready_is(503).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart().await;
    server.until_ready_is(200).await;
    let logs = server.stop().await;
    let went = logs
        .lines()
        .filter(|l| l.contains("database unreachable:"))
        .count();
    let back: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("database answers again"))
        .collect();
    assert_eq!(went, 1, "one line when it went away:\n{logs}");
    // Twice back: after the start, and after the outage, each with how long it lasted.
    assert_eq!(back.len(), 2, "one line each time it came back:\n{logs}");
    let lasted = back[1].contains("\"after\":\"") || back[1].contains("\"downMs\":");
    assert!(lasted, "how long it was gone: {}", back[1]);
    assert!(
        !logs.contains(DB_PASSWORD),
        "the password is logged:\n{logs}"
    );

    // Started again on the migrated database: no migrations-table notice.
    let again = Launched::start(kind, &database, &secret, &[]).await;
    again.until_ready_is(200).await;
    let logs = again.stop().await;
    assert!(!logs.contains("already exists"), "{logs}");
}

#[tokio::test]
async fn the_rust_server_starts_without_the_database_and_logs_its_outages() {
    starts_without_the_database(Kind::Rust).await;
}

#[tokio::test]
async fn the_node_original_starts_without_the_database_and_logs_its_outages() {
    if available(Kind::Node) {
        starts_without_the_database(Kind::Node).await;
    }
}

async fn an_outage_is_transient_for_the_official_client(kind: Kind) {
    let client_module = node_root().join("node_modules/socket.io-client");
    if !client_module.exists() {
        assert!(
            std::env::var_os("SIO_REQUIRE_NODE").is_none(),
            "node-original/node_modules is missing: npm ci there"
        );
        eprintln!("skipping: socket.io-client is not installed (npm ci in node-original)");
        return;
    }
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let database = pg::create_database(&cluster.url).await;
    seed(&database, kind).await;
    let (secret_text, secret) = random_secret();
    let server = Launched::start(kind, &database, &secret_text, &[]).await;
    server.until_ready_is(200).await;
    let token = secret.mint("user-1", Duration::from_secs(3600));

    cluster.stop().await;
    server.until_ready_is(503).await;
    // Every answer from memory, none after the pool's 5 s wait.
    for (path, token, want) in [
        ("/health", None, 503),
        ("/health/ready", None, 503),
        ("/health/live", None, 200),
        ("/api/v1/me", Some(token.as_str()), 503),
        ("/", None, 200),
    ] {
        let (status, body, took) = get_with(&format!("{}{path}", server.url), token).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(took < PROMPT, "{path} took {took:?}");
    }
    let (status, _, _) = get(&format!(
        "{}/socket.io/?EIO=4&transport=polling",
        server.url
    ))
    .await;
    assert_eq!(
        status, 503,
        "a new Engine.IO session is refused, transiently"
    );

    let mut client = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/official-client.js"))
        .env("URL", &server.url)
        .env("TOKEN", &token)
        .env("TIMEOUT_MS", "40000")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(client.stdout.take().expect("stdout")).lines();
    let mut seen: Vec<Value> = Vec::new();
    // Refused while the database is down, in a way the client retries: active stays true.
    let refused_at = Instant::now();
    while refused_at.elapsed() < Duration::from_secs(4) {
        match tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await {
            Ok(Ok(Some(line))) => seen.push(serde_json::from_str(&line).expect("JSON line")),
            Ok(_) => break,
            Err(_) => {}
        }
    }
    for name in ["default", "websocket"] {
        let refusals: Vec<&Value> = seen
            .iter()
            .filter(|l| l["client"] == name && l["event"] == "connect_error")
            .collect();
        assert!(!refusals.is_empty(), "{name} was refused: {seen:?}");
        assert!(
            refusals.iter().all(|l| l["active"] == true),
            "every refusal left {name} retrying: {seen:?}"
        );
    }
    assert!(!seen.iter().any(|l| l["event"] == "connect"), "{seen:?}");

    cluster.restart().await;
    let status = tokio::time::timeout(Duration::from_secs(30), client.wait())
        .await
        .expect("the client finishes")
        .expect("status");
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push(serde_json::from_str(&line).expect("JSON line"));
    }
    assert!(
        status.success(),
        "both clients connect by themselves: {seen:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_official_client_rides_out_an_outage_on_the_rust_server() {
    an_outage_is_transient_for_the_official_client(Kind::Rust).await;
}

#[tokio::test]
async fn the_official_client_rides_out_an_outage_on_the_node_original() {
    if available(Kind::Node) {
        an_outage_is_transient_for_the_official_client(Kind::Node).await;
    }
}

/// The Socket.IO connect timeout the stalled-lookup test gives both servers (`CONNECT_TIMEOUT_MS`).
const SOCKET_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Far past [`STALL_BOUND`]: the lookup itself is not what ends the stall.
const STATEMENT_TIMEOUT_MS: &str = "60000";
/// Latest a stalled connect may end: well past the connect timeout (no tight timing on a busy
/// machine), well before the statement timeout.
const STALL_BOUND: Duration = Duration::from_secs(15);
/// A timer may fire a little early by the server's clock rounding (Node's `setTimeout`); the
/// session itself opens after the client starts, so the close cannot come sooner than this.
const STALL_AT_LEAST: Duration = Duration::from_millis(2500);

/// A client signed in as `user` on `transport`, without reconnection.
fn signed_in(
    server: &Launched,
    secret: &JwtSecret,
    user: &str,
    transport: TransportKind,
) -> Client {
    let token = secret.mint(user, Duration::from_secs(3600));
    client_for(
        &server.url,
        Some(json!({ "token": token })),
        Vec::new(),
        transport,
    )
}

/// What ends a connect whose user lookup waits on a lock: the `disconnect` of a session the
/// server closed at its connect timeout, and when it came (from the client's start).
async fn stalled_connect_ends(client: &mut Client, transport: TransportKind) -> Duration {
    let seen = client
        .wait_for(STALL_BOUND, |o| {
            matches!(
                o,
                Observed::Connect { .. }
                    | Observed::ConnectError { .. }
                    | Observed::Disconnect { .. }
            )
        })
        .await;
    match seen {
        Some(Observation {
            at,
            what: Observed::Disconnect { .. },
            ..
        }) => at,
        other => panic!(
            "{transport:?}: expected the session closed by the connect timeout within \
             {STALL_BOUND:?}, got {other:?}; the client saw {:?}",
            client.history()
        ),
    }
}

async fn a_stalled_user_lookup_ends_at_the_connect_timeout(kind: Kind) {
    let Some(database) = pg::fresh_database().await else {
        return;
    };
    seed(&database, kind).await;
    let (secret_text, secret) = random_secret();
    let connect_timeout = SOCKET_CONNECT_TIMEOUT.as_millis().to_string();
    let server = Launched::start(
        kind,
        &database,
        &secret_text,
        &[
            ("CONNECT_TIMEOUT_MS", connect_timeout.as_str()),
            ("DATABASE_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT_MS),
        ],
    )
    .await;
    // Migrated and answering before the lock, so that only the handshake's lookup waits on it.
    server.until_ready_is(200).await;

    let mut locker = PgConnection::connect(&database)
        .await
        .expect("a second session on the database");
    let mut lock = locker.begin().await.expect("BEGIN");
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("LOCK TABLE users");

    let transports = [TransportKind::Websocket, TransportKind::Polling];
    let mut stalled: Vec<Client> = transports
        .iter()
        .map(|&transport| signed_in(&server, &secret, "user-1", transport))
        .collect();
    for (client, transport) in stalled.iter_mut().zip(transports) {
        let ended = stalled_connect_ends(client, transport).await;
        let opened = client
            .history()
            .iter()
            .find(|o| matches!(o.what, Observed::Open { .. }))
            .map(|o| ended.saturating_sub(o.at));
        eprintln!(
            "{kind:?} {transport:?}: the stalled connect ended {ended:?} after the client started, \
             {opened:?} after its session opened"
        );
        assert!(
            (STALL_AT_LEAST..STALL_BOUND).contains(&ended),
            "{kind:?} {transport:?}: closed after {ended:?}, not at the {SOCKET_CONNECT_TIMEOUT:?} \
             connect timeout; the client saw {:?}",
            client.history()
        );
    }

    lock.commit().await.expect("COMMIT releases the lock");
    for transport in transports {
        let mut fresh = signed_in(&server, &secret, "user-1", transport);
        connected(&mut fresh).await;
        let took = fresh
            .history()
            .iter()
            .find(|o| matches!(o.what, Observed::Connect { .. }))
            .map(|o| o.at);
        eprintln!("{kind:?} {transport:?}: a new client connected after {took:?}");
    }
    let logs = server.stop().await;
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test]
async fn a_stalled_user_lookup_ends_at_the_rust_servers_connect_timeout() {
    a_stalled_user_lookup_ends_at_the_connect_timeout(Kind::Rust).await;
}

#[tokio::test]
async fn a_stalled_user_lookup_ends_at_the_node_originals_connect_timeout() {
    if available(Kind::Node) {
        a_stalled_user_lookup_ends_at_the_connect_timeout(Kind::Node).await;
    }
}
