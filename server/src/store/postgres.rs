//! PostgreSQL: a server shared by every process of the service. A pool opens connections
//! lazily and replaces broken ones, so the store outlives a database restart: while the server
//! is away, each query fails after the connect timeout, and the first one after it is back
//! succeeds.

use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{StoreError, StoreSettings};

pub(super) async fn open(url: &str, settings: &StoreSettings) -> Result<PgPool, StoreError> {
    let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis().max(1));
    let options = PgConnectOptions::from_str(url)?
        .application_name("realtime-server")
        .options([("statement_timeout", statement_timeout.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(settings.pool_size.max(1))
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}
