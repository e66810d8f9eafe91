//! Crashes lose nothing: the server binary is killed with SIGKILL while 500 notifications are
//! being created over HTTP and read over sockets by several clients, then started again on the
//! same database. Every notification answered 201 must be there, whole; every
//! `notification:read:success` a client saw must be persisted; no row may be half-written. On
//! SQLite (WAL, `synchronous = FULL`) and on PostgreSQL (`synchronous_commit` as the server has
//! it, `on` by default). See docs/reliability.md for why those settings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sio_wire::client::{Client, Observed};
use sio_wire::transport::TransportKind;
use sqlx::Connection;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::common::{ServerProcess, client_for, connected, random_secret, seed_fixtures};
use crate::pg;

const NOTIFICATIONS: usize = 500;
/// The server is killed once this many creations have been answered 201.
const KILL_AFTER: usize = 200;
const HTTP_CONCURRENCY: usize = 16;
/// Readers per user, half on websocket, half on long-polling.
const READERS_PER_USER: usize = 3;
const USERS: [&str; 2] = ["user-1", "user-2"];

/// The message of notification `i`: long enough that a torn write would show, and derived from
/// the title, so any row can be checked whole without knowing whether it was answered.
fn message_for(i: usize) -> String {
    format!("durability message {i}: {}", "0123456789abcdef".repeat(64))
}

fn title_for(i: usize) -> String {
    format!("durability {i}")
}

/// A stored notification: `(user_id, title, message, read_at)` by id.
type Rows = BTreeMap<String, (String, String, String, Option<String>)>;

async fn stored(url: &str) -> Rows {
    const QUERY: &str = "SELECT id, user_id, title, message, read_at FROM notifications";
    let rows: Vec<(String, String, String, String, Option<String>)> = if url.starts_with("postgres")
    {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_as(QUERY)
            .fetch_all(&mut connection)
            .await
            .expect("query")
    } else {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_as(QUERY)
            .fetch_all(&mut connection)
            .await
            .expect("query")
    };
    rows.into_iter()
        .map(|(id, user, title, message, read_at)| (id, (user, title, message, read_at)))
        .collect()
}

/// What the readers saw: ids whose `notification:read:success` arrived.
type Confirmed = Arc<Mutex<BTreeSet<String>>>;

/// A reader: subscribes to its user's notifications and reads each one as it arrives, until
/// its connection is gone.
async fn reader(mut client: Client, confirmed: Confirmed) {
    connected(&mut client).await;
    client
        .emit("/", "subscribe:notifications", Vec::new(), None)
        .expect("running");
    while let Some(observation) = client.next(Duration::from_secs(30)).await {
        match observation.what {
            Observed::Event { event, args, .. } if event == "notification:new" => {
                if let Some(id) = args.first().and_then(|n| n["id"].as_str()) {
                    // Several readers of one user read the same notification: the first read
                    // time is kept, every reader gets its success.
                    if client
                        .emit("/", "notification:read", vec![json!(id)], None)
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Observed::Event { event, args, .. } if event == "notification:read:success" => {
                if let Some(id) = args.first().and_then(Value::as_str) {
                    confirmed
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(id.to_owned());
                }
            }
            Observed::Disconnect { .. } => return,
            _ => {}
        }
    }
}

/// The whole experiment on the database at `url`.
async fn kill_in_the_middle(url: &str) {
    let (secret_text, secret) = random_secret();
    // No rate limit in the way: the readers emit one read per notification.
    let settings = [("RATE_LIMIT_EVENTS", "1000000"), ("LOG_FORMAT", "json")];
    let server = ServerProcess::start(&secret_text, url, 0, &settings).await;
    let base = format!("http://{}", server.addr);

    let confirmed: Confirmed = Arc::default();
    let mut readers = JoinSet::new();
    for user in USERS {
        for n in 0..READERS_PER_USER {
            let transport = if n % 2 == 0 {
                TransportKind::Websocket
            } else {
                TransportKind::Polling
            };
            let auth = json!({ "token": secret.mint(user, Duration::from_secs(600)) });
            let client = client_for(&base, Some(auth), Vec::new(), transport);
            readers.spawn(reader(client, confirmed.clone()));
        }
    }
    // Let every reader join its room before the first push.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let admin = secret.mint("admin-1", Duration::from_secs(600));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let answered: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(HTTP_CONCURRENCY));
    let (killed_tx, killed_rx) = tokio::sync::watch::channel(false);
    let mut creators = JoinSet::new();
    for i in 0..NOTIFICATIONS {
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        if *killed_rx.borrow() {
            break;
        }
        let (http, admin, base, answered_so_far) =
            (http.clone(), admin.clone(), base.clone(), answered.clone());
        creators.spawn(async move {
            let response = http
                .post(format!("{base}/api/v1/notifications"))
                .bearer_auth(&admin)
                .json(&json!({
                    "userId": USERS[i % USERS.len()],
                    "title": title_for(i),
                    "message": message_for(i),
                }))
                .send()
                .await;
            drop(permit);
            let Ok(response) = response else { return };
            if response.status() == reqwest::StatusCode::CREATED
                && let Ok(body) = response.json::<Value>().await
                && let Some(id) = body["id"].as_str()
            {
                answered_so_far
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(id.to_owned(), i);
            }
        });
        let count = answered.lock().map_or(0, |a| a.len());
        if count >= KILL_AFTER && !*killed_rx.borrow() {
            // Mid-flight: requests are being written, pushes and reads are on the wire.
            server.signal("KILL");
            let _ = killed_tx.send(true);
        }
    }
    if !*killed_rx.borrow() {
        server.signal("KILL");
    }
    while creators.join_next().await.is_some() {}
    let (status, _logs) = server.exited().await;
    assert_eq!(status.code(), None, "killed by a signal, not exited");
    // The readers end when their connections do.
    tokio::time::timeout(Duration::from_secs(15), async {
        while readers.join_next().await.is_some() {}
    })
    .await
    .expect("readers notice the crash");

    let answered = answered
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let confirmed = confirmed
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    assert!(
        answered.len() >= KILL_AFTER && answered.len() < NOTIFICATIONS,
        "killed in the middle: {} of {NOTIFICATIONS} answered",
        answered.len()
    );
    assert!(!confirmed.is_empty(), "readers confirmed some reads");

    // Restart on the same database: it must open, recover and serve.
    let restarted = ServerProcess::start(&secret_text, url, 0, &settings).await;
    let health = http
        .get(format!("http://{}/health", restarted.addr))
        .send()
        .await
        .expect("health answers");
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    let rows = stored(url).await;
    restarted.signal("TERM");
    let _ = restarted.exited().await;

    for (id, i) in &answered {
        let (user, title, message, _) = rows
            .get(id)
            .unwrap_or_else(|| panic!("notification {id} ({i}) was answered 201 but is gone"));
        assert_eq!(
            (user.as_str(), title, message),
            (USERS[i % USERS.len()], &title_for(*i), &message_for(*i)),
            "notification {id} is not whole"
        );
    }
    for id in &confirmed {
        let row = rows
            .get(id)
            .unwrap_or_else(|| panic!("{id} was confirmed read but is gone"));
        assert!(
            row.3.is_some(),
            "{id} was confirmed read but readAt is null"
        );
    }
    // Rows nobody heard about (written, the answer lost in the crash) must be whole too.
    let mut unanswered = 0;
    for (id, (user, title, message, _)) in &rows {
        let Some(i) = title
            .strip_prefix("durability ")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        unanswered += usize::from(!answered.contains_key(id));
        assert_eq!(
            (user.as_str(), message),
            (USERS[i % USERS.len()], &message_for(i)),
            "row {id} is half-written"
        );
    }
    eprintln!(
        "durability on {}: {} answered 201, {} stored without an answer, {} reads confirmed, all persisted",
        url.split(':').next().unwrap_or_default(),
        answered.len(),
        unanswered,
        confirmed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_nothing_when_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("durability.db").display());
    seed_fixtures(dir.path(), &url).await;
    kill_in_the_middle(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loses_nothing_when_killed() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    seed_fixtures(dir.path(), &url).await;
    kill_in_the_middle(&url).await;
}
