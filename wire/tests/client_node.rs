//! The client against the official Node `socket.io` server, so it is proven against the original
//! implementation and not only against socketioxide. Needs `npm ci` in `node-original/` (the test
//! command does it); without it the tests fail when `SIO_REQUIRE_NODE` is set, and skip otherwise.

mod conformance;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A port free on loopback now, for the Node server to listen on.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct NodeServer {
    addr: SocketAddr,
    child: Child,
}

impl NodeServer {
    async fn start() -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let installed = root.join("node-original/node_modules/socket.io").exists();
        if !installed {
            assert!(
                std::env::var_os("SIO_REQUIRE_NODE").is_none(),
                "node-original/node_modules is missing: run `npm ci` in node-original"
            );
            eprintln!("skipping: node-original/node_modules is missing (run npm ci there)");
            return None;
        }
        let port = free_port().expect("free port");
        let mut child = Command::new("node")
            .arg(root.join("wire/tests/node/echo-server.js"))
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        let ready = tokio::time::timeout(
            conformance::WAIT,
            BufReader::new(stdout).lines().next_line(),
        )
        .await
        .expect("node server ready in time")
        .expect("reads stdout");
        assert_eq!(ready.as_deref(), Some(format!("listening {port}").as_str()));
        Some(Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        })
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = self.child.wait().await;
    }
}

macro_rules! against_node {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let Some(server) = NodeServer::start().await else { return };
            conformance::$name(server.addr).await;
            server.stop().await;
        }
    )*};
}

against_node!(
    acks_both_ways_on_every_transport,
    binary_attachments_in_both_directions,
    namespaces_with_auth_and_connect_error,
    ack_timeout_is_reported,
    server_disconnect_is_final_and_not_retried,
);
