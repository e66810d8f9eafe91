//! PostgreSQL stopped while clients are connected, then started again: the sockets stay up,
//! events that need the database get their usual error events with generic messages, new
//! handshakes are refused clearly, `/health` says the database is down; once PostgreSQL is
//! back, all of it works again without restarting the server.

use std::time::Duration;

use serde_json::{Value, json};
use sio_harness::client::Observed;
use sio_harness::transport::TransportKind;

use crate::common::{TestServer, connected, emit, event, quota, refusal};
use crate::pg::{self, Cluster};

async fn health(server: &TestServer) -> (u16, Value) {
    let response = server
        .http()
        .get(format!("{}/health", server.url()))
        .send()
        .await
        .expect("health answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn the_server_rides_out_a_postgresql_restart() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let database = pg::create_database(&cluster.url).await;
    let settings = realtime_server::store::StoreSettings {
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let server = TestServer::start_on(
        database,
        settings,
        quota(1000, Duration::from_secs(1)),
        tempfile::tempdir().expect("temp dir"),
    )
    .await;

    let mut alice = server.client("user-1", TransportKind::Websocket);
    connected(&mut alice).await;
    emit(&alice, "subscribe:status", vec![]);
    event(&mut alice, "status:current").await;

    cluster.stop().await;

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
    assert_eq!(
        refusal(
            &server,
            Some(json!({"token": server.token("user-2")})),
            vec![]
        )
        .await,
        "Service temporarily unavailable"
    );
    let (status, body) = health(&server).await;
    assert_eq!(
        (status, body),
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

    emit(&alice, "notification:read", vec![json!("n-alice-1")]);
    assert_eq!(
        event(&mut alice, "notification:read:success").await,
        [json!("n-alice-1")]
    );
    emit(&alice, "subscribe:status", vec![]);
    let statuses = event(&mut alice, "status:current").await;
    assert_eq!(statuses[0].as_array().map(Vec::len), Some(3));
    let mut bob = server.client("user-2", TransportKind::Websocket);
    connected(&mut bob).await;
    let (status, body) = health(&server).await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
}
