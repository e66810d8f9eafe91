//! Persistence: users, notifications and service statuses in SQL (SQLite by default).
//!
//! Every query lives here so the rest of the server speaks in domain types. The schema is
//! applied by the embedded migrations in `server/migrations/` when the store opens.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

use crate::clock;
use crate::coalesce::Coalescer;

/// Most requests one coalesced query answers (SQLite allows 32 766 parameters).
const MAX_BATCH: usize = 512;

/// Errors from the database layer; their text never includes query parameters.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A coalesced query failed; every request it would have answered gets this.
    #[error("database error: {0}")]
    Shared(Arc<sqlx::Error>),
    #[error("the database worker has stopped")]
    Stopped,
}

/// A user as the authentication and authorisation code sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub status: String,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    fn parse(text: &str) -> Self {
        // The schema's CHECK constraint admits only these two; anything else is least privilege.
        if text == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// A notification in its wire shape (`notification:new`, `GET /api/v1/notifications`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub read_at: Option<String>,
}

/// What a caller supplies to create a notification.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: String,
    pub title: String,
    pub message: String,
    pub kind: String,
}

/// A row of `service_status` in its wire shape (`status:current`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub service: String,
    pub status: String,
    pub response_time: Option<i64>,
    pub last_check: String,
    pub uptime: Option<f64>,
}

/// What a caller supplies to record a service's status.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub status: String,
    pub response_time: Option<i64>,
    pub uptime: Option<f64>,
}

/// Outcome of marking a notification read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkRead {
    Marked,
    /// No such notification for this user (someone else's counts as not found, so ids do not leak).
    NotFound,
}

/// Handle to the database; cheap to clone. The two reads every handshake and subscription
/// make are coalesced (see [`crate::coalesce`]).
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    users: Coalescer<String, Result<Option<User>, StoreError>>,
    statuses: Coalescer<(), Result<Vec<ServiceStatus>, StoreError>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if missing) the database at `url` and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let users = {
            let pool = pool.clone();
            Coalescer::spawn(MAX_BATCH, move |ids: Vec<String>| {
                let pool = pool.clone();
                async move { users_by_id(&pool, ids).await }
            })
        };
        let statuses = {
            let pool = pool.clone();
            Coalescer::spawn(MAX_BATCH, move |requests: Vec<()>| {
                let pool = pool.clone();
                async move {
                    match all_statuses(&pool).await {
                        Ok(statuses) => requests.iter().map(|()| Ok(statuses.clone())).collect(),
                        Err(error) => {
                            let shared = Arc::new(error);
                            requests
                                .iter()
                                .map(|()| Err(StoreError::Shared(shared.clone())))
                                .collect()
                        }
                    }
                }
            })
        };
        Ok(Self {
            pool,
            users,
            statuses,
        })
    }

    /// Runs a SQL script (fixtures) in one transaction: all of it applies or none.
    pub async fn run_script(&self, sql: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Waits for open connections to finish and closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.users
            .call(id.to_owned())
            .await
            .map_err(|_| StoreError::Stopped)?
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT id, email, role, status FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(user_from_row).collect())
    }

    pub async fn create_notification(
        &self,
        new: NewNotification,
    ) -> Result<Notification, StoreError> {
        let notification = Notification {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: new.user_id,
            title: new.title,
            message: new.message,
            kind: new.kind,
            created_at: clock::now_iso(),
            read_at: None,
        };
        sqlx::query(
            "INSERT INTO notifications (id, user_id, title, message, type, created_at, read_at) \
             VALUES (?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&notification.id)
        .bind(&notification.user_id)
        .bind(&notification.title)
        .bind(&notification.message)
        .bind(&notification.kind)
        .bind(&notification.created_at)
        .execute(&self.pool)
        .await?;
        Ok(notification)
    }

    /// The user's notifications, newest first.
    pub async fn notifications_for(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, title, message, type, created_at, read_at FROM notifications \
             WHERE user_id = ? ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| Notification {
                id: row.get("id"),
                user_id: row.get("user_id"),
                title: row.get("title"),
                message: row.get("message"),
                kind: row.get("type"),
                created_at: row.get("created_at"),
                read_at: row.get("read_at"),
            })
            .collect())
    }

    /// Marks the notification read if it belongs to `user_id`; reading twice keeps the first time.
    pub async fn mark_read(&self, id: &str, user_id: &str) -> Result<MarkRead, StoreError> {
        let result = sqlx::query(
            "UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ? AND user_id = ?",
        )
        .bind(clock::now_iso())
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(if result.rows_affected() == 0 {
            MarkRead::NotFound
        } else {
            MarkRead::Marked
        })
    }

    pub async fn service_statuses(&self) -> Result<Vec<ServiceStatus>, StoreError> {
        self.statuses
            .call(())
            .await
            .map_err(|_| StoreError::Stopped)?
    }

    /// Inserts or replaces the status of `service`, stamped with the current time.
    pub async fn record_status(
        &self,
        service: &str,
        report: StatusReport,
    ) -> Result<ServiceStatus, StoreError> {
        let row = sqlx::query(
            "INSERT INTO service_status \
               (service_name, status, response_time_ms, last_check_at, uptime_percentage) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (service_name) DO UPDATE SET status = excluded.status, \
               response_time_ms = excluded.response_time_ms, \
               last_check_at = excluded.last_check_at, \
               uptime_percentage = excluded.uptime_percentage \
             RETURNING service_name, status, response_time_ms, last_check_at, uptime_percentage",
        )
        .bind(service)
        .bind(&report.status)
        .bind(report.response_time)
        .bind(clock::now_iso())
        .bind(report.uptime)
        .fetch_one(&self.pool)
        .await?;
        Ok(status_from_row(row))
    }
}

/// One query for a batch of user ids; an answer per id, in order.
async fn users_by_id(pool: &SqlitePool, ids: Vec<String>) -> Vec<Result<Option<User>, StoreError>> {
    let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
    unique.sort_unstable();
    unique.dedup();
    let placeholders = vec!["?"; unique.len()].join(", ");
    let sql = format!("SELECT id, email, role, status FROM users WHERE id IN ({placeholders})");
    let mut query = sqlx::query(&sql);
    for id in &unique {
        query = query.bind(*id);
    }
    match query.fetch_all(pool).await {
        Ok(rows) => {
            let found: HashMap<String, User> = rows
                .into_iter()
                .map(user_from_row)
                .map(|u| (u.id.clone(), u))
                .collect();
            ids.iter().map(|id| Ok(found.get(id).cloned())).collect()
        }
        Err(error) => {
            let shared = Arc::new(error);
            ids.iter()
                .map(|_| Err(StoreError::Shared(shared.clone())))
                .collect()
        }
    }
}

async fn all_statuses(pool: &SqlitePool) -> Result<Vec<ServiceStatus>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT service_name, status, response_time_ms, last_check_at, uptime_percentage \
         FROM service_status ORDER BY service_name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(status_from_row).collect())
}

fn user_from_row(row: sqlx::sqlite::SqliteRow) -> User {
    User {
        id: row.get("id"),
        email: row.get("email"),
        role: Role::parse(row.get::<&str, _>("role")),
        status: row.get("status"),
    }
}

fn status_from_row(row: sqlx::sqlite::SqliteRow) -> ServiceStatus {
    ServiceStatus {
        service: row.get("service_name"),
        status: row.get("status"),
        response_time: row.get("response_time_ms"),
        last_check: row.get("last_check_at"),
        uptime: row.get("uptime_percentage"),
    }
}
