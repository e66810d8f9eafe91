//! Rooms: status subscriptions, the admin-only refresh, and per-user notification rooms.

use std::time::Duration;

use serde_json::json;
use sio_wire::transport::TransportKind;

use crate::common::{TestServer, connected, emit, event, no_event, settle};

const QUIET: Duration = Duration::from_millis(300);

async fn put_status(server: &TestServer, service: &str, status: &str) -> reqwest::StatusCode {
    server
        .http()
        .put(format!("{}/api/v1/status/{service}", server.url()))
        .bearer_auth(server.token("admin-1"))
        .json(&json!({"status": status, "responseTime": 12, "uptime": 99.0}))
        .send()
        .await
        .expect("request")
        .status()
}

#[tokio::test]
async fn subscribe_status_sends_current_statuses_as_one_array() {
    let server = TestServer::start().await;
    let mut client = server.client("user-1", TransportKind::Websocket);
    connected(&mut client).await;
    emit(&client, "subscribe:status", vec![]);
    let args = event(&mut client, "status:current").await;
    assert_eq!(args.len(), 1, "one argument: the array of rows");
    assert_eq!(
        args[0][2],
        json!({"service": "sonarr", "status": "degraded", "responseTime": 830,
               "lastCheck": "2026-01-01T00:00:00.000Z", "uptime": 97.25})
    );
    assert_eq!(args[0].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn status_updates_reach_subscribers_only_until_they_unsubscribe() {
    let server = TestServer::start().await;
    let mut subscriber = server.client("user-1", TransportKind::Websocket);
    let mut bystander = server.client("user-2", TransportKind::Polling);
    connected(&mut subscriber).await;
    connected(&mut bystander).await;
    emit(&subscriber, "subscribe:status", vec![]);
    event(&mut subscriber, "status:current").await;

    assert_eq!(put_status(&server, "plex", "down").await, 200);
    let update = event(&mut subscriber, "service:status").await;
    assert_eq!(
        (update[0]["service"].clone(), update[0]["status"].clone()),
        (json!("plex"), json!("down"))
    );
    assert!(
        update[0]["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    no_event(&mut bystander, "service:status", QUIET).await;

    emit(&subscriber, "unsubscribe:status", vec![]);
    settle(&mut subscriber).await;
    assert_eq!(put_status(&server, "plex", "up").await, 200);
    no_event(&mut subscriber, "service:status", QUIET).await;
}

#[tokio::test]
async fn subscribe_then_unsubscribe_at_once_ends_unsubscribed() {
    let server = TestServer::start().await;
    let mut client = server.client("user-1", TransportKind::Websocket);
    connected(&mut client).await;
    for _ in 0..5 {
        emit(&client, "subscribe:status", vec![]);
        emit(&client, "unsubscribe:status", vec![]);
    }
    settle(&mut client).await;
    assert_eq!(put_status(&server, "plex", "down").await, 200);
    no_event(&mut client, "service:status", QUIET).await;
}

#[tokio::test]
async fn refresh_by_a_user_is_unauthorized_and_broadcasts_nothing() {
    let server = TestServer::start().await;
    let mut user = server.client("user-1", TransportKind::Websocket);
    connected(&mut user).await;
    emit(&user, "subscribe:status", vec![]);
    event(&mut user, "status:current").await;
    emit(&user, "admin:refresh-status", vec![]);
    assert_eq!(
        event(&mut user, "error").await,
        vec![json!({"message": "Unauthorized"})]
    );
    no_event(&mut user, "status:refreshing", QUIET).await;
}

#[tokio::test]
async fn refresh_by_an_admin_reaches_every_status_subscriber() {
    let server = TestServer::start().await;
    let mut admin = server.client("admin-1", TransportKind::Websocket);
    let mut subscriber = server.client("user-1", TransportKind::Polling);
    let mut bystander = server.client("user-2", TransportKind::Websocket);
    for client in [&mut admin, &mut subscriber, &mut bystander] {
        connected(client).await;
    }
    emit(&subscriber, "subscribe:status", vec![]);
    event(&mut subscriber, "status:current").await;
    emit(&admin, "admin:refresh-status", vec![]);
    assert_eq!(
        event(&mut subscriber, "status:refreshing").await,
        Vec::<serde_json::Value>::new()
    );
    // The admin is not subscribed, so it does not hear it either.
    no_event(&mut admin, "status:refreshing", QUIET).await;
    no_event(&mut bystander, "status:refreshing", QUIET).await;
}

#[tokio::test]
async fn notifications_reach_all_sockets_of_their_user_and_no_one_else() {
    let server = TestServer::start().await;
    let mut alice_ws = server.client("user-1", TransportKind::Websocket);
    let mut alice_poll = server.client("user-1", TransportKind::Polling);
    let mut alice_unsubscribed = server.client("user-1", TransportKind::Websocket);
    let mut bob = server.client("user-2", TransportKind::Websocket);
    for client in [
        &mut alice_ws,
        &mut alice_poll,
        &mut alice_unsubscribed,
        &mut bob,
    ] {
        connected(client).await;
    }
    for client in [&mut alice_ws, &mut alice_poll, &mut bob] {
        emit(client, "subscribe:notifications", vec![]);
        settle(client).await;
    }
    let response = server
        .http()
        .post(format!("{}/api/v1/notifications", server.url()))
        .bearer_auth(server.token("admin-1"))
        .json(&json!({"userId": "user-1", "title": "Hello", "message": "World"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    let stored: serde_json::Value = response.json().await.expect("json");
    for client in [&mut alice_ws, &mut alice_poll] {
        assert_eq!(
            event(client, "notification:new").await,
            vec![stored.clone()]
        );
    }
    assert_eq!(stored["type"], "info");
    assert_eq!(stored["readAt"], serde_json::Value::Null);
    no_event(&mut bob, "notification:new", QUIET).await;
    no_event(&mut alice_unsubscribed, "notification:new", QUIET).await;
}

// Several worker threads, as in production: with one, a spawned connect handler always runs
// before the socket's next packet is read, and the race this guards against cannot happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_that_subscribe_the_moment_they_connect_are_never_missed() {
    use sio_wire::client::{Client, ClientOptions, NamespaceOptions};
    let server =
        TestServer::start_with_quota(crate::common::quota(1000, Duration::from_secs(10))).await;
    // The race is a matter of scheduling: three rounds of 300 make a regression show.
    for _ in 0..3 {
        let mut clients: Vec<Client> = (0..300)
        .map(|i| {
            let mut options = ClientOptions::new(server.url());
            options.reconnect.enabled = false;
            options.namespaces = vec![NamespaceOptions {
                auth: Some(json!({ "token": server.token(if i % 2 == 0 { "user-1" } else { "user-2" }) })),
                // As the seed's browser client does in its `connect` listener.
                on_connect: vec![("subscribe:notifications".into(), vec![], None), ("subscribe:status".into(), vec![], None)],
                ..NamespaceOptions::new("/")
            }];
            Client::connect(options)
        })
        .collect();
        for client in &mut clients {
            event(client, "status:current").await;
        }
    }
}
