//! `examples/watch.rs` run as a user runs it, against the real server: one line per status and
//! notification, Ctrl-C ends it cleanly, a refused token ends it with the server's reason, and the
//! token never appears in its output.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::common::TestServer;

/// Generous: the example is a process of its own that has to start and connect first.
const PATIENCE: Duration = Duration::from_secs(20);

/// The example's binary. `cargo test` builds examples along with the tests; a run of this test
/// target alone uses whatever `cargo build --example watch` built last.
fn watch_binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let path = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .join("examples")
        .join("watch");
    assert!(
        path.exists(),
        "{} is missing: cargo build -p realtime-server --example watch",
        path.display()
    );
    path
}

/// The example running against `server` with `token` in its environment.
struct Watch {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far, stdout and stderr interleaved as they arrived.
    seen: Vec<String>,
}

impl Watch {
    fn start(server: &TestServer, token: &str) -> Self {
        let mut child = Command::new(watch_binary())
            .env("REALTIME_URL", server.url())
            .env("REALTIME_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("watch starts");
        let (tx, lines) = mpsc::unbounded_channel();
        forward_lines(child.stdout.take().expect("stdout"), "out", tx.clone());
        forward_lines(child.stderr.take().expect("stderr"), "err", tx);
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line that `wanted` accepts (lines read as `out: ...` or `err: ...`).
    async fn line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) {
        let seen = &mut self.seen;
        let lines = &mut self.lines;
        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.recv().await {
                let hit = wanted(&line);
                seen.push(line);
                if hit {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(found, Ok(true)),
            "no {what}; watch printed {:#?}",
            self.seen
        );
    }

    /// Waits for the process to exit and reads the rest of its output.
    async fn exited(mut self) -> (ExitStatus, Vec<String>) {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("exits in time")
            .expect("status");
        while let Some(line) = self.lines.recv().await {
            self.seen.push(line);
        }
        (status, self.seen)
    }

    fn interrupt(&self) {
        let pid = self.child.id().expect("still running");
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }
}

fn forward_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    label: &'static str,
    tx: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(format!("{label}: {line}")).is_err() {
                break;
            }
        }
    });
}

#[tokio::test]
async fn prints_statuses_and_notifications_one_line_each_until_ctrl_c() {
    let mut server = TestServer::start().await;
    let token = server.token("user-1");
    let mut watch = Watch::start(&server, &token);
    watch
        .line("connected", |l| l.starts_with("err: connected to http://"))
        .await;
    for (service, status) in [("jellyfin", "up"), ("plex", "up"), ("sonarr", "degraded")] {
        watch
            .line(service, |l| {
                l.starts_with(&format!(
                    "out: status  {service:<12} {status:<9} (current, "
                ))
            })
            .await;
    }

    let admin = server.token("admin-1");
    let changed = server
        .http()
        .put(format!("{}/api/v1/status/plex", server.url()))
        .bearer_auth(&admin)
        .json(&json!({ "status": "down" }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(changed.status(), 200);
    watch
        .line("the status change", |l| {
            l.starts_with("out: status  plex         down      at 20")
        })
        .await;

    let created = server
        .http()
        .post(format!("{}/api/v1/notifications", server.url()))
        .bearer_auth(&admin)
        .json(&json!({ "userId": "user-1", "title": "Backup done", "message": "All good.", "type": "success" }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(created.status(), 201);
    watch
        .line("the notification", |l| {
            l.starts_with("out: notice  [success] Backup done: All good. at 20")
        })
        .await;

    watch.interrupt();
    let (status, output) = watch.exited().await;
    assert!(status.success(), "{status:?}: {output:#?}");
    assert!(
        !output.iter().any(|line| line.contains(&token)),
        "{output:#?}"
    );
    server.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_refused_token_ends_it_with_the_servers_reason() {
    let mut server = TestServer::start().await;
    let token = server.token("user-3");
    let watch = Watch::start(&server, &token);
    let (status, output) = watch.exited().await;
    assert_eq!(status.code(), Some(1), "{output:#?}");
    assert!(
        output
            .iter()
            .any(|line| line
                == "err: watch: the server refused the token: User not found or inactive"),
        "{output:#?}"
    );
    assert!(
        !output.iter().any(|line| line.contains(&token)),
        "{output:#?}"
    );
    server.stop().await.expect("clean shutdown");
}
