//! Two nodes sharing a real redis-server: cross-node delivery, and every Redis fault the cluster
//! must survive (restart, freeze, absent at start, a burst) without a restart and without silent
//! loss, in each protocol on Redis (`REDIS_ADAPTER`). Mixed Node and Rust nodes: mixed_cluster.rs.

use std::process::Stdio;
use std::time::Duration;

use realtime_server::cluster::{AdapterKind, RedisUrl};
use serde_json::{Value, json};
use sio_wire::client::Observed;
use sio_wire::transport::TransportKind;
use tokio::process::{Child, Command};

use crate::common::{TestServer, WAIT, connected, emit, event, free_port, scraped, settle};

/// Runs each test once per protocol on Redis (`REDIS_ADAPTER`): everything the driver
/// guarantees must hold in both.
macro_rules! in_both_protocols {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            use super::AdapterKind;

            #[tokio::test]
            async fn socketioxide() {
                super::$test(AdapterKind::Socketioxide).await;
            }

            #[tokio::test]
            async fn socket_io() {
                super::$test(AdapterKind::SocketIo).await;
            }
        }
    )*};
}

in_both_protocols!(
    broadcasts_and_pushes_reach_sockets_on_the_other_node,
    a_redis_restart_is_survived_without_restarting_the_nodes,
    a_frozen_redis_delays_cross_node_messages_but_never_local_ones,
    a_node_started_while_redis_is_down_joins_when_it_comes_up,
    a_burst_of_twenty_thousand_events_crosses_nodes_whole_and_in_order,
);

/// A redis-server on a free loopback port, in its own directory, stopped by pid.
pub struct RedisProcess {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    frozen: bool,
}

impl RedisProcess {
    pub async fn start() -> Self {
        let port = free_port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            frozen: false,
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> RedisUrl {
        RedisUrl::new(format!("redis://127.0.0.1:{}", self.port))
    }

    /// Starts redis-server again on the same port and waits until it answers.
    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs it)");
        self.child = Some(child);
        let client = redis::Client::open(self.url_text()).expect("url");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url_text(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .expect("redis-server running");
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("redis-server killed");
        }
    }

    fn freeze(&mut self) {
        self.signal("STOP");
        self.frozen = true;
    }

    fn thaw(&mut self) {
        self.signal("CONT");
        self.frozen = false;
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        // A stopped process ignores SIGKILL's delivery until continued on some kernels' views of
        // it; continue it first so kill_on_drop takes it down.
        if self.frozen {
            self.signal("CONT");
        }
    }
}

/// A Rust node on `redis` speaking `kind`'s protocol there.
pub async fn node(redis: &RedisProcess, kind: AdapterKind) -> TestServer {
    let url = redis.url();
    TestServer::start_with(move |config| {
        config.redis_url = Some(url);
        config.redis_adapter = kind;
    })
    .await
}

/// Two nodes on `redis`, both linked.
async fn two_nodes(redis: &RedisProcess, kind: AdapterKind) -> (TestServer, TestServer) {
    let (a, b) = (node(redis, kind).await, node(redis, kind).await);
    link_state(&a, "connected").await;
    link_state(&b, "connected").await;
    (a, b)
}

/// Waits until the node's Redis link reports `state`.
pub async fn link_state(server: &TestServer, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = server.health().await;
        if body["adapter"]["state"] == state {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "adapter never became {state}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The socket id a connected client was given.
pub fn sid_of(client: &sio_wire::client::Client) -> String {
    client
        .history()
        .iter()
        .find_map(|o| match &o.what {
            Observed::Connect { sid, .. } => Some(sid.clone()),
            _ => None,
        })
        .expect("connected with a sid")
}

/// A client of `user` on `server`, subscribed to status updates.
pub async fn status_subscriber(server: &TestServer, user: &str) -> sio_wire::client::Client {
    let mut client = server.client(user, TransportKind::Websocket);
    connected(&mut client).await;
    emit(&client, "subscribe:status", vec![]);
    event(&mut client, "status:current").await;
    client
}

pub async fn push_status(server: &TestServer, service: &str, status: &str) {
    server
        .sockets()
        .broadcast_status_update(service, status)
        .await
        .expect("an emit never fails for Redis's sake");
}

/// The `service:status` update for `service`, or a panic with what arrived.
pub async fn status_update(client: &mut sio_wire::client::Client, service: &str) -> Value {
    let seen = client
        .wait_for(WAIT, |o| {
            matches!(o, Observed::Event { event, args, .. }
                if event == "service:status" && args.first().is_some_and(|a| a["service"] == service))
        })
        .await;
    match seen.map(|o| o.what) {
        Some(Observed::Event { mut args, .. }) => args.remove(0),
        _ => panic!(
            "no service:status for {service}; saw {:?}",
            client.history()
        ),
    }
}

async fn broadcasts_and_pushes_reach_sockets_on_the_other_node(kind: AdapterKind) {
    let redis = RedisProcess::start().await;
    let (a, b) = two_nodes(&redis, kind).await;
    let mut on_b = status_subscriber(&b, "user-1").await;

    push_status(&a, "plex", "down").await;
    assert_eq!(status_update(&mut on_b, "plex").await["status"], "down");

    // An HTTP push received by node A reaches the user's socket on node B.
    emit(&on_b, "subscribe:notifications", vec![]);
    settle(&mut on_b).await;
    let pushed = a
        .http()
        .post(format!("{}/api/v1/notifications", a.url()))
        .bearer_auth(a.token("admin-1"))
        .json(&json!({ "userId": "user-1", "title": "Hello", "message": "from node A" }))
        .send()
        .await
        .expect("request");
    assert_eq!(pushed.status(), 201);
    let args = event(&mut on_b, "notification:new").await;
    assert_eq!(args[0]["title"], "Hello");

    // socket.io's room named after each socket's id works across nodes too.
    let sid = sid_of(&on_b);
    a.sockets()
        .emit_to_room(&sid, "direct", &json!({ "to": "one socket" }))
        .await
        .expect("emit");
    assert_eq!(event(&mut on_b, "direct").await[0]["to"], "one socket");

    let body = a.health().await;
    assert_eq!(
        body["adapter"],
        json!({ "kind": "redis", "state": "connected", "lost": 0 })
    );
}

async fn a_redis_restart_is_survived_without_restarting_the_nodes(kind: AdapterKind) {
    let mut redis = RedisProcess::start().await;
    let (a, b) = two_nodes(&redis, kind).await;
    let mut on_a = status_subscriber(&a, "user-1").await;
    let mut on_b = status_subscriber(&b, "user-2").await;

    redis.kill().await;
    link_state(&a, "reconnecting").await;
    assert_eq!(
        scraped(&a.url(), "realtime_redis_adapter_up").await,
        Some(0.0)
    );
    // Local delivery does not depend on Redis.
    push_status(&a, "sonarr", "degraded").await;
    assert_eq!(
        status_update(&mut on_a, "sonarr").await["status"],
        "degraded"
    );

    redis.restart().await;
    let back = tokio::time::Instant::now();
    link_state(&a, "connected").await;
    link_state(&b, "connected").await;
    assert!(
        back.elapsed() < Duration::from_secs(2),
        "cross-node delivery must resume within 2 s of Redis coming back, took {:?}",
        back.elapsed()
    );
    // The update sent during the outage was not queued for later: dropped, and counted.
    let lost = a.health().await["adapter"]["lost"].as_u64();
    assert!(lost >= Some(1));
    // Prometheus sees the same.
    assert_eq!(
        scraped(&a.url(), "realtime_redis_adapter_up").await,
        Some(1.0)
    );
    assert_eq!(
        scraped(&a.url(), "realtime_redis_adapter_lost_messages_total").await,
        lost.map(|lost| lost as f64)
    );
    push_status(&a, "radarr", "up").await;
    assert_eq!(status_update(&mut on_b, "radarr").await["status"], "up");
    push_status(&b, "lidarr", "down").await;
    assert_eq!(status_update(&mut on_a, "lidarr").await["status"], "down");
}

async fn a_frozen_redis_delays_cross_node_messages_but_never_local_ones(kind: AdapterKind) {
    let mut redis = RedisProcess::start().await;
    let (a, b) = two_nodes(&redis, kind).await;
    let mut on_a = status_subscriber(&a, "user-1").await;
    let mut on_b = status_subscriber(&b, "user-2").await;

    redis.freeze();
    push_status(&a, "plex", "down").await;
    // Redis answers nothing while frozen, yet the emit returned and the local socket has it.
    assert_eq!(status_update(&mut on_a, "plex").await["status"], "down");
    let none = on_b
        .wait_for(
            Duration::from_millis(300),
            |o| matches!(o, Observed::Event { event, .. } if event == "service:status"),
        )
        .await;
    assert!(
        none.is_none(),
        "node B cannot hear anything while Redis is frozen"
    );

    redis.thaw();
    // Queued, not lost: it arrives once Redis answers again.
    assert_eq!(status_update(&mut on_b, "plex").await["status"], "down");
    assert_eq!(a.health().await["adapter"]["lost"], 0);
}

async fn a_node_started_while_redis_is_down_joins_when_it_comes_up(kind: AdapterKind) {
    let mut redis = RedisProcess::start().await;
    redis.kill().await;
    let a = node(&redis, kind).await;
    let body = link_state(&a, "reconnecting").await;
    assert_eq!(
        body["status"], "ok",
        "the node serves its own clients meanwhile"
    );
    let mut on_a = status_subscriber(&a, "user-1").await;
    push_status(&a, "plex", "up").await;
    assert_eq!(status_update(&mut on_a, "plex").await["status"], "up");

    redis.restart().await;
    let b = node(&redis, kind).await;
    link_state(&a, "connected").await;
    link_state(&b, "connected").await;
    push_status(&b, "sonarr", "down").await;
    assert_eq!(status_update(&mut on_a, "sonarr").await["status"], "down");
}

async fn a_burst_of_twenty_thousand_events_crosses_nodes_whole_and_in_order(kind: AdapterKind) {
    const BURST: usize = 20_000;
    let redis = RedisProcess::start().await;
    let (a, b) = two_nodes(&redis, kind).await;
    let mut on_b = b.client("user-1", TransportKind::Websocket);
    connected(&mut on_b).await;
    let sid = sid_of(&on_b);

    // Each emit returns at once (the outbox takes it), so this is a burst as fast as the
    // process can make one.
    let sockets = a.sockets();
    for n in 0..BURST {
        sockets.emit_to_room(&sid, "burst", &n).await.expect("emit");
    }

    let mut next = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while next < BURST {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let seen = on_b
            .wait_for(
                remaining,
                |o| matches!(o, Observed::Event { event, .. } if event == "burst"),
            )
            .await;
        match seen.map(|o| o.what) {
            Some(Observed::Event { args, .. }) => {
                assert_eq!(args[0], json!(next), "events arrive in order, none missing");
                next += 1;
            }
            _ => panic!("only {next} of {BURST} events arrived"),
        }
    }
    assert_eq!(a.health().await["adapter"]["lost"], 0);
}
