//! SQLite: a local file, created if missing, in WAL mode with foreign keys enforced.
//!
//! Durability: `synchronous = FULL`, set here rather than left to the library's compiled-in
//! default, because an HTTP 201 (and a `notification:read:success`) promises the row is stored.
//! In WAL mode FULL syncs the log on every commit, so a committed row survives a power cut or a
//! kernel crash as well as a killed process; NORMAL would sync only at checkpoints, and the
//! last commits before a power cut could be lost although they were acknowledged. The cost is
//! one fsync per write transaction, which this service's write rate (notifications, reads,
//! status changes) does not notice. A killed process alone loses nothing under either setting:
//! the log is written before the commit returns. See docs/reliability.md.

use std::str::FromStr;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{StoreError, StoreSettings};

/// The pool, migrated, and `SQLite at <file>` for messages.
pub(super) async fn open(
    url: &str,
    settings: &StoreSettings,
) -> Result<(SqlitePool, String), StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(settings.statement_timeout);
    let label = format!("SQLite at {}", options.get_filename().display());
    let pool = SqlitePoolOptions::new()
        .max_connections(settings.pool_size.max(1))
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok((pool, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_is_wal_with_full_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("settings.db").display());
        let (pool, _) = open(&url, &StoreSettings::default()).await.expect("opens");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&pool)
            .await
            .expect("pragma");
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .expect("pragma");
        // 2 is FULL (0 OFF, 1 NORMAL, 3 EXTRA).
        assert_eq!((synchronous, journal.as_str()), (2, "wal"));
    }
}
