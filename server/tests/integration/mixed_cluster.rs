//! A mixed cluster (issue #30): a Rust node with `REDIS_ADAPTER=socket.io`, the Node original
//! and a bare Node probe (server/tests/node/adapter-probe.js) on one real redis-server, nothing
//! else set. Broadcasts, rooms, `except`, fetchSockets, remote join and disconnect and
//! broadcasts with acks must work from either side. Garbage on those channels must harm nothing.

use std::collections::HashSet;
use std::time::Duration;

use realtime_server::cluster::AdapterKind;
use serde_json::{Value, json};
use sio_wire::client::{Client, Observed};
use sio_wire::transport::TransportKind;

use crate::cluster::{
    RedisProcess, link_state, node, push_status, sid_of, status_subscriber, status_update,
};
use crate::common::{TestServer, WAIT, client_for, connected, emit, event, no_event, settle};
use crate::node_original::{self, NodeServer, probe};

/// A Rust node, the Node original and their clients, on one Redis.
struct Mixed {
    redis: RedisProcess,
    root: std::path::PathBuf,
    rust: TestServer,
    node: NodeServer,
    _dir: tempfile::TempDir,
}

impl Mixed {
    /// `None` (the test skips) when node-original is not built.
    async fn start() -> Option<Self> {
        let root = node_original::built()?;
        let redis = RedisProcess::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}", dir.path().join("node.db").display());
        let redis_url = redis.url_text();
        let rust = node(&redis, AdapterKind::SocketIo).await;
        link_state(&rust, "connected").await;
        let node = NodeServer::start(&root, &database, &[("REDIS_URL", redis_url.as_str())]).await;
        Some(Self {
            redis,
            root,
            rust,
            node,
            _dir: dir,
        })
    }

    async fn probe(&self, command: &str, args: &[&str]) -> Value {
        probe(&self.root, &self.redis.url_text(), command, args).await
    }

    fn node_client(&self, user: &str) -> Client {
        client_for(
            &self.node.url,
            Some(json!({ "token": self.node.token(user) })),
            Vec::new(),
            TransportKind::Websocket,
        )
    }

    /// A client of the Node node, subscribed to status updates.
    async fn node_status_subscriber(&self, user: &str) -> Client {
        let mut client = self.node_client(user);
        connected(&mut client).await;
        emit(&client, "subscribe:status", vec![]);
        event(&mut client, "status:current").await;
        client
    }
}

async fn disconnected(client: &mut Client) {
    let seen = client
        .wait_for(WAIT, |o| matches!(o, Observed::Disconnect { .. }))
        .await;
    assert!(seen.is_some(), "no disconnect; saw {:?}", client.history());
}

#[tokio::test]
async fn broadcasts_cross_between_node_and_rust_nodes_both_ways() {
    let Some(mixed) = Mixed::start().await else {
        return;
    };
    let mut on_rust = status_subscriber(&mixed.rust, "user-1").await;
    let mut on_node = mixed.node_status_subscriber("user-2").await;

    // A room broadcast from the Rust node reaches the Node node's client, and back.
    push_status(&mixed.rust, "plex", "down").await;
    assert_eq!(status_update(&mut on_node, "plex").await["status"], "down");
    assert_eq!(status_update(&mut on_rust, "plex").await["status"], "down");
    let put = mixed
        .rust
        .http()
        .put(format!("{}/api/v1/status/sonarr", mixed.node.url))
        .bearer_auth(mixed.node.token("admin-1"))
        .json(&json!({ "status": "degraded" }))
        .send()
        .await
        .expect("request");
    assert!(put.status().is_success(), "{}", put.status());
    assert_eq!(
        status_update(&mut on_rust, "sonarr").await["status"],
        "degraded"
    );

    // A user's room: an HTTP push to either node reaches the user's socket on the other.
    emit(&on_node, "subscribe:notifications", vec![]);
    settle(&mut on_node).await;
    emit(&on_rust, "subscribe:notifications", vec![]);
    settle(&mut on_rust).await;
    let notify = |url: &str, token: String, user: &str, title: &str| {
        mixed
            .rust
            .http()
            .post(format!("{url}/api/v1/notifications"))
            .bearer_auth(token)
            .json(&json!({ "userId": user, "title": title, "message": "across" }))
            .send()
    };
    let sent = notify(
        &mixed.rust.url(),
        mixed.rust.token("admin-1"),
        "user-2",
        "to node",
    )
    .await
    .expect("request");
    assert_eq!(sent.status(), 201);
    assert_eq!(
        event(&mut on_node, "notification:new").await[0]["title"],
        "to node"
    );
    let sent = notify(
        &mixed.node.url,
        mixed.node.token("admin-1"),
        "user-1",
        "to rust",
    )
    .await
    .expect("request");
    assert_eq!(sent.status(), 201);
    assert_eq!(
        event(&mut on_rust, "notification:new").await[0]["title"],
        "to rust"
    );

    // `except` from Node: every socket in the room but the one excepted, on any node.
    let mut also_on_rust = status_subscriber(&mixed.rust, "admin-1").await;
    let excepted = sid_of(&on_rust);
    mixed
        .probe("emit", &["probe", "from-node", "status-updates", &excepted])
        .await;
    assert_eq!(event(&mut also_on_rust, "probe").await[0], "from-node");
    assert_eq!(event(&mut on_node, "probe").await[0], "from-node");
    no_event(&mut on_rust, "probe", Duration::from_millis(300)).await;

    // `except` from Rust, naming the Node socket by its id (a room on its node).
    let node_sid = sid_of(&on_node);
    mixed
        .rust
        .sockets()
        .io()
        .to("status-updates")
        .except(node_sid)
        .emit("probe", &"from-rust")
        .await
        .expect("emit");
    assert_eq!(event(&mut on_rust, "probe").await[0], "from-rust");
    no_event(&mut on_node, "probe", Duration::from_millis(300)).await;
    assert_eq!(mixed.rust.health().await["adapter"]["lost"], 0);
}

#[tokio::test]
async fn sockets_rooms_and_remote_operations_work_from_either_side() {
    let Some(mixed) = Mixed::start().await else {
        return;
    };
    let mut on_rust = status_subscriber(&mixed.rust, "user-1").await;
    let mut second_on_rust = status_subscriber(&mixed.rust, "admin-1").await;
    let mut on_node = mixed.node_status_subscriber("user-2").await;
    let (rust_sid, second_sid, node_sid) =
        (sid_of(&on_rust), sid_of(&second_on_rust), sid_of(&on_node));

    // Node's fetchSockets sees the Rust node's sockets, with their rooms.
    let fetched = mixed.probe("fetch", &[]).await;
    let sockets = fetched.as_array().expect("a list");
    let ids: HashSet<&str> = sockets.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(
        ids,
        HashSet::from([rust_sid.as_str(), second_sid.as_str(), node_sid.as_str()])
    );
    let rust_socket = sockets
        .iter()
        .find(|s| s["id"] == rust_sid)
        .expect("listed");
    assert_eq!(rust_socket["rooms"], json!([rust_sid, "status-updates"]));
    let rooms = mixed.probe("rooms", &[]).await;
    assert!(
        rooms
            .as_array()
            .expect("a list")
            .contains(&json!(second_sid))
    );
    // Rust, Node original, and the probe itself.
    assert_eq!(mixed.probe("count", &[]).await, 3);

    // The Rust node's fetch_sockets and rooms see the Node node's socket.
    let io = mixed.rust.sockets().io().clone();
    let fetched = io.fetch_sockets().await.expect("fetch_sockets");
    assert_eq!(fetched.len(), 3, "{fetched:?}");
    let rooms = io.rooms().await.expect("rooms");
    assert!(
        rooms.iter().any(|room| room == node_sid.as_str()),
        "{rooms:?}"
    );

    // Node joins a Rust socket to a room, then reaches it there.
    mixed.probe("join", &[&second_sid, "extra"]).await;
    mixed
        .probe("emit", &["in-extra", "yes", "extra", "-"])
        .await;
    assert_eq!(event(&mut second_on_rust, "in-extra").await[0], "yes");
    no_event(&mut on_rust, "in-extra", Duration::from_millis(300)).await;

    // Node disconnects a Rust socket; Rust disconnects the Node socket it fetched.
    mixed.probe("disconnect", &[&rust_sid]).await;
    disconnected(&mut on_rust).await;
    let remote = fetched
        .into_iter()
        .find(|socket| {
            socket.data().id.as_str() != rust_sid && socket.data().id.as_str() != second_sid
        })
        .expect("the Node socket");
    remote.disconnect().await.expect("disconnect");
    disconnected(&mut on_node).await;
    no_event(&mut second_on_rust, "never", Duration::from_millis(100)).await;
    assert!(
        !second_on_rust
            .history()
            .iter()
            .any(|o| matches!(o.what, Observed::Disconnect { .. })),
        "only the sockets named were disconnected"
    );
}

/// Acks every `ping` `client` receives with `{from}`, until `stop` says.
async fn ack_pings(client: &mut Client, from: &str) {
    let seen = client
        .wait_for(
            WAIT,
            |o| matches!(o, Observed::Event { event, .. } if event == "ping"),
        )
        .await;
    match seen.map(|o| o.what) {
        Some(Observed::Event {
            nsp,
            ack_id: Some(id),
            ..
        }) => client
            .ack(&nsp, id, vec![json!({ "from": from })])
            .expect("ack sent"),
        other => panic!("no ping with an ack id: {other:?}"),
    }
}

#[tokio::test]
async fn broadcasts_with_acks_gather_the_acks_of_every_node() {
    let Some(mixed) = Mixed::start().await else {
        return;
    };
    let mut on_rust = mixed.rust.client("user-1", TransportKind::Websocket);
    connected(&mut on_rust).await;
    let mut on_node = mixed.node_client("user-2");
    connected(&mut on_node).await;

    // From Node: the acks of the Rust node's socket come back through Redis.
    let asked = tokio::spawn({
        let (root, url) = (mixed.root.clone(), mixed.redis.url_text());
        async move { probe(&root, &url, "ack", &["ping"]).await }
    });
    ack_pings(&mut on_rust, "rust").await;
    ack_pings(&mut on_node, "node").await;
    let answers = asked.await.expect("probe ran");
    let mut answers: Vec<Value> = answers.as_array().expect("acks").clone();
    answers.sort_by_key(|a| a["from"].to_string());
    assert_eq!(answers, [json!({"from": "node"}), json!({"from": "rust"})]);

    // From Rust: the Node socket's ack arrives with the local one.
    let io = mixed.rust.sockets().io().clone();
    let acks = tokio::spawn(async move {
        let stream = io
            .timeout(Duration::from_secs(3))
            .emit_with_ack::<_, Value>("ping", &())
            .await
            .expect("emit");
        use futures_util::StreamExt;
        stream
            .filter_map(|(_, ack)| async move { ack.ok() })
            .collect::<Vec<Value>>()
            .await
    });
    ack_pings(&mut on_rust, "rust").await;
    ack_pings(&mut on_node, "node").await;
    let mut acks = acks.await.expect("gathered");
    acks.sort_by_key(|a| a["from"].to_string());
    assert_eq!(acks, [json!({"from": "node"}), json!({"from": "rust"})]);
}

#[tokio::test]
async fn garbage_on_the_socket_io_channels_is_dropped_and_the_node_carries_on() {
    let redis = RedisProcess::start().await;
    let rust = node(&redis, AdapterKind::SocketIo).await;
    link_state(&rust, "connected").await;
    let mut on_rust = status_subscriber(&rust, "user-1").await;

    let client = redis::Client::open(redis.url_text()).expect("url");
    let mut publisher = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    // Each of these would crash a Node node or, read leniently, reach every socket.
    let well_formed_packet = "83a47479706502a46461746191a3626164a36e7370a12f";
    let garbage: Vec<(&str, Vec<u8>)> = vec![
        ("socket.io#/#", b"not msgpack at all".to_vec()),
        ("socket.io#/#status-updates#", b"\x93\xa6abcdef".to_vec()),
        // [uid, packet, 3]: options that are not a map.
        (
            "socket.io#/#",
            hex(&format!("93a6616263646566{well_formed_packet}03")),
        ),
        ("socket.io-request#/#", b"{bad json".to_vec()),
        ("socket.io-request#/#", br#"{"uid":"x","type":99}"#.to_vec()),
        ("socket.io-response#/#", b"\xc1".to_vec()),
    ];
    for (channel, payload) in garbage {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut publisher)
            .await
            .expect("published");
    }
    no_event(&mut on_rust, "bad", Duration::from_millis(300)).await;

    // The same broadcast well formed is delivered: the node carries on.
    let valid = hex(&format!("93a6616263646566{well_formed_packet}80"));
    redis::cmd("PUBLISH")
        .arg("socket.io#/#")
        .arg(valid)
        .query_async::<i64>(&mut publisher)
        .await
        .expect("published");
    event(&mut on_rust, "bad").await;
    assert_eq!(rust.health().await["adapter"]["state"], "connected");
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex"))
        .collect()
}

#[tokio::test]
async fn requests_node_no_longer_sends_are_still_answered_as_node_answers_them() {
    use futures_util::StreamExt;

    let redis = RedisProcess::start().await;
    let rust = node(&redis, AdapterKind::SocketIo).await;
    link_state(&rust, "connected").await;
    let mut on_rust = status_subscriber(&rust, "user-1").await;
    let sid = sid_of(&on_rust);

    let client = redis::Client::open(redis.url_text()).expect("url");
    let mut responses = client.get_async_pubsub().await.expect("redis");
    responses
        .subscribe("socket.io-response#/#")
        .await
        .expect("subscribed");
    let mut responses = responses.into_on_message();
    let mut publisher = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let mut ask = async |request: Value| -> Value {
        redis::cmd("PUBLISH")
            .arg("socket.io-request#/#")
            .arg(request.to_string())
            .query_async::<i64>(&mut publisher)
            .await
            .expect("published");
        let message = tokio::time::timeout(WAIT, responses.next())
            .await
            .expect("answered in time")
            .expect("a message");
        serde_json::from_slice(message.get_payload_bytes()).expect("a JSON answer")
    };

    // Type 0 (removed in 8.0, still answered): the ids of the sockets in the rooms.
    let answer = ask(
        json!({"uid": "RUSTab", "requestId": "man-00", "type": 0, "rooms": ["status-updates"]}),
    )
    .await;
    assert_eq!(answer, json!({"requestId": "man-00", "sockets": [sid]}));
    // Type 1: every room here, the sockets' own included.
    let answer = ask(json!({"uid": "RUSTab", "requestId": "man-01", "type": 1})).await;
    let rooms = answer["rooms"].as_array().expect("rooms");
    assert!(
        rooms.contains(&json!("status-updates")) && rooms.contains(&json!(sid)),
        "{answer}"
    );
    // Type 2 in 7.x's form: one socket, one room, answered by the socket's node.
    let answer = ask(json!({"uid": "RUSTab", "requestId": "man-02", "type": 2, "sid": sid, "room": "legacy-room"})).await;
    assert_eq!(answer, json!({"requestId": "man-02"}));
    rust.sockets()
        .emit_to_room("legacy-room", "joined", &"yes")
        .await
        .expect("emit");
    assert_eq!(event(&mut on_rust, "joined").await[0], "yes");
}
