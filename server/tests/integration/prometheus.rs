//! A real Prometheus (Debian's binary) scraping both servers with deploy/prometheus.yml (its
//! targets, token file and interval set for the test): after a few client actions, PromQL
//! through Prometheus's HTTP API shows the counts they caused on each server, and every panel
//! of deploy/grafana-dashboard.json evaluates.
//!
//! Skipped when `prometheus` is not installed, unless `SIO_REQUIRE_PROMETHEUS` is set (the test
//! command sets it); the Node original's half likewise with `SIO_REQUIRE_NODE`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::common::{ServerProcess, counted_actions, free_port, random_secret, seeded_database};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const TOKEN: &str = "prometheus-test-metrics-token";
/// How long Prometheus may take to show what happened (scrapes every second).
const SEEN_WITHIN: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A child process killed (by its pid, through `kill_on_drop`) when dropped.
struct Launched {
    child: Child,
    url: String,
}

async fn until_answers(url: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(url).await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            child.try_wait().expect("status").is_none(),
            "{url}: the process exited"
        );
        assert!(Instant::now() < deadline, "no answer from {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Node original on a free port with its own seeded SQLite file, or `None` if not built.
async fn node_original(dir: &Path, secret: &str) -> Option<Launched> {
    let root = repo().join("node-original");
    if !root.join("dist/src/index.js").exists() || !root.join("node_modules/prom-client").exists() {
        assert!(
            std::env::var_os("SIO_REQUIRE_NODE").is_none(),
            "node-original is not built: npm ci && npm run build there"
        );
        eprintln!("skipping the Node original: not built");
        return None;
    }
    let database_url = format!("sqlite://{}", dir.join("node.db").display());
    let seeded = Command::new("node")
        .arg("dist/src/db/seed.js")
        .arg(repo().join("scenarios/fixtures.sql"))
        .current_dir(&root)
        .env("DATABASE_URL", &database_url)
        .output()
        .await
        .expect("node runs");
    assert!(seeded.status.success(), "{seeded:?}");
    let port = free_port();
    let mut child = Command::new("node")
        .arg("dist/src/index.js")
        .current_dir(&root)
        .env("DATABASE_URL", &database_url)
        .env("JWT_SECRET", secret)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("METRICS_TOKEN", TOKEN)
        .env("RATE_LIMIT_EVENTS", "2")
        .env("RATE_LIMIT_WINDOW_MS", "60000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let url = format!("http://127.0.0.1:{port}");
    until_answers(&format!("{url}/health/live"), &mut child).await;
    Some(Launched { child, url })
}

/// Prometheus on a free loopback port, scraping `targets` every second with deploy/prometheus.yml
/// (its data in `dir`).
async fn prometheus(dir: &Path, targets: &[String]) -> Launched {
    let shipped = std::fs::read_to_string(repo().join("deploy/prometheus.yml"))
        .expect("deploy/prometheus.yml");
    let token_file = dir.join("metrics-token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let quoted: Vec<String> = targets.iter().map(|t| format!("{t:?}")).collect();
    let config = shipped
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace(
            "/etc/prometheus/realtime-metrics-token",
            &token_file.display().to_string(),
        )
        .replace(
            r#"["10.0.0.11:4000", "10.0.0.12:4000"]"#,
            &format!("[{}]", quoted.join(", ")),
        );
    assert!(
        config.contains("scrape_interval: 1s") && !config.contains("10.0.0.11"),
        "deploy/prometheus.yml changed shape; update this test:\n{shipped}"
    );
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).expect("config");
    let port = free_port();
    let mut child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let url = format!("http://127.0.0.1:{port}");
    until_answers(&format!("{url}/-/ready"), &mut child).await;
    Launched { child, url }
}

/// Runs a PromQL query; panics unless Prometheus accepts it. Returns the result vector.
async fn query(prometheus: &str, promql: &str) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .expect("prometheus answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["status"], "success", "{promql}: {body}");
    assert_eq!(body["data"]["resultType"], "vector", "{promql}: {body}");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The value of `promql` for the server at `instance`, once Prometheus has it equal to `want`.
async fn until_value(prometheus: &str, promql: &str, instance: &str, want: f64) {
    let deadline = Instant::now() + SEEN_WITHIN;
    loop {
        let result = query(prometheus, promql).await;
        let seen = result
            .iter()
            .find(|sample| sample["metric"]["instance"] == instance)
            .and_then(|sample| sample["value"][1].as_str()?.parse::<f64>().ok());
        if seen == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{promql} on {instance}: {seen:?}, not {want}; all: {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn prometheus_sees_what_clients_did_on_both_servers_and_the_dashboard_evaluates() {
    if !Path::new(PROMETHEUS).exists() {
        assert!(
            std::env::var_os("SIO_REQUIRE_PROMETHEUS").is_none(),
            "{PROMETHEUS} is missing: bash scripts/setup.sh prometheus"
        );
        eprintln!("skipping: {PROMETHEUS} is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (secret, key) = random_secret();
    let token = key.mint("user-1", Duration::from_secs(3600));

    let rust_database = seeded_database(dir.path()).await;
    let rust = ServerProcess::start(
        &secret,
        &rust_database,
        0,
        &[
            ("METRICS_TOKEN", TOKEN),
            ("RATE_LIMIT_EVENTS", "2"),
            ("RATE_LIMIT_WINDOW_MS", "60000"),
        ],
    )
    .await;
    let mut servers = vec![("rust", format!("http://{}", rust.addr))];
    let node = node_original(dir.path(), &secret).await;
    if let Some(node) = &node {
        servers.push(("node", node.url.clone()));
    }

    let mut clients = Vec::new();
    for (_, url) in &servers {
        clients.push(counted_actions(url, &token).await);
    }
    let instances: Vec<String> = servers
        .iter()
        .map(|(_, url)| url.trim_start_matches("http://").to_owned())
        .collect();
    let prometheus = prometheus(dir.path(), &instances).await;
    let api = prometheus.url.as_str();

    for ((kind, _), instance) in servers.iter().zip(&instances) {
        eprintln!("checking {kind} at {instance}");
        for (promql, want) in [
            ("up", 1.0),
            ("realtime_handshakes_accepted_total", 1.0),
            (
                r#"realtime_handshakes_refused_total{reason="invalid_token"}"#,
                1.0,
            ),
            (
                r#"realtime_handshakes_refused_total{reason="missing_token"}"#,
                0.0,
            ),
            (
                r#"realtime_events_received_total{event="subscribe:status"}"#,
                3.0,
            ),
            (
                r#"realtime_events_rate_limited_total{event="subscribe:status"}"#,
                1.0,
            ),
            (r#"realtime_emits_total{event="status:current"}"#, 2.0),
            (r#"realtime_connected_sockets{transport="websocket"}"#, 1.0),
            ("realtime_database_up", 1.0),
            (r#"process_resident_memory_bytes > bool 1e6"#, 1.0),
            (r#"process_open_fds > bool 0"#, 1.0),
            (r#"process_start_time_seconds > bool 1.6e9"#, 1.0),
        ] {
            until_value(api, promql, instance, want).await;
        }
    }

    // The dashboard: every panel's expression evaluates; with rate()s over two scrapes at least.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana-dashboard.json"))
            .expect("deploy/grafana-dashboard.json"),
    )
    .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "{} panels", panels.len());
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}: no query", panel["title"]);
        for target in targets {
            let promql = target["expr"].as_str().expect("expr");
            let result = query(api, promql).await;
            // No Redis and no Kuma feed here: their panels are rightly empty, and nothing else is.
            let absent_here = promql.contains("redis_adapter") || promql.contains("kuma_");
            assert_eq!(
                result.is_empty(),
                absent_here,
                "{}: {promql} gave {result:?}",
                panel["title"]
            );
        }
    }
    // The panels name only metrics the servers expose (a typo'd name would be "rightly empty");
    // the Redis and Kuma ones, absent here, must be written by the Rust server's sources.
    let sources = std::fs::read_to_string(repo().join("server/src/metrics/sources.rs"))
        .expect("server/src/metrics/sources.rs");
    let exposed: Vec<String> = query(api, r#"count by (__name__) ({__name__=~".+"})"#)
        .await
        .iter()
        .filter_map(|sample| sample["metric"]["__name__"].as_str().map(str::to_owned))
        .collect();
    let names = regex::Regex::new(r"\b(realtime_[a-z_]+|process_[a-z_]+)").expect("regex");
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let promql = target["expr"].as_str().unwrap_or_default();
            for name in names.find_iter(promql).map(|m| m.as_str()) {
                let absent_here = name.contains("redis_adapter") || name.contains("kuma_");
                let written = sources.contains(&format!("{:?}", name.trim_end_matches("_total")));
                assert!(
                    if absent_here {
                        written
                    } else {
                        exposed.iter().any(|e| e == name)
                    },
                    "{name} in {promql:?} is not exposed: {exposed:?}"
                );
            }
        }
    }
    drop(clients);
    drop((prometheus.child, node.map(|n| n.child)));
    rust.signal("TERM");
    let (status, _) = rust.exited().await;
    assert!(status.success());
}
