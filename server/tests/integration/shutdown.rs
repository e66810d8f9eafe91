//! Graceful shutdown in-process: every client sees its connection drop, the server returns Ok.

use std::time::Duration;

use sio_wire::client::{Client, ClientOptions, NamespaceOptions, Observed, ReconnectPolicy};
use sio_wire::transport::TransportKind;

use crate::common::{TestServer, WAIT, connected};

#[tokio::test]
async fn shutdown_closes_every_socket_and_returns_ok() {
    let mut server = TestServer::start().await;
    let mut ws = server.client("user-1", TransportKind::Websocket);
    let mut polling = server.client("user-2", TransportKind::Polling);
    connected(&mut ws).await;
    connected(&mut polling).await;
    server.stop().await.expect("clean shutdown");
    for client in [&mut ws, &mut polling] {
        let seen = client
            .wait_for(WAIT, |o| matches!(o, Observed::Disconnect { .. }))
            .await;
        match seen.map(|o| o.what) {
            Some(Observed::Disconnect { reason, .. }) => {
                assert!(
                    reason == "transport close" || reason == "transport error",
                    "{reason}"
                )
            }
            other => panic!("expected a disconnect, got {other:?}"),
        }
    }
    let refused = reqwest::get(format!("{}/health", server.url())).await;
    assert!(refused.is_err(), "nothing listens after shutdown");
}

/// Clients that reconnect at once while the server shuts down (a restart under load) must be
/// turned away at the transport, which they retry, and never refused by the namespace
/// (`connect_error`), which the official client takes as final and stops retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnecting_during_shutdown_are_never_refused_for_good() {
    let mut server = TestServer::start().await;
    let mut clients = Vec::new();
    for i in 0..300 {
        let user = ["user-1", "user-2", "admin-1"][i % 3];
        let mut options = ClientOptions::new(server.url());
        options.namespaces = vec![NamespaceOptions {
            auth: Some(serde_json::json!({ "token": server.token(user) })),
            ..NamespaceOptions::new("/")
        }];
        options.reconnect = ReconnectPolicy {
            enabled: true,
            attempts: Some(20),
            delay: Duration::ZERO,
            delay_max: Duration::ZERO,
            randomization: 0.0,
        };
        clients.push(Client::connect(options));
    }
    for client in &mut clients {
        connected(client).await;
    }
    server.stop().await.expect("clean shutdown");
    for client in &mut clients {
        // Every client ends out of attempts (nothing listens any more); on the way it may
        // meet transport errors, but no namespace refusal.
        let ended = client
            .wait_for(WAIT, |o| {
                matches!(o, Observed::ReconnectFailed | Observed::ConnectError { .. })
            })
            .await;
        match ended.map(|o| o.what) {
            Some(Observed::ReconnectFailed) => {}
            other => panic!("expected the client to keep retrying, got {other:?}"),
        }
    }
}
