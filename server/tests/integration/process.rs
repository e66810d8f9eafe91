//! The binary itself: prints its version, refuses to start without a secret or with an unknown
//! setting value, serves, and exits 0 on SIGTERM.

use std::process::Stdio;

use sio_wire::client::Observed;
use sio_wire::transport::TransportKind;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::common::{BINARY, ServerProcess, WAIT, connected, seeded_database};

#[tokio::test]
async fn prints_its_crate_version() {
    let output = Command::new(BINARY)
        .arg("--version")
        .output()
        .await
        .expect("runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("realtime-server {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn refuses_to_start_without_a_secret_or_with_a_short_one() {
    let output = Command::new(BINARY)
        .arg("serve")
        .env_remove("JWT_SECRET")
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET"));
    let output = Command::new(BINARY)
        .args(["serve", "--port", "0"])
        .env("JWT_SECRET", "short-secret")
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(
        !stderr.contains("short-secret"),
        "the secret must not be echoed"
    );
}

#[tokio::test]
async fn an_unknown_redis_adapter_is_refused_with_the_choices() {
    let output = Command::new(BINARY)
        .args(["serve", "--port", "0"])
        .env("JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("REDIS_ADAPTER", "socketio-redis")
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("socketio-redis"), "{stderr}");
    assert!(
        stderr.contains("socketioxide") && stderr.contains("socket.io"),
        "{stderr}"
    );
}

#[tokio::test]
async fn seeds_serves_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = seeded_database(dir.path()).await;
    let secret = "process-test-secret-0123456789-abcdef";

    let token = Command::new(BINARY)
        .args(["token", "--user", "user-1", "--ttl", "10m"])
        .env("JWT_SECRET", secret)
        .env("DATABASE_URL", &database_url)
        .output()
        .await
        .expect("token runs");
    let token = String::from_utf8(token.stdout)
        .expect("utf8")
        .trim()
        .to_owned();

    let server = ServerProcess::start(secret, &database_url, 0, &[]).await;
    let addr = server.addr;

    let mut options = sio_wire::client::ClientOptions::new(format!("http://{addr}"));
    options.endpoint.transport = TransportKind::Websocket;
    options.namespaces[0].auth = Some(serde_json::json!({ "token": token }));
    options.reconnect.enabled = false;
    let mut client = sio_wire::client::Client::connect(options);
    connected(&mut client).await;

    server.signal("TERM");
    let (status, logs) = server.exited().await;
    assert_eq!(status.code(), Some(0));
    let seen = client
        .wait_for(WAIT, |o| matches!(o, Observed::Disconnect { .. }))
        .await;
    assert!(seen.is_some(), "the client saw the shutdown");
    assert!(
        logs.contains("socket connections closed") && logs.contains("database closed"),
        "{logs}"
    );
    assert!(
        !logs.contains(secret) && !logs.contains(&token),
        "no secret or token in logs"
    );
}

#[tokio::test]
async fn logs_into_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(BINARY)
        .args(["serve", "--port", "0", "--log-format", "text"])
        .env("JWT_SECRET", "process-test-secret-0123456789-abcdef")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("c.db").display()),
        )
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let listening = tokio::time::timeout(WAIT, async {
        let mut seen = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("listening") {
                return seen;
            }
        }
        panic!("server exited before listening: {seen}");
    })
    .await
    .expect("listening in time");
    assert!(!listening.contains('\u{1b}'), "{listening:?}");
    let _ = child.start_kill();
    let _ = child.wait().await;
}
