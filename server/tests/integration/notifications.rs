//! `notification:read`: ownership, validation, and persistence.

use serde_json::{Value, json};
use sio_wire::transport::TransportKind;

use crate::common::{TestServer, connected, emit, event};

async fn read(server: &TestServer, user: &str, arg: Value) -> (String, Vec<Value>) {
    let mut client = server.client(user, TransportKind::Websocket);
    connected(&mut client).await;
    emit(&client, "notification:read", vec![arg]);
    let seen = client
        .wait_for(crate::common::WAIT, |o| {
            matches!(o, sio_wire::client::Observed::Event { event, .. } if event.starts_with("notification:read:"))
        })
        .await
        .map(|o| o.what);
    match seen {
        Some(sio_wire::client::Observed::Event { event, args, .. }) => (event, args),
        other => panic!("no answer: {other:?}"),
    }
}

async fn read_at(server: &TestServer, user: &str, id: &str) -> Option<String> {
    server
        .store
        .notifications_for(user)
        .await
        .expect("query")
        .into_iter()
        .find(|n| n.id == id)
        .and_then(|n| n.read_at)
}

#[tokio::test]
async fn reading_your_own_notification_persists() {
    let server = TestServer::start().await;
    let (event, args) = read(&server, "user-1", json!("n-alice-1")).await;
    assert_eq!(
        (event.as_str(), args),
        ("notification:read:success", vec![json!("n-alice-1")])
    );
    let first = read_at(&server, "user-1", "n-alice-1")
        .await
        .expect("marked read");
    // Reading again succeeds and keeps the first time.
    let (event, _) = read(&server, "user-1", json!("n-alice-1")).await;
    assert_eq!(event, "notification:read:success");
    assert_eq!(read_at(&server, "user-1", "n-alice-1").await, Some(first));
}

#[tokio::test]
async fn someone_elses_or_unknown_notification_is_not_found_and_changes_nothing() {
    let server = TestServer::start().await;
    for id in ["n-bob-1", "no-such-notification"] {
        let (event, args) = read(&server, "user-1", json!(id)).await;
        assert_eq!(event, "notification:read:error");
        assert_eq!(
            args,
            vec![json!({"id": id, "error": "Notification not found"})]
        );
    }
    assert_eq!(read_at(&server, "user-2", "n-bob-1").await, None);
}

#[tokio::test]
async fn invalid_arguments_get_a_clear_error() {
    let server = TestServer::start().await;
    let huge = "x".repeat(10_000);
    let cases = [
        (json!(42), json!(42)),
        (json!(""), json!("")),
        (json!(huge), Value::Null),
        (json!({"id": "n-alice-1"}), Value::Null),
        (Value::Null, Value::Null),
    ];
    for (arg, echoed) in cases {
        let (event, args) = read(&server, "user-1", arg.clone()).await;
        assert_eq!(event, "notification:read:error", "{arg}");
        assert_eq!(
            args,
            vec![json!({"id": echoed, "error": "Invalid notification id"})],
            "{arg}"
        );
    }
    assert_eq!(read_at(&server, "user-1", "n-alice-1").await, None);
}

#[tokio::test]
async fn no_argument_at_all_is_invalid_too() {
    let server = TestServer::start().await;
    let mut client = server.client("user-1", TransportKind::Websocket);
    connected(&mut client).await;
    emit(&client, "notification:read", vec![]);
    let args = event(&mut client, "notification:read:error").await;
    assert_eq!(
        args,
        vec![json!({"id": null, "error": "Invalid notification id"})]
    );
}
