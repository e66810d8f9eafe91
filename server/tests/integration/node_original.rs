//! The Node original (node-original/, built by scripts/setup.sh) as a child process, and the
//! adapter probe (server/tests/node/adapter-probe.js): real Node nodes for the tests that need one.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use realtime_server::auth::JwtSecret;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common::{FIXTURES, free_port};

/// node-original's directory when it is built; `None` (the test skips) when it is not, unless
/// `SIO_REQUIRE_NODE` is set (as the test command sets it), which makes that a failure.
pub fn built() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node-original");
    if root.join("dist/src/index.js").exists() && root.join("node_modules/pg").exists() {
        return Some(root);
    }
    assert!(
        std::env::var_os("SIO_REQUIRE_NODE").is_none(),
        "node-original is not built: npm ci && npm run build there"
    );
    eprintln!("skipping: node-original is not built");
    None
}

/// The Node original on a free port, seeded with the fixtures; killed when dropped.
pub struct NodeServer {
    pub url: String,
    pub secret: JwtSecret,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl NodeServer {
    /// On `database_url` (`sqlite://…` or `postgres://…`), with `env` on top of the basics.
    pub async fn start(root: &Path, database_url: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let fixtures = dir.path().join("fixtures.sql");
        std::fs::write(&fixtures, FIXTURES).expect("write fixtures");
        let secret_text: String = (0..4)
            .map(|_| format!("{:016x}", rand::random::<u64>()))
            .collect();
        let port = free_port();
        let command = |program: &str| {
            let mut command = Command::new(program);
            command
                .current_dir(root)
                .env("DATABASE_URL", database_url)
                .env("JWT_SECRET", &secret_text)
                .env("HOST", "127.0.0.1")
                .env("PORT", port.to_string())
                .envs(env.iter().copied())
                .stdin(Stdio::null());
            command
        };
        let seeded = command("node")
            .arg("dist/src/db/seed.js")
            .arg(&fixtures)
            .output()
            .await
            .expect("node runs");
        assert!(
            seeded.status.success(),
            "{}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        let child = command("node")
            .arg("dist/src/index.js")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let url = format!("http://127.0.0.1:{port}");
        // Node takes seconds to start on a busy machine.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !matches!(
            reqwest::get(format!("{url}/health")).await,
            Ok(response) if response.status().is_success()
        ) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the Node original did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            url,
            secret: JwtSecret::new(&secret_text).expect("long enough"),
            _child: child,
            _dir: dir,
        }
    }

    pub fn token(&self, user: &str) -> String {
        self.secret.mint(user, Duration::from_secs(3600))
    }
}

/// Runs the adapter probe, a bare socket.io server with @socket.io/redis-adapter on
/// `redis_url`, for one `command` (see the script), and returns the JSON line it prints.
pub async fn probe(root: &Path, redis_url: &str, command: &str, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/adapter-probe.js");
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new("node")
            .arg(&script)
            .arg(command)
            .args(args)
            .current_dir(root)
            .env("REDIS_URL", redis_url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the probe finishes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "probe {command} failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| panic!("probe {command} printed {stdout}"))
}
