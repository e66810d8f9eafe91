//! PostgreSQL for the tests, through the one mechanism the test command uses too
//! (`scripts/pg.sh`).
//!
//! `TEST_DATABASE_URL` names a running server without a database (`scripts/test.sh` starts a
//! throwaway one); [`fresh_database`] creates an empty database there for one test. [`Cluster`]
//! is a throwaway cluster of a test's own, for tests that stop and restart PostgreSQL. Without
//! PostgreSQL these tests skip, unless `CI` or `SIO_REQUIRE_PG` is set: then it is a failure.

use std::path::Path;
use std::process::Command;

use sqlx::{Connection, Executor, PgConnection};

const PG_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("SIO_REQUIRE_PG").is_some()
}

/// A new, empty database on the `TEST_DATABASE_URL` server, as a URL; `None` (skip) without one.
pub async fn fresh_database() -> Option<String> {
    let Some(server) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        assert!(
            !required(),
            "TEST_DATABASE_URL is not set (scripts/test.sh starts PostgreSQL with scripts/pg.sh)"
        );
        eprintln!("skipping the PostgreSQL half: TEST_DATABASE_URL is not set");
        return None;
    };
    Some(create_database(&server).await)
}

/// Creates a database with a unique name on `server` and returns its URL.
pub async fn create_database(server: &str) -> String {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&database_url(server, "postgres"))
        .await
        .expect("the PostgreSQL server answers");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("CREATE DATABASE");
    let _ = admin.close().await;
    database_url(server, &name)
}

/// `server` (a `postgres://` URL, with or without a database) naming database `name`.
pub fn database_url(server: &str, name: &str) -> String {
    let (base, query) = server
        .split_once('?')
        .map_or((server, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = base[authority..]
        .find('/')
        .map_or(base, |slash| &base[..authority + slash]);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A throwaway PostgreSQL cluster in a temporary directory; stopped (by its pid) when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// The server's URL, without a database; it stays the same across restarts.
    pub url: String,
}

impl Cluster {
    /// Starts a cluster, or returns `None` (skip) when PostgreSQL is not installed.
    pub async fn start() -> Option<Self> {
        let installed = std::fs::read_dir("/usr/lib/postgresql")
            .map(|mut versions| versions.next().is_some())
            .unwrap_or(false);
        if !installed {
            assert!(
                !required(),
                "PostgreSQL is not installed (scripts/test.sh installs it)"
            );
            eprintln!("skipping: PostgreSQL is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let url = pg_sh("start", dir.path()).await;
        Some(Self { dir, url })
    }

    /// Stops PostgreSQL (fast shutdown: open connections are cut) and waits until it is gone.
    pub async fn stop(&self) {
        pg_sh("stop", self.dir.path()).await;
    }

    /// Starts it again on the same port and data.
    pub async fn restart(&self) {
        let url = pg_sh("start", self.dir.path()).await;
        assert_eq!(url, self.url, "a restart keeps the URL");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([PG_SH, "stop"])
            .arg(self.dir.path())
            .status();
    }
}

async fn pg_sh(command: &str, dir: &Path) -> String {
    let output = tokio::process::Command::new("bash")
        .args([PG_SH, command])
        .arg(dir)
        .output()
        .await
        .expect("bash runs scripts/pg.sh");
    assert!(
        output.status.success(),
        "scripts/pg.sh {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn database_urls_name_the_database() {
    assert_eq!(
        database_url("postgres://u@127.0.0.1:5432", "t1"),
        "postgres://u@127.0.0.1:5432/t1"
    );
    assert_eq!(
        database_url("postgresql://u:p@h/postgres?sslmode=disable", "t1"),
        "postgresql://u:p@h/t1?sslmode=disable"
    );
}
