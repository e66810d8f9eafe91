//! SQLite: a local file, created if missing, in WAL mode with foreign keys enforced.

use std::str::FromStr;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::{StoreError, StoreSettings};

pub(super) async fn open(url: &str, settings: &StoreSettings) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(settings.statement_timeout);
    let pool = SqlitePoolOptions::new()
        .max_connections(settings.pool_size.max(1))
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(pool)
}
