//! `sio-harness record` end to end, with real clients: the official socket.io-client (Node), and
//! the dashboard page in Debian's Chromium, each talking to the Rust server (launched from
//! `scenarios/targets.yaml`) through `sio-harness record`; Ctrl-C (SIGINT) writes the file and
//! its snapshot; `sio-harness run` then replays the file against the same server: it passes, and
//! no token of the session is in the file.
//!
//! Needs `realtime-server` built beside this test and `npm ci` in `node-original/`
//! (socket.io-client): without them the first test skips, unless `CI`, `SIO_REQUIRE_SERVER` or
//! `SIO_REQUIRE_NODE` is set. The browser test needs `npm ci` in `page/` and `chromium`, which the
//! test command installs after the cargo tests: it skips without them unless
//! `SIO_REQUIRE_BROWSER` is set (the test command's own step for it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sio_harness::jwt;
use sio_harness::scenario::TokenSpec;
use sio_harness::target::{RunningTarget, Target, bin_dir};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether everything the test needs is there; panics when something is missing and one of
/// `require` is set in the environment.
fn ready(needs: &[PathBuf], require: &[&str]) -> bool {
    let mut all = needs.to_vec();
    all.push(bin_dir().join("realtime-server"));
    let missing: Vec<_> = all.iter().filter(|p| !p.exists()).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        require.iter().all(|var| std::env::var_os(var).is_none()),
        "missing: {missing:?}"
    );
    eprintln!("skipping: missing {missing:?}");
    false
}

async fn rust_server() -> RunningTarget {
    let targets = root().join("scenarios/targets.yaml");
    let target = Target::resolve("rust", &targets, None).expect("the rust target");
    target.start().await.expect("the server starts")
}

fn token(server: &RunningTarget, user: &str) -> String {
    let spec = TokenSpec::for_user(user, Duration::from_secs(3600));
    jwt::mint(&spec, server.secret.as_deref()).expect("mints")
}

/// Where the recorder forwards to: the server's URL, its JWT secret, and the recorder's
/// further options (`--path`).
struct Upstream {
    url: String,
    secret: String,
    options: Vec<String>,
}

impl From<&RunningTarget> for Upstream {
    fn from(server: &RunningTarget) -> Self {
        Self {
            url: server.base_url.clone(),
            secret: server.secret.clone().unwrap_or_default(),
            options: Vec::new(),
        }
    }
}

/// `sio-harness record` on a free port, and the proxy's URL it printed.
async fn start_recording(upstream: &Upstream, out: &Path, snapshots: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .args([
            "record",
            "--upstream",
            &upstream.url,
            "--listen",
            "127.0.0.1:0",
        ])
        .args(&upstream.options)
        .arg("--out")
        .arg(out)
        .arg("--snapshots")
        .arg(snapshots)
        .env("JWT_SECRET", &upstream.secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sio-harness starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the recorder says where it listens")
        .expect("reads stdout")
        .unwrap_or_default();
    let url = first
        .strip_prefix("recording on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    // Keep draining stdout so the report at the end never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            println!("record: {line}");
        }
    });
    (child, url)
}

/// SIGINT, as Ctrl-C sends; the recorder must write the file and its snapshot and exit 0.
async fn stop_recording(mut child: Child, out: &Path) {
    let pid = child.id().expect("still running") as libc::pid_t;
    // SAFETY: signalling a child this test started, by its pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = tokio::time::timeout(WAIT, pipe.read_to_string(&mut stderr)).await;
    }
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the recorder exits after SIGINT")
        .expect("waits");
    assert!(
        status.success(),
        "record exited {status}:\n{stderr}\n--- the recorded file:\n{}",
        std::fs::read_to_string(out).unwrap_or_default()
    );
}

async fn run_node(script: &str, envs: &[(&str, &str)]) {
    let output = tokio::time::timeout(
        WAIT,
        Command::new("node")
            .arg(root().join("harness/tests/node").join(script))
            .envs(envs.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the client finishes in time")
    .expect("node runs");
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `sio-harness run` of the recorded file against the server, comparing with its snapshot.
async fn replay(upstream: &Upstream, file: &Path, snapshots: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .args(["run", "--target", &upstream.url, "--snapshots"])
        .arg(snapshots)
        .arg(file)
        .env("JWT_SECRET", &upstream.secret)
        .env("INSTA_UPDATE", "no")
        .output()
        .await
        .expect("sio-harness runs");
    assert!(
        output.status.success(),
        "the replay failed:\n{}\n{}\n--- the recorded file:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// `sio-harness run --target PROXY ARGS` (a client of the recorder like any other): its one
/// scenario must pass. Snapshots are compared, never written, unless `--update` is given.
async fn run_one_through(proxy: &str, secret: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .args(["run", "--target", proxy])
        .args(args)
        .env("JWT_SECRET", secret)
        .env("INSTA_UPDATE", "no")
        .output()
        .await
        .expect("sio-harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// One session recorded through the proxy into a temporary folder, then replayed from there.
struct Session {
    _dir: tempfile::TempDir,
    file: PathBuf,
    snapshots: PathBuf,
}

impl Session {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            file: dir.path().join(format!("{name}.yaml")),
            snapshots: dir.path().join("snapshots"),
            _dir: dir,
        }
    }

    /// Records what `drive` does through the proxy (it gets the proxy's URL); the file written.
    async fn record<F: std::future::Future<Output = ()>>(
        &self,
        upstream: &Upstream,
        drive: impl FnOnce(String) -> F,
    ) -> String {
        let (recorder, url) = start_recording(upstream, &self.file, &self.snapshots).await;
        drive(url).await;
        stop_recording(recorder, &self.file).await;
        let yaml = std::fs::read_to_string(&self.file).expect("the file is written");
        println!("--- the recorded file:\n{yaml}");
        yaml
    }

    async fn replay(&self, upstream: &Upstream) {
        replay(upstream, &self.file, &self.snapshots).await;
    }
}

fn assert_no_token(yaml: &str, tokens: &[&str]) {
    for token in tokens {
        for part in token.split('.') {
            assert!(
                !yaml.contains(part),
                "a token's text is in the file:\n{yaml}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_the_official_client_replays_green() {
    let client = root().join("node-original/node_modules/socket.io-client");
    if !ready(&[client], &["CI", "SIO_REQUIRE_SERVER", "SIO_REQUIRE_NODE"]) {
        return;
    }
    let server = rust_server().await;
    let session = Session::new("official");
    let (user, admin) = (token(&server, "user-1"), token(&server, "admin-1"));
    let yaml = session
        .record(&(&server).into(), |url| {
            let (user, admin) = (&user, &admin);
            async move {
                let envs = [
                    ("PROXY_URL", url.as_str()),
                    ("USER_TOKEN", user),
                    ("ADMIN_TOKEN", admin),
                ];
                run_node("record-client.js", &envs).await;
            }
        })
        .await;
    assert_no_token(&yaml, &[&user, &admin]);
    for expected in [
        "transport: upgrade",
        "{{user-1}}",
        "event: notification:new",
        "method: POST",
        "capture:",
        "id: $uuid",
        // The id the client got is the one it sends back and sees confirmed.
        "- \"{{id}}\"",
    ] {
        assert!(
            yaml.contains(expected),
            "{expected:?} missing from:\n{yaml}"
        );
    }
    assert!(
        std::fs::read_dir(&session.snapshots)
            .expect("snapshots written")
            .count()
            == 1,
        "one snapshot"
    );
    session.replay(&(&server).into()).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_session_of_the_dashboard_replays_green() {
    let chromium = PathBuf::from(
        std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
    );
    // The test command installs the page's packages and Chromium after the cargo tests, then runs
    // this test again with SIO_REQUIRE_BROWSER set.
    let needs = [root().join("page/node_modules/@playwright/test"), chromium];
    if !ready(&needs, &["SIO_REQUIRE_BROWSER"]) {
        return;
    }
    let server = rust_server().await;
    let session = Session::new("dashboard");
    let user = token(&server, "user-1");
    let yaml = session
        .record(&(&server).into(), |url| {
            let user = &user;
            async move {
                let envs = [("PROXY_URL", url.as_str()), ("USER_TOKEN", user)];
                run_node("record-browser.js", &envs).await;
            }
        })
        .await;
    assert_no_token(&yaml, &[&user]);
    assert!(yaml.contains("- connect:"), "{yaml}");
    assert!(
        yaml.contains("- http:"),
        "the page's API calls are steps:\n{yaml}"
    );
    session.replay(&(&server).into()).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_recording_that_saw_nothing_says_so_and_writes_no_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("empty.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .args([
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--duration",
            "50ms",
            "--out",
        ])
        .arg(&out)
        .output()
        .await
        .expect("sio-harness runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nothing to write"), "{stderr}");
    assert!(!out.exists());
}

/// The harness's own client is a client like any other: a scenario run through the recorder is
/// recorded, and the recording replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_run_through_the_recorder_replays_green() {
    if !ready(&[], &["CI", "SIO_REQUIRE_SERVER"]) {
        return;
    }
    let server = rust_server().await;
    let session = Session::new("harness");
    let secret = server.secret.clone().unwrap_or_default();
    let yaml = session
        .record(&(&server).into(), |url| async move {
            let snapshots = root().join("snapshots");
            let file = root().join("scenarios/notifications.yaml");
            let args = [
                "--filter".as_ref(),
                "created over HTTP".as_ref(),
                "--snapshots".as_ref(),
                snapshots.as_os_str(),
                file.as_os_str(),
            ];
            run_one_through(&url, &secret, &args).await;
        })
        .await;
    assert!(
        yaml.contains("capture:"),
        "the created id is captured:\n{yaml}"
    );
    session.replay(&(&server).into()).await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_output_folder_that_does_not_exist_is_refused_before_recording() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("missing/file.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .args(["record", "--upstream", "http://127.0.0.1:9", "--out"])
        .arg(&out)
        .output()
        .await
        .expect("sio-harness runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no folder"), "{stderr}");
}

/// An app on the Engine.IO path `/rt/` (not `/socket.io/`), namespace `/market`: `quote` is
/// acked and answered with a `quoted` event. Its URL.
async fn market_on_rt() -> (String, tokio::task::JoinHandle<()>) {
    use serde_json::{Value, json};
    use socketioxide::extract::{AckSender, Data, SocketRef};
    let (layer, io) = socketioxide::SocketIo::builder()
        .req_path("/rt")
        .build_layer();
    io.ns("/market", async |socket: SocketRef| {
        socket.on(
            "quote",
            async |socket: SocketRef, Data(quote): Data<Value>, ack: AckSender| {
                let _ = ack.send(&json!({ "ok": true }));
                let _ = socket.emit("quoted", &quote);
            },
        );
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().layer(layer);
    let serve = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, serve)
}

/// A session on `/rt/` is recorded with `path: /rt/` on its `connect`, so the recorder's own
/// replay (which writes the snapshot) and a later replay both pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_another_engine_path_keeps_its_path_and_replays_green() {
    let (url, serve) = market_on_rt().await;
    let upstream = Upstream {
        url,
        secret: String::new(),
        options: vec!["--path".into(), "/rt/".into()],
    };
    let session = Session::new("market");
    let scenario = session.file.with_file_name("drive.yaml");
    let drive_snapshots = session.file.with_file_name("drive-snapshots");
    std::fs::write(
        &scenario,
        "name: quote on /rt/\nsteps:\n  - connect: { client: alice, namespace: /market, path: /rt/ }\n  - emit: { client: alice, namespace: /market, event: quote, args: [{ symbol: ACME }], ack: { args: [{ ok: true }] } }\n  - expect: { client: alice, namespace: /market, event: quoted, args: [{ symbol: ACME }] }\n",
    )
    .expect("write the driving scenario");
    let yaml = session
        .record(&upstream, |proxy| async move {
            let args = [
                "--update".as_ref(),
                "--snapshots".as_ref(),
                drive_snapshots.as_os_str(),
                scenario.as_os_str(),
            ];
            run_one_through(&proxy, "", &args).await;
        })
        .await;
    assert!(
        yaml.contains("namespace: /market") && yaml.contains("path: /rt/"),
        "{yaml}"
    );
    assert_eq!(
        std::fs::read_dir(&session.snapshots)
            .expect("the recorder's replay wrote the snapshot")
            .count(),
        1
    );
    session.replay(&upstream).await;
    serve.abort();
}
