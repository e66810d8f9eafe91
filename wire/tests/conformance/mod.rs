//! Client behaviour every Socket.IO v4 server must show, run against socketioxide (in process)
//! and against the official Node `socket.io` (wire/tests/node/echo-server.js). Each server offers the
//! same events: `echo` and `echo-bytes` (ack the argument), `two-bytes` (emits two binary
//! attachments), `ask` (asks the client for an ack, then emits `answer`), `kick` (server-side
//! disconnect), and namespace `/admin` that admits only `{"token": "let-me-in"}`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use sio_wire::client::{Client, ClientOptions, NamespaceOptions, Observed, ReconnectPolicy};
use sio_wire::transport::TransportKind;

pub const WAIT: Duration = Duration::from_secs(5);

pub fn options(addr: SocketAddr, transport: TransportKind) -> ClientOptions {
    let mut options = ClientOptions::new(format!("http://{addr}"));
    options.endpoint.transport = transport;
    options.reconnect.enabled = false;
    options
}

pub async fn expect(
    client: &mut Client,
    what: &str,
    wanted: impl FnMut(&Observed) -> bool,
) -> Observed {
    match client.wait_for(WAIT, wanted).await {
        Some(observation) => observation.what,
        None => panic!("expected {what}; saw {:#?}", client.history()),
    }
}

pub async fn connected(client: &mut Client, nsp: &str) {
    expect(
        client,
        "connect",
        |o| matches!(o, Observed::Connect { nsp: n, .. } if n == nsp),
    )
    .await;
}

pub async fn acks_both_ways_on_every_transport(addr: SocketAddr) {
    for transport in [
        TransportKind::Websocket,
        TransportKind::Polling,
        TransportKind::Upgrade,
    ] {
        let mut client = Client::connect(options(addr, transport));
        let open = expect(&mut client, "open", |o| matches!(o, Observed::Open { .. })).await;
        assert!(
            matches!(open, Observed::Open { transport: t, ping_interval: 25000, .. } if t == transport)
        );
        connected(&mut client, "/").await;

        client
            .emit("/", "echo", vec![json!({"a": [1, "two"]})], Some(WAIT))
            .expect("running");
        let ack = expect(&mut client, "ack", |o| matches!(o, Observed::Ack { .. })).await;
        assert_eq!(
            ack,
            Observed::Ack {
                nsp: "/".into(),
                id: 0,
                args: vec![json!({"a": [1, "two"]})]
            }
        );

        client.emit("/", "ask", vec![], None).expect("running");
        let question = expect(
            &mut client,
            "question",
            |o| matches!(o, Observed::Event { event, .. } if event == "question"),
        )
        .await;
        let Observed::Event {
            args,
            ack_id: Some(id),
            ..
        } = question
        else {
            panic!("question wants an ack: {question:?}")
        };
        assert_eq!(args, vec![json!("ping")]);
        client.ack("/", id, vec![json!("pong")]).expect("running");
        let answer = expect(
            &mut client,
            "answer",
            |o| matches!(o, Observed::Event { event, .. } if event == "answer"),
        )
        .await;
        assert!(
            matches!(answer, Observed::Event { args, .. } if args == vec![json!("pong")] || args == vec![json!(["pong"])])
        );
        client.close();
        expect(&mut client, "client disconnect", |o| {
            matches!(o, Observed::Disconnect { reason, .. } if reason == "io client disconnect")
        })
        .await;
    }
}

pub async fn binary_attachments_in_both_directions(addr: SocketAddr) {
    for transport in [TransportKind::Websocket, TransportKind::Polling] {
        let mut client = Client::connect(options(addr, transport));
        connected(&mut client, "/").await;
        client
            .emit("/", "two-bytes", vec![], None)
            .expect("running");
        let event = expect(
            &mut client,
            "bytes",
            |o| matches!(o, Observed::Event { event, .. } if event == "bytes"),
        )
        .await;
        assert!(
            matches!(&event, Observed::Event { args, .. } if *args == vec![json!({"$binary": "AQID"}), json!("mid"), json!({"$binary": "BAU="})]),
            "{event:?}"
        );
        client
            .emit(
                "/",
                "echo-bytes",
                vec![json!({"$binary": "CQgH"})],
                Some(WAIT),
            )
            .expect("running");
        let ack = expect(&mut client, "ack", |o| matches!(o, Observed::Ack { .. })).await;
        assert_eq!(
            ack,
            Observed::Ack {
                nsp: "/".into(),
                id: 0,
                args: vec![json!({"$binary": "CQgH"})]
            }
        );
    }
}

pub async fn namespaces_with_auth_and_connect_error(addr: SocketAddr) {
    let mut admitted = options(addr, TransportKind::Websocket);
    admitted.namespaces.push(NamespaceOptions {
        auth: Some(json!({"token": "let-me-in"})),
        ..NamespaceOptions::new("/admin")
    });
    let mut client = Client::connect(admitted);
    connected(&mut client, "/").await;
    connected(&mut client, "/admin").await;
    let welcome = expect(
        &mut client,
        "welcome",
        |o| matches!(o, Observed::Event { nsp, .. } if nsp == "/admin"),
    )
    .await;
    assert!(matches!(welcome, Observed::Event { args, .. } if args == vec![json!("admin")]));

    let mut refused_options = options(addr, TransportKind::Websocket);
    refused_options.namespaces.push(NamespaceOptions {
        auth: Some(json!({"token": "wrong"})),
        ..NamespaceOptions::new("/admin")
    });
    let mut refused_client = Client::connect(refused_options);
    connected(&mut refused_client, "/").await;
    let refused = expect(&mut refused_client, "connect_error", |o| {
        matches!(o, Observed::ConnectError { .. })
    })
    .await;
    assert_eq!(
        refused,
        Observed::ConnectError {
            nsp: "/admin".into(),
            message: "not allowed".into(),
            data: None
        }
    );
    // The main namespace is unaffected.
    refused_client
        .emit("/", "echo", vec![json!(1)], Some(WAIT))
        .expect("running");
    expect(&mut refused_client, "ack", |o| {
        matches!(o, Observed::Ack { .. })
    })
    .await;
}

pub async fn ack_timeout_is_reported(addr: SocketAddr) {
    let mut client = Client::connect(options(addr, TransportKind::Websocket));
    connected(&mut client, "/").await;
    client
        .emit(
            "/",
            "no-such-event",
            vec![],
            Some(Duration::from_millis(200)),
        )
        .expect("running");
    let error = expect(&mut client, "ack error", |o| {
        matches!(o, Observed::AckError { .. })
    })
    .await;
    assert_eq!(
        error,
        Observed::AckError {
            nsp: "/".into(),
            id: 0,
            message: "operation has timed out".into()
        }
    );
}

pub async fn server_disconnect_is_final_and_not_retried(addr: SocketAddr) {
    let mut options = options(addr, TransportKind::Websocket);
    options.reconnect = ReconnectPolicy {
        delay: Duration::from_millis(50),
        ..ReconnectPolicy::default()
    };
    let mut client = Client::connect(options);
    connected(&mut client, "/").await;
    client.emit("/", "kick", vec![], None).expect("running");
    let seen = expect(&mut client, "disconnect", |o| {
        matches!(o, Observed::Disconnect { .. })
    })
    .await;
    assert_eq!(
        seen,
        Observed::Disconnect {
            nsp: "/".into(),
            reason: "io server disconnect".into(),
            closed_by_server: false,
        }
    );
    let retried = client
        .wait_for(Duration::from_millis(400), |o| {
            matches!(o, Observed::ReconnectAttempt { .. })
        })
        .await;
    assert!(
        retried.is_none(),
        "no reconnection after a server disconnect"
    );
}
