//! Persistence: users, notifications and service statuses in SQLite or PostgreSQL.
//!
//! Every query lives here, written once in SQL both databases read the same way (`$n`
//! parameters, `ON CONFLICT ... DO UPDATE`, `RETURNING`), so the two backends cannot drift
//! apart; the rest of the server speaks in domain types. The backend is chosen by the URL's
//! scheme when the store opens; [`sqlite`] and [`postgres`] hold only what differs: connection
//! settings and their migrations (`server/migrations/<backend>/`, applied at open).
//! [`availability`] probes the database in the background; while it is known to be down, every
//! call fails at once with [`StoreError::Unavailable`].

pub mod availability;
mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use sqlx::{PgPool, SqlitePool};

use crate::clock;
use crate::coalesce::Coalescer;
pub use availability::Availability;
use availability::ProbeTarget;

/// Most requests one coalesced query answers (SQLite allows 32 766 parameters, PostgreSQL 65 535).
const MAX_BATCH: usize = 512;

/// Errors from the database layer; their text never includes query parameters or credentials.
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
    /// The probe found the database down: the call was not tried.
    #[error("the database is unreachable")]
    Unavailable,
    /// The database could not be reached when the store opened; `database` says where it was
    /// looked for (never the URL, which may carry a password).
    #[error("cannot reach {database}: {cause}")]
    Unreachable { database: String, cause: String },
    #[error("unsupported database URL scheme {0:?}: use sqlite://, postgres:// or postgresql://")]
    UnsupportedUrl(String),
}

/// How the store uses its database; the defaults suit one server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSettings {
    /// Most connections the pool opens.
    pub pool_size: u32,
    /// How long a query waits for a connection (opening one included) before it fails.
    pub connect_timeout: Duration,
    /// Longest a statement may run before the database cancels it (PostgreSQL only; SQLite
    /// statements are local and short, and wait at most this long for a lock).
    pub statement_timeout: Duration,
}

impl StoreError {
    /// Whether this is a database being away rather than a fault of the call: such a failure is
    /// logged once by [`availability`], not again by every caller.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable)
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// A user as the authentication and authorisation code sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub status: String,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == ACTIVE
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    /// As stored by this server (any case is read: see [`Role::parse`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// Case-insensitive, as on the Node original: the upstream schema stores `ADMIN`/`USER`
    /// (docs/compatibility.md). Anything but `admin` is least privilege.
    pub fn parse(text: &str) -> Self {
        if text.eq_ignore_ascii_case("admin") {
            Role::Admin
        } else {
            Role::User
        }
    }
}

impl From<String> for Role {
    fn from(text: String) -> Self {
        Role::parse(&text)
    }
}

/// A notification in its wire shape (`notification:new`, `GET /api/v1/notifications`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub message: String,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
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
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    #[sqlx(rename = "service_name")]
    pub service: String,
    pub status: String,
    #[sqlx(rename = "response_time_ms")]
    pub response_time: Option<i64>,
    #[sqlx(rename = "last_check_at")]
    pub last_check: String,
    #[sqlx(rename = "uptime_percentage")]
    pub uptime: Option<f64>,
}

/// What a caller supplies to record a service's status.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub status: String,
    pub response_time: Change<i64>,
    pub uptime: Change<f64>,
    /// When the status was checked (an Uptime Kuma beat's time); now when `None`.
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a report does to an optional column: leave it as stored (a partial update that does not
/// name it), or set it to a value or to NULL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change<T> {
    Keep,
    To(Option<T>),
}

impl<T: Copy> Change<T> {
    /// `(keep, value)` as the upsert binds them; a new row gets NULL for a kept column.
    fn binding(self) -> (i32, Option<T>) {
        match self {
            Change::Keep => (1, None),
            Change::To(value) => (0, value),
        }
    }
}

/// Outcome of marking a notification read.
/// The connection pool's use at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub idle: u32,
    pub in_use: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkRead {
    Marked,
    /// No such notification for this user (someone else's counts as not found, so ids do not leak).
    NotFound,
}

/// The connection pool of the backend the URL named.
#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The pool and whether its database answers: every query goes through [`Db::pool`], which
/// fails at once while the database is known to be down.
#[derive(Debug, Clone)]
struct Db {
    pool: Pool,
    availability: Availability,
    /// Queries that failed since start, refused ones included (see [`crate::metrics`]).
    query_errors: Arc<AtomicU64>,
}

impl Db {
    fn pool(&self) -> Result<&Pool, StoreError> {
        if self.availability.is_up() {
            Ok(&self.pool)
        } else {
            self.query_errors.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::Unavailable)
        }
    }

    /// A query failed: perhaps the database went away, so the probe looks now.
    fn failed(&self, error: sqlx::Error) -> sqlx::Error {
        self.query_errors.fetch_add(1, Ordering::Relaxed);
        self.availability.suspect();
        error
    }
}

/// Runs `$body` (a `Result<_, sqlx::Error>`) with `$p` bound to the backend's own pool, or fails
/// at once while the database is known to be down: the query is written once and compiled for
/// each driver, so both run the same SQL with their native types. Evaluates to the body's value;
/// its error is returned, and makes the probe look at the database.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {{
        let db: &$crate::store::Db = &$db;
        let result = match db.pool()? {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        };
        result.map_err(|error| db.failed(error))?
    }};
}

mod users;
pub use users::{ACTIVE, AddUser, NewUser, SUSPENDED};

/// Handle to the database; cheap to clone. The two reads every handshake and subscription
/// make are coalesced (see [`crate::coalesce`]).
#[derive(Clone)]
pub struct Store {
    db: Db,
    users: Coalescer<String, Result<Option<User>, StoreError>>,
    statuses: Coalescer<(), Result<Vec<ServiceStatus>, StoreError>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// What opening a store does when the database server does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenUnreachable {
    /// Fail with the cause (a one-off command).
    Fail,
    /// Open anyway, down, and let the probe get through (a server).
    StartDown,
}

impl Store {
    /// [`Store::open_with`] the default settings.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &StoreSettings::default()).await
    }

    /// Opens the database at `url` (`sqlite://` files are created if missing) and applies the
    /// migrations; a database server that does not answer is an error that says why
    /// ([`StoreError::Unreachable`]).
    pub async fn open_with(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        Self::open_as(url, settings, WhenUnreachable::Fail).await
    }

    /// As [`Store::open_with`], except that a PostgreSQL server that does not answer is not an
    /// error: the store opens down, the cause is logged, and the migrations are applied once
    /// the probe gets through. Until then every call fails with [`StoreError::Unavailable`].
    /// A bad URL, an SQLite file that cannot be opened and a failed migration are still errors.
    pub async fn start(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        Self::open_as(url, settings, WhenUnreachable::StartDown).await
    }

    async fn open_as(
        url: &str,
        settings: &StoreSettings,
        when_unreachable: WhenUnreachable,
    ) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        let (pool, label, target, unreachable) = match scheme {
            "sqlite" => {
                let (pool, label) = sqlite::open(url, settings).await?;
                let target = ProbeTarget::Sqlite {
                    options: (*pool.connect_options()).clone(),
                    connection: None,
                };
                (Pool::Sqlite(pool), label, target, None)
            }
            "postgres" | "postgresql" => {
                let opened = postgres::open(url, settings).await?;
                if let (Err(cause), WhenUnreachable::Fail) = (&opened.first, when_unreachable) {
                    return Err(StoreError::Unreachable {
                        database: opened.label,
                        cause: cause.clone(),
                    });
                }
                let (connection, unreachable) = match opened.first {
                    Ok(connection) => (Some(connection), None),
                    Err(cause) => (None, Some(cause)),
                };
                let target = ProbeTarget::Postgres {
                    options: opened.options,
                    migrated: connection.is_some(),
                    connection,
                    pool: opened.pool.clone(),
                    migrator: &postgres::MIGRATOR,
                };
                (
                    Pool::Postgres(opened.pool),
                    opened.label,
                    target,
                    unreachable,
                )
            }
            _ => return Err(StoreError::UnsupportedUrl(scheme.to_owned())),
        };
        let db = Db {
            pool,
            availability: availability::start(label, target, unreachable),
            query_errors: Arc::default(),
        };
        let users = {
            let db = db.clone();
            Coalescer::spawn(MAX_BATCH, move |ids: Vec<String>| {
                let db = db.clone();
                async move { users_by_id(&db, ids).await }
            })
        };
        let statuses = {
            let db = db.clone();
            Coalescer::spawn(MAX_BATCH, move |requests: Vec<()>| {
                let db = db.clone();
                async move {
                    let answer = all_statuses(&db).await;
                    answer_each(
                        answer.map(|rows| vec![rows; requests.len()]),
                        requests.len(),
                    )
                }
            })
        };
        Ok(Self {
            db,
            users,
            statuses,
        })
    }

    /// Whether the database answers, as the background probe last saw it.
    pub fn availability(&self) -> &Availability {
        &self.db.availability
    }

    /// How the connection pool is used now.
    pub fn pool_use(&self) -> PoolUse {
        let (size, idle, max) = match &self.db.pool {
            Pool::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Pool::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        PoolUse {
            idle,
            in_use: size - idle,
            max,
        }
    }

    /// Queries that failed since the store opened, including those refused at once while the
    /// database was known to be down.
    pub fn query_errors(&self) -> u64 {
        self.db.query_errors.load(Ordering::Relaxed)
    }

    /// Runs a SQL script (fixtures) in one transaction: all of it applies or none.
    pub async fn run_script(&self, sql: &str) -> Result<(), StoreError> {
        on_db!(self.db, |pool| async {
            let mut tx = pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            tx.commit().await
        }
        .await);
        Ok(())
    }

    /// Stops the probe, waits for open connections to finish and closes the pool.
    pub async fn close(&self) {
        self.db.availability.close();
        match &self.db.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    pub async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.users
            .call(id.to_owned())
            .await
            .map_err(|_| StoreError::Stopped)?
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        const SQL: &str = "SELECT id, email, role, status FROM users ORDER BY id";
        Ok(on_db!(self.db, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await))
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
        const SQL: &str = "INSERT INTO notifications \
                           (id, user_id, title, message, type, created_at, read_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, NULL)";
        on_db!(self.db, |pool| {
            sqlx::query(SQL)
                .bind(&notification.id)
                .bind(&notification.user_id)
                .bind(&notification.title)
                .bind(&notification.message)
                .bind(&notification.kind)
                .bind(&notification.created_at)
                .execute(pool)
                .await
                .map(|_| ())
        });
        Ok(notification)
    }

    /// The user's notifications, newest first.
    pub async fn notifications_for(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        const SQL: &str = "SELECT id, user_id, title, message, type, created_at, read_at \
                           FROM notifications WHERE user_id = $1 \
                           ORDER BY created_at DESC, id DESC";
        Ok(on_db!(self.db, |pool| {
            sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await
        }))
    }

    /// Marks the notification read if it belongs to `user_id`; reading twice keeps the first time.
    pub async fn mark_read(&self, id: &str, user_id: &str) -> Result<MarkRead, StoreError> {
        const SQL: &str = "UPDATE notifications SET read_at = COALESCE(read_at, $1) \
                           WHERE id = $2 AND user_id = $3";
        let now = clock::now_iso();
        let changed = on_db!(self.db, |pool| {
            sqlx::query(SQL)
                .bind(&now)
                .bind(id)
                .bind(user_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        Ok(if changed == 0 {
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

    /// Inserts or updates the status of `service`, stamped with the current time; a column the
    /// report keeps ([`Change::Keep`]) stays as stored, in one statement (no read-then-write
    /// race with another writer).
    pub async fn record_status(
        &self,
        service: &str,
        report: StatusReport,
    ) -> Result<ServiceStatus, StoreError> {
        const SQL: &str = "INSERT INTO service_status \
               (service_name, status, response_time_ms, last_check_at, uptime_percentage) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (service_name) DO UPDATE SET status = excluded.status, \
               response_time_ms = CASE WHEN $6 = 1 THEN service_status.response_time_ms \
                 ELSE excluded.response_time_ms END, \
               last_check_at = excluded.last_check_at, \
               uptime_percentage = CASE WHEN $7 = 1 THEN service_status.uptime_percentage \
                 ELSE excluded.uptime_percentage END \
             RETURNING service_name, status, response_time_ms, last_check_at, uptime_percentage";
        let checked_at = report.checked_at.map_or_else(clock::now_iso, clock::iso);
        let (keep_response_time, response_time) = report.response_time.binding();
        let (keep_uptime, uptime) = report.uptime.binding();
        Ok(on_db!(self.db, |pool| {
            sqlx::query_as(SQL)
                .bind(service)
                .bind(&report.status)
                .bind(response_time)
                .bind(&checked_at)
                .bind(uptime)
                .bind(keep_response_time)
                .bind(keep_uptime)
                .fetch_one(pool)
                .await
        }))
    }
}

impl Store {
    /// Takes the lease `name` for `holder` until `ttl` from now, or renews it if `holder` has
    /// it; `true` when `holder` holds it afterwards. One statement, so two processes racing for
    /// a free lease cannot both win. Expiry uses each process's clock: keep the cluster's clocks
    /// in step (NTP) to well under the lease's length.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO leases (name, holder, expires_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
               expires_at_ms = excluded.expires_at_ms \
             WHERE leases.holder = excluded.holder OR leases.expires_at_ms < $4";
        let now = clock::now_millis();
        let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let taken = on_db!(self.db, |pool| {
            sqlx::query(SQL)
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        Ok(taken == 1)
    }

    /// Gives the lease up, if `holder` has it, so another process need not wait for it to expire.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        on_db!(self.db, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        });
        Ok(())
    }
}

/// One query for a batch of user ids; an answer per id, in order.
async fn users_by_id(db: &Db, ids: Vec<String>) -> Vec<Result<Option<User>, StoreError>> {
    let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
    unique.sort_unstable();
    unique.dedup();
    let placeholders: Vec<String> = (1..=unique.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT id, email, role, status FROM users WHERE id IN ({})",
        placeholders.join(", ")
    );
    let rows: Result<Vec<User>, StoreError> = async {
        Ok(on_db!(*db, |pool| {
            let mut query = sqlx::query_as(&sql);
            for id in &unique {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await
        }))
    }
    .await;
    let answers = rows.map(|rows| {
        let found: HashMap<String, User> = rows.into_iter().map(|u| (u.id.clone(), u)).collect();
        ids.iter().map(|id| found.get(id).cloned()).collect()
    });
    answer_each(answers, ids.len())
}

/// A coalesced query's answers, one per request, or its one failure handed to each of them.
fn answer_each<T>(answers: Result<Vec<T>, StoreError>, count: usize) -> Vec<Result<T, StoreError>> {
    match answers {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(StoreError::Database(error)) => {
            let shared = Arc::new(error);
            (0..count)
                .map(|_| Err(StoreError::Shared(shared.clone())))
                .collect()
        }
        // `on_db!` fails with a database error or with this.
        Err(_) => (0..count).map(|_| Err(StoreError::Unavailable)).collect(),
    }
}

async fn all_statuses(db: &Db) -> Result<Vec<ServiceStatus>, StoreError> {
    const SQL: &str = "SELECT service_name, status, response_time_ms, last_check_at, \
                       uptime_percentage FROM service_status ORDER BY service_name";
    Ok(on_db!(*db, |pool| sqlx::query_as(SQL)
        .fetch_all(pool)
        .await))
}
