//! The client against a small socketioxide server started in the test: transports, upgrade,
//! namespaces, acks both ways, binary, connect_error, server disconnect, reconnection, and a
//! server that stops pinging.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sio_wire::client::{Client, Observed, ReconnectPolicy};
use sio_wire::transport::TransportKind;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use tokio::net::TcpListener;

mod conformance;

use conformance::{connected, expect, options};

#[derive(Debug)]
struct Refused;
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not allowed")
    }
}

async fn admin_gate(Data(auth): Data<Value>) -> Result<(), Refused> {
    if auth["token"] == "let-me-in" {
        Ok(())
    } else {
        Err(Refused)
    }
}

fn test_io() -> (socketioxide::layer::SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder().build_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |Data(value): Data<Value>, ack: AckSender| {
            let _ = ack.send(&value);
        });
        socket.on(
            "echo-bytes",
            async |Data(value): Data<Bytes>, ack: AckSender| {
                let _ = ack.send(&value);
            },
        );
        socket.on("two-bytes", async |socket: SocketRef| {
            let _ = socket.emit(
                "bytes",
                &(
                    Bytes::from_static(&[1, 2, 3]),
                    "mid",
                    Bytes::from_static(&[4, 5]),
                ),
            );
        });
        socket.on("ask", async |socket: SocketRef| {
            if let Ok(stream) = socket.emit_with_ack::<_, Value>("question", &"ping") {
                let answer = stream.await.unwrap_or(Value::Null);
                let _ = socket.emit("answer", &answer);
            }
        });
        socket.on("kick", async |socket: SocketRef| {
            let _ = socket.disconnect();
        });
    });
    io.ns(
        "/admin",
        (async |socket: SocketRef| {
            let _ = socket.emit("welcome", &"admin");
        })
        .with(admin_gate),
    );
    (layer, io)
}

struct TestServer {
    addr: SocketAddr,
    io: SocketIo,
    task: tokio::task::JoinHandle<()>,
}

async fn start_on(listener: TcpListener) -> TestServer {
    let (layer, io) = test_io();
    start_serving(listener, layer, io)
}

fn start_serving(
    listener: TcpListener,
    layer: socketioxide::layer::SocketIoLayer,
    io: SocketIo,
) -> TestServer {
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().layer(layer);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer { addr, io, task }
}

async fn start() -> TestServer {
    start_on(TcpListener::bind("127.0.0.1:0").await.expect("bind")).await
}

impl TestServer {
    async fn stop(self) {
        self.io.close().await;
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn acks_both_ways_on_every_transport() {
    let server = start().await;
    conformance::acks_both_ways_on_every_transport(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn binary_attachments_in_both_directions() {
    let server = start().await;
    conformance::binary_attachments_in_both_directions(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn namespaces_with_auth_and_connect_error() {
    let server = start().await;
    conformance::namespaces_with_auth_and_connect_error(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn ack_timeout_is_reported() {
    let server = start().await;
    conformance::ack_timeout_is_reported(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn server_disconnect_is_final_and_not_retried() {
    let server = start().await;
    conformance::server_disconnect_is_final_and_not_retried(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn reconnects_after_a_restart_and_resends_on_connect_emits() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = start_on(listener).await;
    let mut options = options(addr, TransportKind::Websocket);
    options.reconnect = ReconnectPolicy {
        delay: Duration::from_millis(200),
        randomization: 0.0,
        ..ReconnectPolicy::default()
    };
    options.namespaces[0].on_connect = vec![("echo".into(), vec![json!("hello again")], None)];
    let mut client = Client::connect(options);
    connected(&mut client, "/").await;
    expect(&mut client, "first on_connect emit", |o| {
        matches!(o, Observed::Emit { .. })
    })
    .await;

    server.stop().await;
    let lost = expect(&mut client, "disconnect", |o| {
        matches!(o, Observed::Disconnect { .. })
    })
    .await;
    assert!(
        matches!(lost, Observed::Disconnect { reason, .. } if reason == "transport close" || reason == "transport error")
    );
    let attempt = expect(&mut client, "attempt", |o| {
        matches!(o, Observed::ReconnectAttempt { .. })
    })
    .await;
    assert_eq!(attempt, Observed::ReconnectAttempt { attempt: 1 });
    expect(&mut client, "reconnect error", |o| {
        matches!(o, Observed::ReconnectError { attempt: 1, .. })
    })
    .await;

    let server = start_on(TcpListener::bind(addr).await.expect("rebind")).await;
    let back = expect(&mut client, "reconnect", |o| {
        matches!(o, Observed::Reconnect { .. })
    })
    .await;
    assert!(matches!(back, Observed::Reconnect { attempt } if attempt >= 2));
    connected(&mut client, "/").await;
    let again = expect(&mut client, "second on_connect emit", |o| {
        matches!(o, Observed::Emit { .. })
    })
    .await;
    assert!(matches!(again, Observed::Emit { event, .. } if event == "echo"));
    server.stop().await;
}

#[tokio::test]
async fn reconnection_gives_up_after_its_attempts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut options = options(addr, TransportKind::Polling);
    options.reconnect = ReconnectPolicy {
        attempts: Some(2),
        delay: Duration::from_millis(20),
        ..ReconnectPolicy::default()
    };
    let mut client = Client::connect(options);
    let first = expect(&mut client, "connect_error", |o| {
        matches!(o, Observed::ConnectError { .. })
    })
    .await;
    assert!(matches!(first, Observed::ConnectError { message, .. } if message == "xhr poll error"));
    expect(&mut client, "reconnect_failed", |o| {
        matches!(o, Observed::ReconnectFailed)
    })
    .await;
    let attempts = client
        .history()
        .iter()
        .filter(|o| matches!(o.what, Observed::ReconnectAttempt { .. }))
        .count();
    assert_eq!(attempts, 2);
}

#[tokio::test]
async fn a_server_that_stops_pinging_is_a_ping_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(stream)
            .await
            .expect("handshake");
        let open = r#"0{"sid":"silent","upgrades":[],"pingInterval":100,"pingTimeout":100,"maxPayload":1000}"#;
        ws.send(open.into()).await.expect("open");
        while let Some(Ok(message)) = ws.next().await {
            if message.to_text().is_ok_and(|t| t.starts_with("40")) {
                ws.send(r#"40{"sid":"s1"}"#.into()).await.expect("connect");
            }
        }
    });
    let mut client = Client::connect(options(addr, TransportKind::Websocket));
    connected(&mut client, "/").await;
    let lost = expect(&mut client, "ping timeout", |o| {
        matches!(o, Observed::Disconnect { .. })
    })
    .await;
    assert_eq!(
        lost,
        Observed::Disconnect {
            nsp: "/".into(),
            reason: "ping timeout".into(),
            closed_by_server: false,
        }
    );
    silent.abort();
}

/// Issue 26: a session the server closes before it answers the CONNECT (its connect timeout,
/// or a ping timeout while the client was stalled) is a `disconnect` for the namespace, as the
/// official client reports it; the client used to say nothing, and a caller waiting for the
/// answer read the silence as a connect never answered. The frames are the ones engineioxide
/// sends when it closes a session: the close packet, then the websocket's close.
#[tokio::test]
async fn a_session_closed_before_the_connect_is_answered_is_a_disconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(stream)
            .await
            .expect("handshake");
        let open = r#"0{"sid":"closing","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000}"#;
        ws.send(open.into()).await.expect("open");
        while let Some(Ok(message)) = ws.next().await {
            if message.to_text().is_ok_and(|t| t.starts_with("40")) {
                ws.send("1".into()).await.expect("close packet");
                let _ = ws.close(None).await;
                break;
            }
        }
    });
    let mut client = Client::connect(options(addr, TransportKind::Websocket));
    let seen = expect(&mut client, "a disconnect", |o| {
        matches!(o, Observed::Connect { .. } | Observed::Disconnect { .. })
    })
    .await;
    assert_eq!(
        seen,
        Observed::Disconnect {
            nsp: "/".into(),
            reason: "transport close".into(),
            closed_by_server: true,
        }
    );
    server.await.expect("server task");
}

/// The same against socketioxide itself, on every transport: a connect middleware that never
/// finishes, so the server's connect timeout closes the session.
#[tokio::test]
async fn socketioxides_connect_timeout_is_a_disconnect_on_every_transport() {
    let (layer, io) = SocketIo::builder()
        .connect_timeout(Duration::from_millis(300))
        .build_layer();
    io.ns(
        "/",
        (async |_: SocketRef| {})
            .with(async |_: SocketRef| -> Result<(), Refused> { std::future::pending().await }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = start_serving(listener, layer, io);
    for transport in [
        TransportKind::Websocket,
        TransportKind::Polling,
        TransportKind::Upgrade,
    ] {
        let mut client = Client::connect(options(server.addr, transport));
        let seen = expect(&mut client, "a disconnect", |o| {
            matches!(o, Observed::Connect { .. } | Observed::Disconnect { .. })
        })
        .await;
        assert!(
            matches!(&seen, Observed::Disconnect { nsp, reason, .. }
                if nsp == "/" && (reason == "transport close" || reason == "transport error")),
            "{transport:?}: {seen:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_run_in_place_reports_to_its_observer_and_connects_from_the_chosen_address() {
    let (layer, io) = SocketIo::builder().build_layer();
    io.ns("/", async |socket: SocketRef| {
        let peer = socket
            .req_parts()
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let _ = socket.emit("peer", &peer);
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().layer(layer);
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });

    let mut client_options = options(addr, TransportKind::Websocket);
    client_options.endpoint.local_address = Some("127.1.2.3".parse().expect("address"));
    let (observed_tx, mut observed) = tokio::sync::mpsc::unbounded_channel();
    let (commands, command_rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(sio_wire::client::run_observed(
        client_options,
        command_rx,
        move |observation| {
            let _ = observed_tx.send(observation.what);
        },
    ));
    let next = async |observed: &mut tokio::sync::mpsc::UnboundedReceiver<Observed>| {
        tokio::time::timeout(Duration::from_secs(5), observed.recv())
            .await
            .expect("an observation in time")
            .expect("the driver is running")
    };
    assert!(matches!(next(&mut observed).await, Observed::Open { .. }));
    assert!(matches!(
        next(&mut observed).await,
        Observed::Connect { .. }
    ));
    match next(&mut observed).await {
        Observed::Event { event, args, .. } => {
            assert_eq!(event, "peer");
            assert_eq!(args, vec![json!("127.1.2.3")]);
        }
        other => panic!("expected the peer event, got {other:?}"),
    }
    // Dropping every command sender is the end of the client, as closing it would be.
    drop(commands);
    match next(&mut observed).await {
        Observed::Disconnect { reason, .. } => assert_eq!(reason, "io client disconnect"),
        other => panic!("expected a disconnect, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the driver finishes")
        .expect("the driver does not panic");
    io.close().await;
    server.abort();
}
