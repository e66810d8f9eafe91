//! Bad input never takes the server down: malformed packets, oversized payloads, junk frames;
//! and a handshake abandoned before the Socket.IO connect is dropped after the connect timeout.

use serde_json::json;
use sio_wire::client::{Command, Observed};
use sio_wire::codec::engine::Frame;
use sio_wire::transport::{self, EndpointOptions, LinkEvent, TransportKind};

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

/// Reads until the server closes the connection (EOF or reset); how long that took, or `None`
/// if it was still open after `limit`.
async fn closed_within(
    stream: &mut tokio::net::TcpStream,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buffer = [0u8; 1024];
    let read_until_closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_until_closed)
        .await
        .ok()
        .map(|()| started.elapsed())
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_request_head_is_closed() {
    use realtime_server::http_server::HEADER_READ_TIMEOUT;
    use tokio::io::AsyncWriteExt;

    let server = TestServer::start().await;
    let limit = HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5);
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut slowloris = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    // One byte of a real request head every 500 ms: never idle long, never finished.
    let head = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let trickle = async {
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if slowloris.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        () = trickle => {}
        () = tokio::time::sleep(limit) => panic!("the slow request head was still being accepted after {limit:?}"),
    }
    let silent_after = closed_within(&mut silent, std::time::Duration::from_secs(1)).await;
    assert!(
        silent_after.is_some(),
        "a connection that sent nothing was still open after {limit:?}"
    );
    // The server still serves everyone else.
    let mut client = server.client("user-1", TransportKind::Polling);
    connected(&mut client).await;
}
