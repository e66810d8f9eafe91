//! Rate limiting per user and event: a flood is cut, the connection survives, the window resets.

use std::time::Duration;

use serde_json::{Value, json};
use sio_wire::client::Observed;
use sio_wire::transport::TransportKind;

use crate::common::{TestServer, WAIT, connected, emit, event, quota};

#[tokio::test]
async fn a_flood_is_cut_and_the_event_works_again_after_the_window() {
    let server = TestServer::start_with_quota(quota(5, Duration::from_millis(1500))).await;
    let mut client = server.client("user-1", TransportKind::Websocket);
    connected(&mut client).await;
    for _ in 0..8 {
        emit(&client, "notification:read", vec![json!("no-such-id")]);
    }
    let mut answers = 0;
    let mut limited = 0;
    while answers + limited < 8 {
        match client.next(WAIT).await.map(|o| o.what) {
            Some(Observed::Event { event, args, .. }) if event == "notification:read:error" => {
                assert_eq!(args[0]["error"], "Notification not found");
                answers += 1;
            }
            Some(Observed::Event { event, args, .. }) if event == "error" => {
                assert_eq!(
                    args,
                    vec![json!({"message": "Rate limit exceeded", "event": "notification:read"})]
                );
                limited += 1;
            }
            Some(Observed::Emit { .. } | Observed::Open { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((answers, limited), (5, 3));

    // Other events have their own allowance, and the connection is still up.
    emit(&client, "subscribe:status", vec![]);
    event(&mut client, "status:current").await;

    tokio::time::sleep(Duration::from_millis(1600)).await;
    emit(&client, "notification:read", vec![json!("n-alice-1")]);
    assert_eq!(
        event(&mut client, "notification:read:success").await,
        vec![Value::from("n-alice-1")]
    );
}

#[tokio::test]
async fn the_limit_is_per_user_not_per_socket() {
    let server = TestServer::start_with_quota(quota(2, Duration::from_secs(60))).await;
    let mut first = server.client("user-1", TransportKind::Websocket);
    let mut second = server.client("user-1", TransportKind::Websocket);
    let mut other_user = server.client("user-2", TransportKind::Websocket);
    for client in [&mut first, &mut second, &mut other_user] {
        connected(client).await;
    }
    for _ in 0..2 {
        emit(&first, "subscribe:status", vec![]);
        event(&mut first, "status:current").await;
    }
    emit(&second, "subscribe:status", vec![]);
    assert_eq!(
        event(&mut second, "error").await[0]["message"],
        "Rate limit exceeded"
    );
    emit(&other_user, "subscribe:status", vec![]);
    event(&mut other_user, "status:current").await;
}
