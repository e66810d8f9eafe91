//! The Uptime Kuma feed end to end: a wiremock Kuma serving 1.23 and 2.x shaped replies, the real
//! server polling it, and real Socket.IO clients watching `service:status`.
//!
//! Waits are for conditions (a request count at the fake, a row in the store, an event), with
//! generous limits; polls are a few tens of milliseconds apart so the tests stay fast.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use realtime_server::kuma::KumaConfig;
use realtime_server::kuma::api::parse_beat_time;
use realtime_server::store::ServiceStatus;
use serde_json::{Value, json};
use sio_wire::client::{Client, Observed};
use sio_wire::transport::TransportKind;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{
    ServerProcess, TestServer, connected, emit, event, free_port, random_secret, scraped,
    seeded_database, settle,
};

mod tls;

/// Limit for anything the feed should do within a few polls.
const PATIENCE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

fn fixture(name: &str) -> Value {
    let text = match name {
        "2.x-status-page" => include_str!("../fixtures/kuma/2.x-status-page.json"),
        "2.x-heartbeat" => include_str!("../fixtures/kuma/2.x-heartbeat.json"),
        "1.23-status-page" => include_str!("../fixtures/kuma/1.23-status-page.json"),
        "1.23-heartbeat" => include_str!("../fixtures/kuma/1.23-heartbeat.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("fixture is JSON")
}

/// The heartbeat fixture with each monitor's beats moved so its newest is now, each time written
/// as it was (with or without milliseconds).
fn fresh(mut heartbeat: Value) -> Value {
    let now = Utc::now();
    let lists = heartbeat["heartbeatList"]
        .as_object_mut()
        .expect("heartbeatList");
    for beats in lists.values_mut() {
        let beats = beats.as_array_mut().expect("beat list");
        let Some(newest) = beats
            .iter()
            .filter_map(|beat| parse_beat_time(beat["time"].as_str()?))
            .max()
        else {
            continue;
        };
        for beat in beats {
            let text = beat["time"].as_str().expect("time").to_owned();
            let moved: DateTime<Utc> = parse_beat_time(&text).expect("valid time") + (now - newest);
            let format = if text.contains('.') {
                "%Y-%m-%d %H:%M:%S%.3f"
            } else {
                "%Y-%m-%d %H:%M:%S"
            };
            beat["time"] = json!(moved.format(format).to_string());
        }
    }
    heartbeat
}

/// Appends a beat, newer than any, to monitor `id`.
fn with_beat(mut heartbeat: Value, id: &str, status: u8, ping: Option<u32>) -> Value {
    let time = Utc::now().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    heartbeat["heartbeatList"][id]
        .as_array_mut()
        .expect("monitor has a beat list")
        .push(json!({"status": status, "time": time, "msg": "", "ping": ping}));
    heartbeat
}

/// A fake Kuma with one status page.
struct FakeKuma {
    mock: MockServer,
    slug: &'static str,
}

impl FakeKuma {
    async fn start(slug: &'static str) -> Self {
        Self {
            mock: MockServer::start().await,
            slug,
        }
    }

    fn config(&self) -> KumaConfig {
        let mut config = KumaConfig::new(&self.mock.uri(), self.slug).expect("valid");
        config.poll_interval = POLL;
        config.request_timeout = Duration::from_millis(500);
        config
    }

    /// Replaces what the fake answers on both endpoints.
    async fn answer(&self, page: ResponseTemplate, heartbeat: ResponseTemplate) {
        self.mock.reset().await;
        Mock::given(method("GET"))
            .and(path(format!("/api/status-page/{}", self.slug)))
            .respond_with(page)
            .mount(&self.mock)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/api/status-page/heartbeat/{}", self.slug)))
            .respond_with(heartbeat)
            .mount(&self.mock)
            .await;
    }

    async fn serve(&self, page: &Value, heartbeat: &Value) {
        self.answer(json_reply(page), json_reply(heartbeat)).await;
    }

    async fn requests_to(&self, endpoint: &str) -> usize {
        let wanted = format!("/api/status-page/{endpoint}{}", self.slug);
        self.mock
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|request| request.url.path() == wanted)
            .count()
    }

    /// Waits until the feed has published what its first poll read: its second poll starts only
    /// after that (a client subscribed earlier could hear the first poll's broadcasts).
    async fn first_poll_published(&self) {
        until("a second poll", || async {
            self.requests_to("heartbeat/").await >= 2
        })
        .await;
    }

    /// Waits until the server has polled the heartbeat endpoint `polls` more times.
    async fn polled(&self, polls: usize) {
        let start = self.requests_to("heartbeat/").await;
        until("more heartbeat polls", || async {
            self.requests_to("heartbeat/").await >= start + polls
        })
        .await;
    }
}

fn json_reply(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn row(server: &TestServer, service: &str) -> Option<ServiceStatus> {
    server
        .store
        .service_statuses()
        .await
        .expect("store reads")
        .into_iter()
        .find(|row| row.service == service)
}

async fn has_status(server: &TestServer, service: &str, status: &str) -> bool {
    row(server, service)
        .await
        .is_some_and(|r| r.status == status)
}

/// A subscribed client whose `status:current` has been taken.
async fn subscriber(server: &TestServer, user: &str) -> Client {
    let mut client = server.client(user, TransportKind::Websocket);
    connected(&mut client).await;
    emit(&client, "subscribe:status", vec![]);
    event(&mut client, "status:current").await;
    client
}

/// `(service, status)` of the next `service:status`.
async fn next_status(client: &mut Client) -> (String, String) {
    let args = event(client, "service:status").await;
    let text = |key: &str| args[0][key].as_str().unwrap_or_default().to_owned();
    (text("service"), text("status"))
}

fn unconsumed_statuses(client: &mut Client) -> Vec<Value> {
    client.drain();
    client
        .unconsumed()
        .filter_map(|o| match &o.what {
            Observed::Event { event, args, .. } if event == "service:status" => {
                Some(args[0].clone())
            }
            _ => None,
        })
        .collect()
}

fn summary(row: &ServiceStatus) -> Value {
    json!([row.status, row.response_time, row.uptime])
}

#[tokio::test]
async fn kuma_2x_statuses_are_stored_and_only_status_changes_are_broadcast() {
    let kuma = FakeKuma::start("home").await;
    let heartbeat = fresh(fixture("2.x-heartbeat"));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    let mut server = TestServer::start_with_kuma(kuma.config()).await;
    kuma.first_poll_published().await;

    let mut rows = Vec::new();
    for service in ["plex", "jellyfin", "sonarr", "radarr", "nas"] {
        rows.push(summary(&row(&server, service).await.expect("row")));
    }
    assert_eq!(
        rows,
        [
            json!(["up", 38, 99.86]),
            json!(["down", null, 95.12]),
            json!(["degraded", null, 97.25]),
            json!(["degraded", 1204, 99.31]),
            json!(["unknown", null, 0.0]),
        ]
    );

    let mut client = subscriber(&server, "user-1").await;
    // Plex answers slower: its row follows, nobody hears of it.
    let heartbeat = with_beat(heartbeat, "1", 1, Some(450));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    until("Plex's new response time", || async {
        row(&server, "plex")
            .await
            .is_some_and(|r| r.response_time == Some(450))
    })
    .await;
    // lastCheck is the beat's own time, not when the feed wrote the row.
    let beat_time = heartbeat["heartbeatList"]["1"]
        .as_array()
        .and_then(|beats| beats.last())
        .and_then(|beat| parse_beat_time(beat["time"].as_str()?))
        .expect("the new beat's time");
    assert_eq!(
        row(&server, "plex").await.expect("row").last_check,
        beat_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    kuma.polled(2).await;
    settle(&mut client).await;
    assert_eq!(unconsumed_statuses(&mut client), Vec::<Value>::new());

    // Plex goes down: one event, for Plex, and nothing more on later polls.
    let heartbeat = with_beat(heartbeat, "1", 0, None);
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    assert_eq!(
        next_status(&mut client).await,
        ("plex".to_owned(), "down".to_owned())
    );
    kuma.polled(2).await;
    settle(&mut client).await;
    assert_eq!(unconsumed_statuses(&mut client), Vec::<Value>::new());
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn kuma_123_replies_map_the_same_way() {
    let kuma = FakeKuma::start("lan").await;
    let heartbeat = fresh(fixture("1.23-heartbeat"));
    kuma.serve(&fixture("1.23-status-page"), &heartbeat).await;
    let mut server = TestServer::start_with_kuma(kuma.config()).await;
    until("the camera row", || {
        has_status(&server, "camera", "unknown")
    })
    .await;
    let mut rows = Vec::new();
    for service in ["home-assistant", "pi-hole", "router", "printer", "camera"] {
        rows.push(summary(&row(&server, service).await.expect("row")));
    }
    assert_eq!(
        rows,
        [
            json!(["up", 112, 100.0]),
            json!(["down", null, 80.0]),
            json!(["degraded", null, 99.0]),
            json!(["degraded", 7, 50.0]),
            json!(["unknown", null, null]),
        ]
    );
    let feed = &server.health().await["kuma"];
    assert_eq!(
        (feed["state"].clone(), feed["monitors"].clone()),
        (json!("ok"), json!(5))
    );
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_monitor_without_fresh_beats_turns_unknown() {
    let kuma = FakeKuma::start("home").await;
    let mut config = kuma.config();
    config.stale_after = Duration::from_secs(3);
    let heartbeat = fresh(fixture("2.x-heartbeat"));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    let mut server = TestServer::start_with_kuma(config).await;
    kuma.first_poll_published().await;
    let mut client = subscriber(&server, "user-1").await;

    // Kuma keeps answering, but with the same old beats: each fresh monitor goes unknown once.
    let mut heard = Vec::new();
    for _ in 0..4 {
        let args = match client
            .wait_for(
                PATIENCE,
                |o| matches!(o, Observed::Event { event, .. } if event == "service:status"),
            )
            .await
            .map(|o| o.what)
        {
            Some(Observed::Event { args, .. }) => args,
            other => panic!("expected service:status, got {other:?}"),
        };
        heard.push((args[0]["service"].clone(), args[0]["status"].clone()));
    }
    heard.sort_by_key(|(service, _)| service.to_string());
    assert_eq!(
        heard,
        [
            (json!("jellyfin"), json!("unknown")),
            (json!("plex"), json!("unknown")),
            (json!("radarr"), json!("unknown")),
            (json!("sonarr"), json!("unknown")),
        ]
    );
    assert_eq!(row(&server, "plex").await.expect("row").response_time, None);
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_kuma_outage_keeps_the_last_statuses_and_recovery_is_seen() {
    let kuma = FakeKuma::start("home").await;
    let heartbeat = fresh(fixture("2.x-heartbeat"));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    let mut server = TestServer::start_with_kuma(kuma.config()).await;
    kuma.first_poll_published().await;
    let mut client = subscriber(&server, "user-2").await;

    kuma.answer(
        ResponseTemplate::new(502),
        ResponseTemplate::new(502).set_body_string("Bad Gateway"),
    )
    .await;
    until("the feed to report the outage", || async {
        server.health().await["kuma"]["error"] == json!("Uptime Kuma answered HTTP 502")
    })
    .await;
    let feed = server.health().await;
    assert_eq!(feed["status"], "ok", "the server itself is fine");
    assert_eq!(feed["kuma"]["state"], "failing");
    kuma.polled(1).await;
    assert!(has_status(&server, "plex", "up").await, "last status kept");
    // What Prometheus sees of it.
    let url = server.url();
    assert_eq!(scraped(&url, "realtime_kuma_feed_failing").await, Some(1.0));
    let failures = scraped(&url, "realtime_kuma_poll_failures_total").await;
    let polls = scraped(&url, "realtime_kuma_polls_total").await;
    assert!(
        matches!((failures, polls), (Some(f), Some(p)) if f >= 1.0 && p > f),
        "{failures:?} of {polls:?}"
    );

    let heartbeat = with_beat(heartbeat, "1", 0, None);
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    assert_eq!(
        next_status(&mut client).await,
        ("plex".to_owned(), "down".to_owned())
    );
    until("the feed to recover", || async {
        server.health().await["kuma"]["state"] == "ok"
    })
    .await;
    assert_eq!(
        scraped(&server.url(), "realtime_kuma_feed_failing").await,
        Some(0.0)
    );
    settle(&mut client).await;
    assert_eq!(unconsumed_statuses(&mut client), Vec::<Value>::new());
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn every_kind_of_bad_reply_is_reported_and_survived() {
    let kuma = FakeKuma::start("home").await;
    let page = fixture("2.x-status-page");
    let heartbeat = fresh(fixture("2.x-heartbeat"));
    kuma.serve(&page, &heartbeat).await;
    let mut server = TestServer::start_with_kuma(kuma.config()).await;
    until("Plex up", || has_status(&server, "plex", "up")).await;

    let huge = format!(
        "{{\"heartbeatList\": {{}}, \"pad\": \"{}\"}}",
        "x".repeat(9 << 20)
    );
    let faults = [
        (
            ResponseTemplate::new(200)
                .set_body_json(&heartbeat)
                .set_delay(Duration::from_secs(3)),
            "no complete answer within 500 ms",
        ),
        (
            ResponseTemplate::new(404)
                .set_body_json(json!({"status": "fail", "msg": "Status Page Not Found"})),
            "status page not found (HTTP 404): check KUMA_STATUS_PAGE",
        ),
        (
            ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"),
            "no Uptime Kuma API at this address (HTTP 404): check the path in KUMA_URL",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>Welcome to nginx</html>"),
            "an HTML page instead of Uptime Kuma's API: check the path in KUMA_URL",
        ),
        (
            ResponseTemplate::new(200).set_body_string("Welcome"),
            "reply is not a status-page JSON: expected value",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": true})),
            "reply is not a status-page JSON: missing field `heartbeatList`",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"heartbeatList":
                {"1": [{"status": 1, "time": "yesterday", "ping": 3}]}})),
            "reply is not a status-page JSON: monitor 1 has a beat time \"yesterday\" that is \
             not `YYYY-MM-DD HH:MM:SS[.sss]`",
        ),
        (
            ResponseTemplate::new(200).set_body_string(huge),
            "reply larger than 8388608 bytes",
        ),
    ];
    for (reply, expected) in faults {
        kuma.answer(json_reply(&page), reply).await;
        until(expected, || async {
            server.health().await["kuma"]["error"]
                .as_str()
                .is_some_and(|error| error.starts_with(expected))
        })
        .await;
        assert!(has_status(&server, "plex", "up").await, "last status kept");
        kuma.serve(&page, &heartbeat).await;
        until("recovery", || async {
            server.health().await["kuma"]["state"] == "ok"
        })
        .await;
    }
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn admin_refresh_polls_kuma_at_once() {
    let kuma = FakeKuma::start("home").await;
    let mut config = kuma.config();
    config.poll_interval = Duration::from_secs(3600);
    let heartbeat = fresh(fixture("2.x-heartbeat"));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    let mut server = TestServer::start_with_kuma(config).await;
    let mut admin = server.client("admin-1", TransportKind::Polling);
    connected(&mut admin).await;
    // Polls are an hour apart: the second poll comes from a refresh.
    emit(&admin, "admin:refresh-status", vec![]);
    kuma.first_poll_published().await;
    let mut watcher = subscriber(&server, "user-1").await;

    let heartbeat = with_beat(heartbeat, "2", 1, Some(25));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    emit(&admin, "admin:refresh-status", vec![]);
    event(&mut watcher, "status:refreshing").await;
    assert_eq!(
        next_status(&mut watcher).await,
        ("jellyfin".to_owned(), "up".to_owned())
    );
    let seen: Vec<&str> = watcher
        .history()
        .iter()
        .filter_map(|o| match &o.what {
            Observed::Event { event, .. } => Some(event.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        ["status:current", "status:refreshing", "service:status"]
    );
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_new_monitor_id_makes_the_feed_reread_the_page() {
    let kuma = FakeKuma::start("home").await;
    let heartbeat = fresh(fixture("2.x-heartbeat"));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    let mut server = TestServer::start_with_kuma(kuma.config()).await;
    until("the first poll", || has_status(&server, "nas", "unknown")).await;

    // Beats for monitor 6 before the page lists it: skipped, and the page read once more, not
    // on every poll.
    let mut heartbeat = heartbeat;
    heartbeat["heartbeatList"]["6"] = json!([]);
    let heartbeat = with_beat(heartbeat, "6", 1, Some(12));
    kuma.serve(&fixture("2.x-status-page"), &heartbeat).await;
    kuma.polled(3).await;
    assert_eq!(
        kuma.requests_to("").await,
        1,
        "one page read since the new id"
    );
    assert_eq!(row(&server, "prowlarr").await, None);

    // Once the page lists it (seen on the read the next new id causes), it is a service.
    let mut page = fixture("2.x-status-page");
    page["publicGroupList"][1]["monitorList"]
        .as_array_mut()
        .expect("monitor list")
        .push(json!({"id": 6, "name": "Prowlarr", "sendUrl": 0, "type": "http"}));
    let mut heartbeat = heartbeat;
    heartbeat["heartbeatList"]["7"] = json!([]);
    kuma.serve(&page, &heartbeat).await;
    until("Prowlarr's row", || has_status(&server, "prowlarr", "up")).await;
    server.stop().await.expect("clean shutdown");
}

/// The binary with the feed set by environment: a half-set feed is refused, and a failing Kuma
/// is logged once (without the credentials in its URL), shown by `/health`, and stopped on
/// SIGTERM before the database closes.
#[tokio::test]
async fn the_binary_runs_the_feed_from_its_environment() {
    const BINARY: &str = env!("CARGO_BIN_EXE_realtime-server");
    let secret = "kuma-process-test-secret-0123456789";
    let half_set = tokio::process::Command::new(BINARY)
        .args(["serve", "--port", "0"])
        .env("JWT_SECRET", secret)
        .env("KUMA_URL", "http://admin:hunter2@127.0.0.1:9")
        .env_remove("KUMA_STATUS_PAGE")
        .output()
        .await
        .expect("runs");
    assert!(!half_set.status.success());
    let stderr = String::from_utf8_lossy(&half_set.stderr);
    assert!(stderr.contains("KUMA_STATUS_PAGE is required"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let kuma = FakeKuma::start("home").await;
    kuma.answer(ResponseTemplate::new(503), ResponseTemplate::new(503))
        .await;
    let address = kuma.mock.address();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = tokio::process::Command::new(BINARY)
        .args(["serve", "--port", "0", "--log-format", "json"])
        .env("JWT_SECRET", secret)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("k.db").display()),
        )
        .env("KUMA_URL", format!("http://admin:hunter2@{address}/"))
        .env("KUMA_STATUS_PAGE", "home")
        .env("KUMA_POLL_MS", "20")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let stderr = child.stderr.take().expect("stderr");
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let logs = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut addr_tx = Some(addr_tx);
        let mut text = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let log: Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(addr) = log["fields"]["addr"].as_str()
                && let Some(tx) = addr_tx.take()
            {
                let _ = tx.send(addr.to_owned());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let addr = tokio::time::timeout(PATIENCE, addr_rx)
        .await
        .expect("listening in time")
        .expect("server listens");

    // Several failed polls (the back-off caps at four 20 ms intervals).
    until("five failed polls", || async {
        kuma.requests_to("").await >= 5
    })
    .await;
    let health: Value = reqwest::get(format!("http://{addr}/health"))
        .await
        .expect("health answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["kuma"]["state"], "failing");
    assert_eq!(health["kuma"]["error"], "Uptime Kuma answered HTTP 503");

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert_eq!(status.code(), Some(0));
    let logs = logs.await.expect("log reader");
    assert_eq!(
        logs.matches("Uptime Kuma feed failing").count(),
        1,
        "one line per failure, not per poll: {logs}"
    );
    assert!(!logs.contains("hunter2"), "credentials leaked: {logs}");
    let stopped = logs.find("Uptime Kuma feed stopped").expect("feed stopped");
    let closed = logs.find("database closed").expect("database closed");
    assert!(
        stopped < closed,
        "the feed stops before the database closes"
    );
}

#[tokio::test]
async fn a_kuma_that_refuses_connections_is_reported_without_its_url() {
    let closed_port = free_port();
    let mut config = KumaConfig::new(
        &format!("http://admin:hunter2@127.0.0.1:{closed_port}"),
        "home",
    )
    .expect("valid");
    config.poll_interval = POLL;
    let mut server = TestServer::start_with_kuma(config).await;
    until("the refusal in /health", || async {
        server.health().await["kuma"]["state"] == "failing"
    })
    .await;
    let error = server.health().await["kuma"]["error"].clone();
    let error = error.as_str().expect("an error text");
    assert!(error.starts_with("cannot reach Uptime Kuma: "), "{error}");
    assert!(
        !error.contains("hunter2") && !error.contains("127.0.0.1"),
        "{error}"
    );
    assert!(
        has_status(&server, "plex", "up").await,
        "the stored rows stay"
    );
    server.stop().await.expect("clean shutdown");
}

/// The feed's role on the server at `addr`, from `/health`.
async fn role(addr: std::net::SocketAddr) -> String {
    feed_health(addr).await["role"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `/health`'s `kuma` on the server at `addr`.
async fn feed_health(addr: std::net::SocketAddr) -> Value {
    let health: Value = reqwest::get(format!("http://{addr}/health"))
        .await
        .expect("health answers")
        .json()
        .await
        .expect("JSON");
    health["kuma"].clone()
}

#[tokio::test]
async fn one_node_of_a_cluster_polls_and_another_takes_over_when_it_dies() {
    let kuma = FakeKuma::start("home").await;
    kuma.serve(
        &fixture("2.x-status-page"),
        &fresh(fixture("2.x-heartbeat")),
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let (secret, _) = random_secret();
    let kuma_url = kuma.mock.uri();
    let settings = [
        ("KUMA_URL", kuma_url.as_str()),
        ("KUMA_STATUS_PAGE", "home"),
        ("KUMA_POLL_MS", "50"),
        ("KUMA_LEASE_MS", "600"),
    ];
    let first = ServerProcess::start(&secret, &database_url, 0, &settings).await;
    let second = ServerProcess::start(&secret, &database_url, 0, &settings).await;

    let one_poller = |roles: &(String, String)| {
        matches!(
            (roles.0.as_str(), roles.1.as_str()),
            ("polling", "standby") | ("standby", "polling")
        )
    };
    until("one node polling, the other standing by", || async {
        one_poller(&(role(first.addr).await, role(second.addr).await))
    })
    .await;
    let roles = (role(first.addr).await, role(second.addr).await);
    assert!(one_poller(&roles), "{roles:?}");
    // Several renewals later, still exactly one poller.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let settled = (role(first.addr).await, role(second.addr).await);
    assert_eq!(
        settled, roles,
        "the lease stays with its holder while it renews"
    );

    let (holder, survivor) = if roles.0 == "polling" {
        (first, second)
    } else {
        (second, first)
    };
    until("the poller's first read", || async {
        feed_health(holder.addr).await["state"] == "ok"
    })
    .await;
    let standby = feed_health(survivor.addr).await;
    assert_eq!(
        (&standby["role"], &standby["state"]),
        (&json!("standby"), &json!("standby")),
        "a standby node says so, not `starting`: {standby}"
    );
    // A crash: nothing released, the lease must expire.
    holder.signal("KILL");
    let _ = holder.exited().await;
    let polls_before = kuma.requests_to("heartbeat/").await;
    until("the survivor taking the lease over", || async {
        role(survivor.addr).await == "polling"
    })
    .await;
    kuma.polled(2).await;
    assert!(kuma.requests_to("heartbeat/").await > polls_before);
    until("the new poller's first read", || async {
        feed_health(survivor.addr).await["state"] == "ok"
    })
    .await;
    survivor.signal("TERM");
    let (status, logs) = survivor.exited().await;
    assert_eq!(status.code(), Some(0));
    assert!(
        logs.contains("this node polls Uptime Kuma"),
        "the takeover is logged: {logs}"
    );
}

/// A wrong path in KUMA_URL (Kuma is not under it: an empty 404) is named as such in `/health`
/// and the log, and told apart from a wrong status page (Kuma 2.x's own 404).
#[tokio::test]
async fn a_wrong_path_in_kuma_url_is_named_as_such() {
    let kuma = FakeKuma::start("home").await;
    kuma.serve(
        &fixture("2.x-status-page"),
        &fresh(fixture("2.x-heartbeat")),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/status-page/nope"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"status": "fail", "msg": "Status Page Not Found"})),
        )
        .mount(&kuma.mock)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let (secret, _) = random_secret();
    let cases = [
        (
            format!("{}/uptime/", kuma.mock.uri()),
            "home",
            "no Uptime Kuma API at this address (HTTP 404): check the path in KUMA_URL",
        ),
        (
            kuma.mock.uri(),
            "nope",
            "status page not found (HTTP 404): check KUMA_STATUS_PAGE",
        ),
    ];
    for (kuma_url, page, expected) in cases {
        let settings = [
            ("KUMA_URL", kuma_url.as_str()),
            ("KUMA_STATUS_PAGE", page),
            ("KUMA_POLL_MS", "50"),
        ];
        let server = ServerProcess::start(&secret, &database_url, 0, &settings).await;
        until(expected, || async {
            feed_health(server.addr).await["error"] == expected
        })
        .await;
        assert_eq!(feed_health(server.addr).await["state"], "failing");
        server.signal("TERM");
        let (status, logs) = server.exited().await;
        assert_eq!(status.code(), Some(0));
        let failing: Vec<Value> = logs
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| {
                line["fields"]["message"]
                    == "Uptime Kuma feed failing; last statuses kept until stale"
            })
            .collect();
        assert_eq!(failing.len(), 1, "{logs}");
        assert_eq!(failing[0]["fields"]["error"], expected, "{logs}");
    }
}
