//! PostgreSQL stopped while clients are connected, then started again: the sockets stay up,
//! events that need the database get their usual error events with generic messages, new
//! Engine.IO sessions are refused with 503 (transient: clients retry), `/health` says the
//! database is down; once PostgreSQL is back, all of it works again without restarting the
//! server. The same checks run against the Rust server (in process) and the Node original (its
//! built `dist/`, as a child process). The official client's view: `database_availability.rs`.

use std::time::Duration;

use realtime_server::auth::JwtSecret;
use serde_json::{Value, json};
use sio_wire::client::{Client, Observed};
use sio_wire::transport::TransportKind;

use crate::common::{TestServer, client_for, connected, emit, event, quota};
use crate::node_original::{self, NodeServer};
use crate::pg::{self, Cluster};

/// How long a query waits for a connection: short, so a stopped database answers quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A server under test: its URL and the secret its tokens are signed with.
struct Endpoint {
    url: String,
    secret: JwtSecret,
}

impl Endpoint {
    fn client(&self, user: &str) -> Client {
        let token = self.secret.mint(user, Duration::from_secs(3600));
        client_for(
            &self.url,
            Some(json!({ "token": token })),
            Vec::new(),
            TransportKind::Websocket,
        )
    }

    /// The status and `Retry-After` of a new Engine.IO session's first request.
    async fn handshake(&self) -> (u16, Option<String>) {
        let response = reqwest::get(format!("{}/socket.io/?EIO=4&transport=polling", self.url))
            .await
            .expect("the handshake is answered");
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status().as_u16(), retry_after)
    }

    async fn health(&self) -> (u16, Value) {
        let response = reqwest::get(format!("{}/health", self.url))
            .await
            .expect("health answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Waits until the server's probe has seen the database go (`false`) or come back.
    async fn until_database_up_is(&self, up: bool) {
        let want = if up { 200 } else { 503 };
        // A second or two in fact (the probe runs every second); more on a busy machine.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let status = reqwest::get(format!("{}/health/ready", self.url))
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ready stayed {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Everything the issue asks of an outage, against a running server on `cluster`.
async fn rides_out_a_restart(cluster: &Cluster, server: &Endpoint) {
    let mut alice = server.client("user-1");
    connected(&mut alice).await;
    emit(&alice, "subscribe:status", vec![]);
    event(&mut alice, "status:current").await;

    cluster.stop().await;
    server.until_database_up_is(false).await;

    emit(&alice, "notification:read", vec![json!("n-alice-1")]);
    assert_eq!(
        event(&mut alice, "notification:read:error").await,
        [json!({"id": "n-alice-1", "error": "Could not mark notification as read"})]
    );
    emit(&alice, "subscribe:status", vec![]);
    assert_eq!(
        event(&mut alice, "error").await,
        [json!({"message": "Could not load service status"})]
    );
    // The socket is still served: an event that needs no database is answered as usual.
    emit(&alice, "admin:refresh-status", vec![]);
    assert_eq!(
        event(&mut alice, "error").await,
        [json!({"message": "Unauthorized"})]
    );
    assert_eq!(server.handshake().await, (503, Some("1".to_owned())));
    assert_eq!(
        server.health().await,
        (
            503,
            json!({"status": "error", "database": "down", "connections": 1})
        )
    );
    assert!(
        !alice
            .history()
            .iter()
            .any(|o| matches!(o.what, Observed::Disconnect { .. })),
        "alice stayed connected: {:?}",
        alice.history()
    );

    cluster.restart().await;
    server.until_database_up_is(true).await;

    emit(&alice, "notification:read", vec![json!("n-alice-1")]);
    assert_eq!(
        event(&mut alice, "notification:read:success").await,
        [json!("n-alice-1")]
    );
    emit(&alice, "subscribe:status", vec![]);
    let statuses = event(&mut alice, "status:current").await;
    assert_eq!(statuses[0].as_array().map(Vec::len), Some(3));
    let mut bob = server.client("user-2");
    connected(&mut bob).await;
    let (status, body) = server.health().await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
}

#[tokio::test]
async fn the_rust_server_rides_out_a_postgresql_restart() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let database = pg::create_database(&cluster.url).await;
    let settings = realtime_server::store::StoreSettings {
        connect_timeout: CONNECT_TIMEOUT,
        ..Default::default()
    };
    let server = TestServer::start_on(
        database,
        settings,
        quota(1000, Duration::from_secs(1)),
        tempfile::tempdir().expect("temp dir"),
    )
    .await;
    let endpoint = Endpoint {
        url: server.url(),
        secret: server.secret.clone(),
    };
    rides_out_a_restart(&cluster, &endpoint).await;
}

#[tokio::test]
async fn the_node_original_rides_out_a_postgresql_restart() {
    let Some(root) = node_original::built() else {
        return;
    };
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let database = pg::create_database(&cluster.url).await;
    let timeout = CONNECT_TIMEOUT.as_millis().to_string();
    let node = NodeServer::start(
        &root,
        &database,
        &[("DATABASE_CONNECT_TIMEOUT_MS", timeout.as_str())],
    )
    .await;
    let endpoint = Endpoint {
        url: node.url.clone(),
        secret: node.secret.clone(),
    };
    rides_out_a_restart(&cluster, &endpoint).await;
}
