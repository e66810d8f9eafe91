//! Graceful shutdown in-process: every client sees its connection drop, the server returns Ok.

use sio_harness::client::Observed;
use sio_harness::transport::TransportKind;

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
