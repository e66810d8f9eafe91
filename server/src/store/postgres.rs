//! PostgreSQL: a server shared by every process of the service. The pool opens connections
//! lazily and replaces broken ones, so the store outlives a database restart; the availability
//! probe (see [`super::availability`]) notices an outage and its end, and makes calls fail at
//! once meanwhile instead of each waiting the connect timeout.
//!
//! The first connection is opened here, outside the pool, so that a server that does not
//! answer is reported with its cause ("Connection refused"): the pool retries until its timeout
//! and then says only that it timed out.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, PgPool};

use super::{StoreError, StoreSettings};

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A pool, and how its first connection went.
pub(super) struct Opened {
    pub pool: PgPool,
    pub options: PgConnectOptions,
    /// `PostgreSQL at host:port/name`: where, without the user or password.
    pub label: String,
    /// A connection with the migrations applied, or why the server could not be reached.
    pub first: Result<PgConnection, String>,
}

pub(super) async fn open(url: &str, settings: &StoreSettings) -> Result<Opened, StoreError> {
    let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis().max(1));
    let options = PgConnectOptions::from_str(url)?
        .application_name("realtime-server")
        // `client_min_messages`: no NOTICE on every start for the migrations table that exists
        // already (`relation "_sqlx_migrations" already exists, skipping`); warnings still show.
        .options([
            ("statement_timeout", statement_timeout.as_str()),
            ("client_min_messages", "warning"),
        ]);
    let label = label(&options);
    let pool = PgPoolOptions::new()
        .max_connections(settings.pool_size.max(1))
        .acquire_timeout(settings.connect_timeout)
        .connect_lazy_with(options.clone());
    let first = match tokio::time::timeout(
        settings.connect_timeout,
        PgConnection::connect_with(&options),
    )
    .await
    {
        Ok(Ok(connection)) => {
            MIGRATOR.run(&pool).await?;
            Ok(connection)
        }
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {:?}", settings.connect_timeout)),
    };
    Ok(Opened {
        pool,
        options,
        label,
        first,
    })
}

fn label(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    match options.get_database() {
        Some(database) => format!("PostgreSQL at {place}/{database}"),
        None => format!("PostgreSQL at {place}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_names_the_place_and_never_the_password() {
        let options =
            PgConnectOptions::from_str("postgres://app:hunter2@db.example:5433/realtime").unwrap();
        assert_eq!(label(&options), "PostgreSQL at db.example:5433/realtime");
    }
}
