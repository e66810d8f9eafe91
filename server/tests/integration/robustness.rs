//! Bad input never takes the server down: malformed packets, oversized payloads, junk frames;
//! and a handshake abandoned before the Socket.IO connect is dropped after the connect timeout.

use serde_json::json;
use sio_harness::client::{Command, Observed};
use sio_harness::codec::engine::Frame;
use sio_harness::transport::{self, EndpointOptions, LinkEvent, TransportKind};

use crate::common::{TestServer, WAIT, connected, emit, event};

#[tokio::test]
async fn malformed_frames_close_only_the_offending_connection() {
    let server = TestServer::start().await;
    let junk = [
        Frame::Text("4not-a-socketio-packet".into()),
        Frame::Text("42[\"unterminated".into()),
        Frame::Text("9".into()),
        Frame::Text("451-[\"x\",{\"_placeholder\":true,\"num\":7}]".into()),
        Frame::Binary(vec![0xff, 0x00, 0x13]),
        Frame::Text(String::new()),
    ];
    let mut bystander = server.client("user-2", TransportKind::Websocket);
    connected(&mut bystander).await;
    for frame in junk {
        let mut client = server.client("user-1", TransportKind::Websocket);
        connected(&mut client).await;
        client.send(Command::Raw(frame)).expect("running");
        // Whatever the server makes of it, a fresh client must still work.
        let _ = client
            .wait_for(std::time::Duration::from_millis(300), |o| {
                matches!(o, Observed::Disconnect { .. })
            })
            .await;
        let mut next = server.client("user-1", TransportKind::Polling);
        connected(&mut next).await;
        emit(&next, "subscribe:status", vec![]);
        event(&mut next, "status:current").await;
    }
    emit(&bystander, "subscribe:status", vec![]);
    event(&mut bystander, "status:current").await;
}

#[tokio::test]
async fn an_oversized_payload_drops_that_connection_and_stores_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client("user-1", TransportKind::Websocket);
    connected(&mut client).await;
    let huge = "x".repeat(2 * realtime_server::app::MAX_PAYLOAD as usize);
    emit(&client, "notification:read", vec![json!(huge)]);
    let seen = client
        .wait_for(WAIT, |o| matches!(o, Observed::Disconnect { .. }))
        .await;
    assert!(matches!(
        seen.map(|o| o.what),
        Some(Observed::Disconnect { .. })
    ));
    let mut next = server.client("user-1", TransportKind::Websocket);
    connected(&mut next).await;
    emit(&next, "notification:read", vec![json!("n-alice-1")]);
    event(&mut next, "notification:read:success").await;
}

#[tokio::test]
async fn an_abandoned_handshake_is_dropped_after_the_connect_timeout() {
    let server = TestServer::start_with(|config| {
        config.connect_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    for kind in [TransportKind::Websocket, TransportKind::Polling] {
        let mut options = EndpointOptions::new(server.url());
        options.transport = kind;
        let mut link = transport::open(&options).await.expect("handshake");
        // No Socket.IO connect follows; the server's heartbeat (25 s) is far off, so only the
        // connect timeout can end this session within the wait.
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                if let LinkEvent::Closed { .. } = link.next_event().await {
                    return;
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "{kind:?}: the abandoned session is still open"
        );
    }
}
