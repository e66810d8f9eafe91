//! What the launched binary's log says, and what it never says.
//!
//! No secret at any level: at `RUST_LOG=trace` (every dependency printing every packet), through
//! Socket.IO handshakes with a token in `auth` and in the `Authorization` header, API calls with
//! bearer tokens (accepted and refused), on PostgreSQL as a role with a password, neither the
//! tokens, their signatures, the JWT secret nor the password appear on stdout or stderr; nor
//! does `METRICS_TOKEN`, through scrapes of `/metrics` with it and with a wrong one.
//!
//! The audit: admin actions at info and refusals with the user and the client's address (the
//! forwarded one only behind a trusted proxy), fields as plain values.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use realtime_server::auth::JwtSecret;
use serde_json::{Value, json};
use sio_wire::client::Client;
use sio_wire::transport::TransportKind;
use sqlx::{Connection, Executor, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::common::{
    BINARY, WAIT, client_for, connected, emit, event, random_secret, seed_fixtures,
    seeded_database, settle,
};
use crate::pg;

/// The binary running `serve`, both of its output streams collected.
struct Launched {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Launched {
    async fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BINARY)
            .args(["serve", "--port", "0"])
            .envs(env.iter().copied())
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("server starts");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        let addr = tokio::time::timeout(WAIT, async {
            loop {
                let text = stderr.lock().expect("log lock").clone();
                if let Some(addr) = listening_addr(&text) {
                    return addr;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("not listening: {}", stderr.lock().expect("log lock")));
        Self {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the process with SIGTERM; its exit status, stdout and stderr.
    async fn stop(mut self) -> (ExitStatus, String, String) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits in time")
            .expect("status");
        // The readers finish at end of file, just after the exit.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stdout = self.stdout.lock().expect("lock").clone();
        let stderr = self.stderr.lock().expect("lock").clone();
        (status, stdout, stderr)
    }
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = sink.lock().expect("log lock");
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

/// The address in the `listening on http://ADDR` line, in either format.
fn listening_addr(logs: &str) -> Option<SocketAddr> {
    let start = logs.find("listening on http://")? + "listening on http://".len();
    let rest = &logs[start..];
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)))?;
    rest[..end].parse().ok()
}

/// A PostgreSQL database owned by a new role with a password, as the README sets one up; the
/// URL carries the password. `None` (skip) without PostgreSQL.
async fn database_with_password(password: &str) -> Option<String> {
    let server = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let Some(server) = server else {
        // `fresh_database` skips, or fails under CI, with the reason.
        return pg::fresh_database().await;
    };
    let role = format!("logs_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&pg::database_url(&server, "postgres"))
        .await
        .expect("the PostgreSQL server answers");
    admin
        .execute(format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'").as_str())
        .await
        .expect("CREATE ROLE");
    admin
        .execute(format!("CREATE DATABASE {role} OWNER {role}").as_str())
        .await
        .expect("CREATE DATABASE");
    let _ = admin.close().await;
    let mut url = reqwest::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
    url.set_username(&role).expect("a URL with a host");
    url.set_password(Some(password)).expect("a URL with a host");
    Some(pg::database_url(url.as_str(), &role))
}

/// The token's third part, the signature: the part that makes it a credential.
fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or(token)
}

#[tokio::test]
async fn no_secret_reaches_the_log_even_at_trace() {
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, with_password) = match database_with_password(&password).await {
        Some(url) => (url, true),
        None => (seeded_database(dir.path()).await, false),
    };
    if with_password {
        assert!(database_url.contains(&password));
        seed_fixtures(dir.path(), &database_url).await;
    }
    for format in ["text", "json"] {
        let (secret, key) = random_secret();
        let admin = key.mint("admin-1", Duration::from_secs(3600));
        let user = key.mint("user-1", Duration::from_secs(3600));
        let forged = JwtSecret::new(&"f".repeat(40))
            .expect("long enough")
            .mint("admin-1", Duration::from_secs(3600));
        let metrics_token = format!("scrape-{}", uuid::Uuid::new_v4().simple());
        let server = Launched::start(&[
            ("JWT_SECRET", secret.as_str()),
            ("DATABASE_URL", database_url.as_str()),
            ("RUST_LOG", "trace"),
            ("LOG_FORMAT", format),
            ("METRICS_TOKEN", metrics_token.as_str()),
        ])
        .await;

        // Handshakes: the token in `auth` over websocket, in the header over polling, a forged one.
        let mut by_auth = client_for(
            &server.url(),
            Some(json!({ "token": admin })),
            Vec::new(),
            TransportKind::Websocket,
        );
        connected(&mut by_auth).await;
        emit(&by_auth, "subscribe:status", vec![]);
        event(&mut by_auth, "status:current").await;
        let mut by_header = client_for(
            &server.url(),
            None,
            vec![("Authorization".into(), format!("Bearer {user}"))],
            TransportKind::Polling,
        );
        connected(&mut by_header).await;
        settle(&mut by_header).await;
        let mut refused = client_for(
            &server.url(),
            Some(json!({ "token": forged })),
            Vec::new(),
            TransportKind::Websocket,
        );
        refused
            .wait_for(WAIT, |o| {
                matches!(o, sio_wire::client::Observed::ConnectError { .. })
            })
            .await
            .expect("the forged token is refused");

        // API calls with bearer tokens: accepted, and refused.
        let http = reqwest::Client::new();
        let me = http
            .get(format!("{}/api/v1/me", server.url()))
            .bearer_auth(&user)
            .send()
            .await
            .expect("answers");
        assert_eq!(me.status(), 200);
        let changed = http
            .put(format!("{}/api/v1/status/plex", server.url()))
            .bearer_auth(&admin)
            .json(&json!({ "status": "down" }))
            .send()
            .await
            .expect("answers");
        assert_eq!(changed.status(), 200);
        let forbidden = http
            .get(format!("{}/api/v1/me", server.url()))
            .bearer_auth(&forged)
            .send()
            .await
            .expect("answers");
        assert_eq!(forbidden.status(), 401);

        // Scrapes: with the metrics token, and with a wrong one.
        let metrics = format!("{}/metrics", server.url());
        let scraped = http.get(&metrics).bearer_auth(&metrics_token).send();
        assert_eq!(scraped.await.expect("answers").status(), 200);
        let wrong = http
            .get(&metrics)
            .bearer_auth(format!("{metrics_token}x"))
            .send();
        assert_eq!(wrong.await.expect("answers").status(), 401);

        drop((by_auth, by_header, refused));
        let (status, stdout, stderr) = server.stop().await;
        assert_eq!(status.code(), Some(0), "{stderr}");
        let output = format!("{stdout}{stderr}");
        // The test saw what it is about: trace output from the dependencies, with something
        // redacted in it.
        assert!(
            output.contains("socketioxide") && output.contains("<redacted>"),
            "{format}: no redacted dependency output at trace:\n{}",
            &output[..output.len().min(4000)]
        );
        for (what, secret) in [
            ("the admin's token", admin.as_str()),
            ("its signature", signature(&admin)),
            ("the user's token", user.as_str()),
            ("its signature", signature(&user)),
            ("the forged token's signature", signature(&forged)),
            ("the JWT secret", secret.as_str()),
            ("the database password", password.as_str()),
            ("the metrics token", metrics_token.as_str()),
        ] {
            if let Some(at) = output.find(secret) {
                let line_start = output[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = output[at..].find('\n').map_or(output.len(), |i| at + i);
                panic!(
                    "{format}: {what} is in the log:\n{}",
                    &output[line_start..line_end]
                );
            }
        }
    }
}

#[tokio::test]
async fn an_open_metrics_endpoint_is_said_once_at_start_and_a_guarded_one_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let (secret, _) = random_secret();
    const OPEN: &str = "GET /metrics is open";
    for (token, expected) in [(None, 1), (Some("a-metrics-token-0123"), 0)] {
        let mut env = vec![
            ("JWT_SECRET", secret.as_str()),
            ("DATABASE_URL", database_url.as_str()),
        ];
        env.extend(token.map(|token| ("METRICS_TOKEN", token)));
        let server = Launched::start(&env).await;
        let scrape = reqwest::Client::new()
            .get(format!("{}/metrics", server.url()))
            .send()
            .await
            .expect("answers");
        assert_eq!(scrape.status(), if token.is_some() { 401 } else { 200 });
        let (_, _, stderr) = server.stop().await;
        assert_eq!(
            stderr.matches(OPEN).count(),
            expected,
            "{token:?}:\n{stderr}"
        );
    }
}

/// A server with JSON logs, audit settings `env`; its log lines as JSON after `actions`.
async fn audit_lines(
    database_url: &str,
    secret: &str,
    env: &[(&str, &str)],
    actions: impl AsyncFnOnce(&Launched),
) -> Vec<Value> {
    let mut settings = vec![
        ("JWT_SECRET", secret),
        ("DATABASE_URL", database_url),
        ("RUST_LOG", "info"),
        ("LOG_FORMAT", "json"),
        ("RATE_LIMIT_EVENTS", "2"),
        ("RATE_LIMIT_WINDOW_MS", "60000"),
    ];
    settings.extend_from_slice(env);
    let server = Launched::start(&settings).await;
    actions(&server).await;
    let (status, _, stderr) = server.stop().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

/// The fields of the one line with `message`.
fn line<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == message)
        .collect();
    assert_eq!(found.len(), 1, "one {message:?} line in {lines:#?}");
    &found[0]["fields"]
}

/// Drives every audited action once, from `forwarded_for` when given.
async fn audited_actions(server: &Launched, key: &JwtSecret, forwarded_for: Option<&str>) {
    let headers: Vec<(String, String)> = forwarded_for
        .map(|ip| vec![("X-Forwarded-For".to_owned(), ip.to_owned())])
        .unwrap_or_default();
    let token = |user: &str| key.mint(user, Duration::from_secs(3600));
    let http = reqwest::Client::new();
    let request = |method: reqwest::Method, path: &str, user: Option<&str>| {
        let mut request = http.request(method, format!("{}{path}", server.url()));
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        match user {
            Some("forged") => request.bearer_auth("eyJhbGciOiJIUzI1NiJ9.e30.AAAA"),
            Some(user) => request.bearer_auth(token(user)),
            None => request,
        }
    };
    let put = request(reqwest::Method::PUT, "/api/v1/status/plex", Some("admin-1"))
        .json(&json!({ "status": "down" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(put.status(), 200);
    let push = request(
        reqwest::Method::POST,
        "/api/v1/notifications",
        Some("admin-1"),
    )
    .json(&json!({ "userId": "user-2", "title": "t", "message": "m" }))
    .send()
    .await
    .expect("answers");
    assert_eq!(push.status(), 201);
    let bad = request(reqwest::Method::GET, "/api/v1/me", Some("forged"))
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status(), 401);
    let forbidden = request(reqwest::Method::PUT, "/api/v1/status/plex", Some("user-1"))
        .json(&json!({ "status": "up" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(forbidden.status(), 403);

    let client = |user: &str| -> Client {
        client_for(
            &server.url(),
            Some(json!({ "token": token(user) })),
            headers.clone(),
            TransportKind::Websocket,
        )
    };
    let mut admin = client("admin-1");
    connected(&mut admin).await;
    emit(&admin, "admin:refresh-status", vec![]);
    settle(&mut admin).await;
    let mut alice = client("user-1");
    connected(&mut alice).await;
    emit(&alice, "admin:refresh-status", vec![]);
    event(&mut alice, "error").await;
    // The limit is 2 per event: the third is refused.
    for _ in 0..3 {
        emit(&alice, "unsubscribe:status", vec![]);
    }
    event(&mut alice, "error").await;
    let mut stranger = client_for(
        &server.url(),
        Some(json!({ "token": "not-a-token" })),
        headers.clone(),
        TransportKind::Websocket,
    );
    stranger
        .wait_for(WAIT, |o| {
            matches!(o, sio_wire::client::Observed::ConnectError { .. })
        })
        .await
        .expect("refused");
    drop((admin, alice, stranger));
    // Let the disconnects be logged before the server stops.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn admin_actions_and_refusals_name_the_user_and_the_client_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let (secret, key) = random_secret();
    // No trusted proxy: a forwarded address is ignored, the peer is named.
    let lines = audit_lines(&database_url, &secret, &[], async |server| {
        audited_actions(server, &key, Some("198.51.100.7")).await;
    })
    .await;
    let expected = [
        ("status changed over HTTP", "admin-1", "info"),
        ("notification pushed over HTTP", "admin-1", "info"),
        ("HTTP request refused", "", "warn"),
        (
            "HTTP request refused: admin role required",
            "user-1",
            "warn",
        ),
        ("status refresh asked", "admin-1", "info"),
        (
            "status refresh refused: admin role required",
            "user-1",
            "warn",
        ),
        ("rate limit exceeded", "user-1", "warn"),
        ("socket authentication refused", "", "warn"),
    ];
    for (message, user, level) in expected {
        let fields = line(&lines, message);
        assert_eq!(fields["client_addr"], "127.0.0.1", "{message}: {fields}");
        if !user.is_empty() {
            assert_eq!(fields["user_id"], user, "{message}: {fields}");
        }
        let whole = lines
            .iter()
            .find(|l| l["fields"]["message"] == message)
            .expect("found above");
        assert_eq!(whole["target"], "audit", "{message}");
        assert_eq!(
            whole["level"].as_str().map(str::to_lowercase).as_deref(),
            Some(level)
        );
    }
    let status = line(&lines, "status changed over HTTP");
    assert_eq!(
        (&status["service"], &status["status"]),
        (&json!("plex"), &json!("down"))
    );
    assert_eq!(
        line(&lines, "notification pushed over HTTP")["to_user"],
        "user-2"
    );
    assert_eq!(
        line(&lines, "HTTP request refused")["reason"],
        "Authentication failed"
    );
    assert_eq!(
        line(&lines, "socket authentication refused")["reason"],
        "Authentication failed"
    );
    let text = serde_json::to_string(&lines).expect("JSON");
    assert!(
        !text.contains("198.51.100.7"),
        "an untrusted header is not believed"
    );
    // Connects and disconnects: plain values.
    for message in ["client connected", "client disconnected"] {
        let users: Vec<&Value> = lines
            .iter()
            .filter(|l| l["fields"]["message"] == message)
            .map(|l| &l["fields"]["user_id"])
            .collect();
        assert_eq!(users.len(), 2, "{message}");
        assert!(
            users.iter().all(|u| *u == "admin-1" || *u == "user-1"),
            "{message}: {users:?}"
        );
    }
    assert!(!text.contains("Some("), "no Debug-printed options: {text}");

    // Behind a trusted proxy (the test itself, on 127.0.0.1): the forwarded address.
    let lines = audit_lines(
        &database_url,
        &secret,
        &[("TRUSTED_PROXIES", "127.0.0.1")],
        async |server| {
            audited_actions(server, &key, Some("198.51.100.7")).await;
        },
    )
    .await;
    for (message, _, _) in expected {
        assert_eq!(
            line(&lines, message)["client_addr"],
            "198.51.100.7",
            "{message}"
        );
    }
}

/// The text format too: `user_id=user-1 client_addr=127.0.0.1`, as a fail2ban filter reads it.
#[tokio::test]
async fn text_lines_carry_plain_fields_for_fail2ban() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let (secret, key) = random_secret();
    let server = Launched::start(&[
        ("JWT_SECRET", secret.as_str()),
        ("DATABASE_URL", database_url.as_str()),
        ("RUST_LOG", "info"),
        ("LOG_FORMAT", "text"),
    ])
    .await;
    let mut alice = client_for(
        &server.url(),
        Some(json!({ "token": key.mint("user-1", Duration::from_secs(60)) })),
        Vec::new(),
        TransportKind::Websocket,
    );
    connected(&mut alice).await;
    let mut stranger = client_for(
        &server.url(),
        Some(json!({ "token": "not-a-token" })),
        Vec::new(),
        TransportKind::Websocket,
    );
    stranger
        .wait_for(WAIT, |o| {
            matches!(o, sio_wire::client::Observed::ConnectError { .. })
        })
        .await
        .expect("refused");
    drop((alice, stranger));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, _, logs) = server.stop().await;
    let connected_line = logs
        .lines()
        .find(|l| l.contains("client connected"))
        .expect("a connect line");
    assert!(
        connected_line.contains("user_id=user-1")
            && connected_line.contains("client_addr=127.0.0.1"),
        "{connected_line}"
    );
    // The fail2ban filter of deploy/README.md, as a regular expression.
    let filter = regex::Regex::new(
        r"\bWARN audit: (?:socket authentication refused|HTTP request refused)\b.*\bclient_addr=(?P<host>\S+)",
    )
    .expect("valid");
    let hosts: Vec<&str> = logs
        .lines()
        .filter_map(|l| filter.captures(l))
        .filter_map(|c| c.name("host").map(|m| m.as_str()))
        .collect();
    assert_eq!(hosts, ["127.0.0.1"], "{logs}");
    assert!(!logs.contains("Some("), "{logs}");
}
