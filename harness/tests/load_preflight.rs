//! The load modes and their profile: without `--profile` each of `storm`, `fanout`, `churn`,
//! `exhaust` and `fuzz` refuses at once, naming the flag; with the dashboard's profile against a
//! server that does not follow it, each says so and exits 2 (usage), naming what the profile
//! expected (path, namespace, what marks a client ready), without blaming the server or
//! printing a reproducer; a profile written for that other app drives it; against this
//! repository's server the dashboard profile's preflight passes and the mode runs.
//!
//! The other app is a few lines of socketioxide in this process, reached as a URL target. The
//! run against our server needs `realtime-server` built beside this test (skipped without it,
//! unless `CI` or `SIO_REQUIRE_SERVER` is set).

use std::time::Duration;

use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio::process::Command;

/// Another app: any connection is welcome (`welcome` on connect), nothing else is answered;
/// on the Engine.IO path `path`. Its URL.
async fn another_app(path: &'static str) -> String {
    let (layer, io) = SocketIo::builder().req_path(path).build_layer();
    io.ns("/", async |socket: SocketRef| {
        let _ = socket.emit("welcome", &json!({ "motd": "hello" }));
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().layer(layer)).await;
    });
    url
}

/// `sio-harness MODE --target URL ARGS`, with a JWT secret: exit code, stdout, stderr.
async fn load_mode(mode: &str, target: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new(env!("CARGO_BIN_EXE_sio-harness"))
            .args([mode, "--target", target])
            .args(args)
            .env("JWT_SECRET", "another-apps-secret")
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the mode stops by itself")
    .expect("sio-harness runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const DASHBOARD: &str = "benches/dashboard.profile.yaml";

/// Small settings for each mode, so that a mode that did start would stop soon.
const MODES: [(&str, &[&str]); 5] = [
    ("storm", &["--clients", "3", "--rounds", "1"]),
    ("fanout", &["--clients", "3", "--messages", "1"]),
    (
        "churn",
        &[
            "--clients",
            "3",
            "--rate",
            "5",
            "--duration-s",
            "1",
            "--idle-s",
            "0",
        ],
    ),
    (
        "exhaust",
        &[
            "--clients",
            "1",
            "--tcp",
            "1",
            "--websocket",
            "1",
            "--polling",
            "1",
            "--slowloris",
            "1",
            "--hold-s",
            "1",
            "--quiet-s",
            "1",
        ],
    ),
    (
        "fuzz",
        &["--frames", "50", "--concurrency", "2", "--settle-s", "1"],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_profile_every_load_mode_exits_2_naming_the_flag() {
    let url = another_app("/socket.io").await;
    let runs = MODES.map(|(mode, args)| {
        let url = url.clone();
        async move { (mode, load_mode(mode, &url, args).await) }
    });
    for (mode, (code, stdout, stderr)) in futures_util::future::join_all(runs).await {
        assert_eq!(code, Some(2), "{mode}:\n{stdout}{stderr}");
        assert!(
            stderr.contains(&format!("error: {mode} needs --profile FILE"))
                && stderr.contains("examples/chat/load.profile.yaml"),
            "{mode}:\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_load_mode_against_another_app_exits_2_naming_what_the_profile_expected() {
    let url = another_app("/socket.io").await;
    let runs = MODES.map(|(mode, args)| {
        let url = url.clone();
        async move {
            let args: Vec<&str> = ["--profile", DASHBOARD]
                .iter()
                .chain(args)
                .copied()
                .collect();
            (mode, load_mode(mode, &url, &args).await)
        }
    });
    for (mode, (code, stdout, stderr)) in futures_util::future::join_all(runs).await {
        let all = format!("{stdout}{stderr}");
        assert_eq!(code, Some(2), "{mode}:\n{all}");
        assert!(
            stderr.contains(&format!("error: {mode} cannot drive {url} with the profile {DASHBOARD} (Engine.IO path /socket.io/, namespace /, ready on `status:current`): the client was not ready within 5s (events received: `welcome`).")),
            "{mode}:\n{all}"
        );
        assert!(
            stderr.contains("This is not a verdict on the server"),
            "{mode}:\n{all}"
        );
        for blame in ["FAILED", "failed to open", "reproducer", "p99", "motd"] {
            assert!(!all.contains(blame), "{mode} printed {blame:?}:\n{all}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_another_engine_io_path_is_told_apart_from_a_broken_one() {
    let url = another_app("/rt").await;
    let args: Vec<&str> = ["--profile", DASHBOARD]
        .iter()
        .chain(MODES[0].1)
        .copied()
        .collect();
    let (code, stdout, stderr) = load_mode("storm", &url, &args).await;
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("storm cannot drive") && stderr.contains(": connecting / at /socket.io/ "),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_written_for_the_other_app_drives_it() {
    let url = another_app("/rt").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = dir.path().join("welcome.profile.yaml");
    std::fs::write(
        &profile,
        "name: welcome\nclient: { path: /rt/ }\nready: { event: welcome, args: [{ motd: $string }] }\n",
    )
    .expect("write the profile");
    let profile = profile.display().to_string();
    let args: Vec<&str> = ["--profile", &profile, "--json"]
        .iter()
        .chain(MODES[0].1)
        .copied()
        .collect();
    let (code, stdout, stderr) = load_mode("storm", &url, &args).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["rounds"][0]["not_back"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_this_repositorys_server_the_preflight_passes_and_the_mode_runs() {
    let server = sio_harness::target::bin_dir().join("realtime-server");
    if !server.exists() {
        assert!(
            ["CI", "SIO_REQUIRE_SERVER"]
                .iter()
                .all(|v| std::env::var_os(v).is_none()),
            "missing {}",
            server.display()
        );
        eprintln!("skipping: missing {}", server.display());
        return;
    }
    let args: Vec<&str> = ["--profile", DASHBOARD]
        .iter()
        .chain(MODES[0].1)
        .copied()
        .collect();
    let (code, stdout, stderr) = load_mode("storm", "rust", &args).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(!stderr.contains("cannot drive"), "{stderr}");
}
