//! The server with `rust_socketio` 0.6 (async), the Socket.IO client most Rust programs use, and
//! one written without this server in mind. Each test says what a Rust user can rely on; where
//! the client cannot report something, the test pins down what it reports instead, so a change
//! in either side shows here. docs/compatibility.md ("A Rust client") sums these up.

use std::time::Duration;

use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{ServerProcess, TestServer, quota, random_secret, seeded_database};

/// Generous, since the client's own reconnection backs off between attempts.
const PATIENCE: Duration = Duration::from_secs(20);

/// What the client reported through its callbacks, in order.
#[derive(Debug, Clone, PartialEq)]
enum Report {
    /// The `connect` callback: the server accepted the namespace (a CONNECT packet).
    Connect,
    /// The `close` callback: the server sent a DISCONNECT packet. A lost transport calls nothing.
    Close,
    /// The `error` callback. It gets the client's own errors and a refused handshake as one
    /// string, and the server's `error` *event* as its JSON arguments.
    Error(Vec<Value>),
    /// `on_any`: an event and its arguments.
    Event { name: String, args: Vec<Value> },
}

/// The callbacks' reports, and those already looked at (for failure messages).
struct Reports {
    incoming: mpsc::UnboundedReceiver<Report>,
    seen: Vec<Report>,
}

impl Reports {
    /// Waits for the next report that `wanted` accepts, skipping others.
    async fn until(&mut self, what: &str, wanted: impl Fn(&Report) -> bool) -> Report {
        let seen = &mut self.seen;
        let incoming = &mut self.incoming;
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(report) = incoming.recv().await {
                seen.push(report.clone());
                if wanted(&report) {
                    return Some(report);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(report)) => report,
            _ => panic!("no {what}; the client reported {:?}", self.seen),
        }
    }

    async fn connect(&mut self) {
        self.until("connect", |r| *r == Report::Connect).await;
    }

    /// Waits for `name` and returns its arguments.
    async fn event(&mut self, name: &str) -> Vec<Value> {
        match self
            .until(
                name,
                |r| matches!(r, Report::Event { name: n, .. } if n == name),
            )
            .await
        {
            Report::Event { args, .. } => args,
            other => unreachable!("filtered: {other:?}"),
        }
    }

    /// Waits for an `error` callback and returns what it got.
    async fn error(&mut self) -> Vec<Value> {
        match self.until("error", |r| matches!(r, Report::Error(_))).await {
            Report::Error(values) => values,
            other => unreachable!("filtered: {other:?}"),
        }
    }
}

fn values(payload: Payload) -> Vec<Value> {
    match payload {
        Payload::Text(values) => values,
        Payload::Binary(bytes) => vec![json!(format!("<{} bytes>", bytes.len()))],
        #[allow(deprecated)] // the client still produces it in a few places
        Payload::String(text) => vec![Value::String(text)],
    }
}

/// A client for `url` (token in `auth` when given) whose callbacks report to the returned
/// receiver, and which subscribes to status updates and notifications in its connect callback,
/// as the seed's browser client does, so it subscribes again after every reconnection.
fn recorded(url: &str, token: Option<&str>) -> (ClientBuilder, Reports) {
    let (tx, incoming) = mpsc::unbounded_channel();
    let on_connect = tx.clone();
    let on_close = tx.clone();
    let on_error = tx.clone();
    let mut builder = ClientBuilder::new(url)
        // The defaults (1 to 5 s) only make the restart test slower.
        .reconnect_delay(100, 1000)
        .on(Event::Connect, move |_, client: Client| {
            let tx = on_connect.clone();
            async move {
                let _ = tx.send(Report::Connect);
                for event in ["subscribe:status", "subscribe:notifications"] {
                    if let Err(error) = client.emit(event, Vec::<Value>::new()).await {
                        let _ = tx.send(Report::Error(vec![json!(error.to_string())]));
                    }
                }
            }
            .boxed()
        })
        .on(Event::Close, move |_, _| {
            let _ = on_close.send(Report::Close);
            async {}.boxed()
        })
        .on(Event::Error, move |payload, _| {
            let _ = on_error.send(Report::Error(values(payload)));
            async {}.boxed()
        })
        .on_any(move |event, payload, _| {
            let _ = tx.send(Report::Event {
                name: String::from(event),
                args: values(payload),
            });
            async {}.boxed()
        });
    if let Some(token) = token {
        builder = builder.auth(json!({ "token": token }));
    }
    let reports = Reports {
        incoming,
        seen: Vec::new(),
    };
    (builder, reports)
}

/// `PUT /api/v1/status/{service}` as an admin; the server broadcasts `service:status`.
async fn put_status(base_url: &str, admin_token: &str, service: &str, status: &str) {
    let response = reqwest::Client::new()
        .put(format!("{base_url}/api/v1/status/{service}"))
        .bearer_auth(admin_token)
        .json(&json!({ "status": status, "responseTime": 120 }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

fn service_names(status_current: &[Value]) -> Vec<(String, String)> {
    let [Value::Array(rows)] = status_current else {
        panic!("status:current has one argument, an array: {status_current:?}");
    };
    rows.iter()
        .map(|row| {
            (
                row["service"].as_str().unwrap_or_default().to_owned(),
                row["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pair(service: &str, status: &str) -> (String, String) {
    (service.to_owned(), status.to_owned())
}

async fn status_and_notifications_over(transport: TransportType) {
    let mut server = TestServer::start().await;
    let (builder, mut reports) = recorded(&server.url(), Some(&server.token("user-1")));
    let client = builder
        .transport_type(transport)
        .connect()
        .await
        .expect("handshake");
    reports.connect().await;

    let current = reports.event("status:current").await;
    assert_eq!(
        service_names(&current),
        [
            pair("jellyfin", "up"),
            pair("plex", "up"),
            pair("sonarr", "degraded")
        ]
    );
    assert_eq!(current[0][0]["responseTime"], 42);

    put_status(&server.url(), &server.token("admin-1"), "plex", "down").await;
    let pushed = reports.event("service:status").await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0]["service"], "plex");
    assert_eq!(pushed[0]["status"], "down");
    assert!(pushed[0]["timestamp"].is_string(), "{pushed:?}");

    let created = server
        .http()
        .post(format!("{}/api/v1/notifications", server.url()))
        .bearer_auth(server.token("admin-1"))
        .json(&json!({ "userId": "user-1", "title": "Backup done", "message": "All good." }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(created.status(), 201);
    let new = reports.event("notification:new").await;
    assert_eq!(new[0]["title"], "Backup done");
    assert_eq!(new[0]["userId"], "user-1");

    client
        .emit("notification:read", json!("n-alice-1"))
        .await
        .expect("emitted");
    assert_eq!(
        reports.event("notification:read:success").await,
        [json!("n-alice-1")]
    );

    client.disconnect().await.expect("disconnects");
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn receives_current_and_pushed_statuses_and_notifications_with_upgrade() {
    status_and_notifications_over(TransportType::Any).await;
}

#[tokio::test]
async fn receives_current_and_pushed_statuses_and_notifications_over_polling() {
    status_and_notifications_over(TransportType::Polling).await;
}

#[tokio::test]
async fn receives_current_and_pushed_statuses_and_notifications_over_websocket() {
    status_and_notifications_over(TransportType::Websocket).await;
}

#[tokio::test]
async fn a_token_in_the_authorization_header_is_accepted() {
    let mut server = TestServer::start().await;
    let (builder, mut reports) = recorded(&server.url(), None);
    let client = builder
        .opening_header(
            "Authorization",
            format!("Bearer {}", server.token("user-2")),
        )
        .connect()
        .await
        .expect("handshake");
    reports.connect().await;
    reports.event("status:current").await;
    client.disconnect().await.expect("disconnects");
    server.stop().await.expect("clean shutdown");
}

/// rust_socketio has no `connect_error` event: a refusal reaches the `error` callback as one
/// string, "Received an ConnectError frame: " followed by the server's JSON, which a program has
/// to take apart itself. `connect()` has returned `Ok` by then (it does not wait for the server's
/// answer), and the client neither retries nor closes its Engine.IO session.
#[tokio::test]
async fn a_refused_handshake_reaches_the_error_callback_as_text() {
    let mut server = TestServer::start().await;
    let refusals = [
        (None, "Authentication required"),
        (Some("not-a-jwt".to_owned()), "Authentication failed"),
        (Some(server.token("user-3")), "User not found or inactive"),
    ];
    for (token, message) in refusals {
        let (builder, mut reports) = recorded(&server.url(), token.as_deref());
        let client = builder
            .connect()
            .await
            .expect("connect() returns before the refusal");
        let error = reports.error().await;
        assert_eq!(
            error,
            [json!(format!(
                "Received an ConnectError frame: {{\"message\":\"{message}\"}}"
            ))]
        );
        assert!(
            !reports.seen.contains(&Report::Connect),
            "{:?}",
            reports.seen
        );
        // Refused, the client marks itself disconnected: emitting fails locally, and so does
        // `disconnect()`, which sends a DISCONNECT packet first. It still matters: it marks the
        // client as closed on purpose. Without it, socketioxide closes the idle session after
        // its connect timeout (45 s) and the client takes that for a lost connection: it
        // reconnects and is refused again, every 45 s (checked by hand; too slow for the suite).
        assert!(client.emit("subscribe:status", json!(null)).await.is_err());
        assert!(client.disconnect().await.is_err());
    }
    server.stop().await.expect("clean shutdown");
}

/// The client maps an event named `error` to its `error` callback (with the event's JSON
/// arguments) and never to `on_any`, so the server's `error` events (`Unauthorized`, `Rate limit
/// exceeded`) arrive in the same callback as the client's own errors, which are strings.
#[tokio::test]
async fn the_servers_error_event_reaches_the_error_callback_as_json() {
    // One event per name and minute: the second refresh is over the limit.
    let mut server = TestServer::start_with_quota(quota(1, Duration::from_secs(60))).await;
    let (builder, mut reports) = recorded(&server.url(), Some(&server.token("user-1")));
    let client = builder.connect().await.expect("handshake");
    reports.connect().await;
    for _ in 0..2 {
        client
            .emit("admin:refresh-status", Vec::<Value>::new())
            .await
            .expect("emitted");
    }
    assert_eq!(
        reports.error().await,
        [json!({ "message": "Unauthorized" })]
    );
    assert_eq!(
        reports.error().await,
        [json!({ "message": "Rate limit exceeded", "event": "admin:refresh-status" })]
    );
    assert!(
        !reports
            .seen
            .iter()
            .any(|r| matches!(r, Report::Event { name, .. } if name == "error")),
        "{:?}",
        reports.seen
    );
    client.disconnect().await.expect("disconnects");
    server.stop().await.expect("clean shutdown");
}

/// An event without arguments (`["status:refreshing"]` on the wire) reaches `on_any` as a
/// `message` event whose one argument is the event's name: the client reads a one-element array
/// as a `message` with data. A handler registered with `on("status:refreshing", ..)` never runs.
#[tokio::test]
async fn an_event_without_arguments_arrives_as_a_message_carrying_its_name() {
    let mut server = TestServer::start().await;
    let (builder, mut reports) = recorded(&server.url(), Some(&server.token("admin-1")));
    let (named_tx, mut named) = mpsc::unbounded_channel();
    let client = builder
        .on("status:refreshing", move |_, _| {
            let _ = named_tx.send(());
            async {}.boxed()
        })
        .connect()
        .await
        .expect("handshake");
    reports.connect().await;
    reports.event("status:current").await;
    client
        .emit("admin:refresh-status", Vec::<Value>::new())
        .await
        .expect("emitted");
    assert_eq!(reports.event("message").await, [json!("status:refreshing")]);
    // The client runs a packet's `on` handler before `on_any`, so it would have run by now.
    assert!(named.try_recv().is_err(), "the named handler ran");
    client.disconnect().await.expect("disconnects");
    server.stop().await.expect("clean shutdown");
}

/// The server process is stopped by pid and started again on the same port and database. The
/// client reconnects by itself and its connect callback subscribes again, so it gets a fresh
/// `status:current` and the statuses pushed after the restart. It reports no `close` and no
/// reason when the connection drops (at most an `error` callback with the text "EngineIO
/// Error", seen when the process is killed): only the next `connect` shows it was away.
async fn reconnects_after_the_server_is_stopped_with(signal: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let (secret_text, secret) = random_secret();
    let admin_token = secret.mint("admin-1", Duration::from_secs(3600));

    let server = ServerProcess::start(&secret_text, &database_url, 0, &[]).await;
    let port = server.addr.port();
    let url = format!("http://{}", server.addr);
    let (builder, mut reports) = recorded(&url, Some(&secret.mint("user-1", PATIENCE * 10)));
    let client = builder.connect().await.expect("handshake");
    reports.connect().await;
    reports.event("status:current").await;
    put_status(&url, &admin_token, "plex", "down").await;
    reports.event("service:status").await;

    server.signal(signal);
    server.exited().await;
    let server = ServerProcess::start(&secret_text, &database_url, port, &[]).await;

    reports.connect().await;
    let current = reports.event("status:current").await;
    assert!(
        service_names(&current).contains(&pair("plex", "down")),
        "{current:?}"
    );
    put_status(&url, &admin_token, "jellyfin", "degraded").await;
    let pushed = reports.event("service:status").await;
    assert_eq!(pushed[0]["service"], "jellyfin");
    assert!(!reports.seen.contains(&Report::Close), "{:?}", reports.seen);

    client.disconnect().await.expect("disconnects");
    server.signal("TERM");
    server.exited().await;
}

#[tokio::test]
async fn reconnects_by_itself_after_a_graceful_restart() {
    reconnects_after_the_server_is_stopped_with("TERM").await;
}

#[tokio::test]
async fn reconnects_by_itself_after_the_server_is_killed() {
    reconnects_after_the_server_is_stopped_with("KILL").await;
}

/// A server that stops answering without closing anything (a frozen process, a dead link) is
/// noticed once a ping is overdue (the handshake's `pingInterval` + `pingTimeout`): the client
/// reports an `error` and reconnects once the server answers again.
#[tokio::test]
async fn notices_a_frozen_server_by_its_missing_pings_and_reconnects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let (secret_text, secret) = random_secret();
    let heartbeat = [("PING_INTERVAL_MS", "500"), ("PING_TIMEOUT_MS", "500")];
    let server = ServerProcess::start(&secret_text, &database_url, 0, &heartbeat).await;
    let url = format!("http://{}", server.addr);
    let (builder, mut reports) = recorded(&url, Some(&secret.mint("user-1", PATIENCE * 10)));
    let client = builder.connect().await.expect("handshake");
    reports.connect().await;
    reports.event("status:current").await;

    server.signal("STOP");
    reports.error().await;
    server.signal("CONT");
    reports.connect().await;
    reports.event("status:current").await;

    client.disconnect().await.expect("disconnects");
    server.signal("TERM");
    server.exited().await;
}
