//! Whether the database answers, as a background probe sees it.
//!
//! Every [`PROBE_INTERVAL`] (and at once when a query fails) a probe asks the database a trivial
//! question with a short timeout: PostgreSQL on a connection of its own, outside the pool, so a
//! pool busy with slow queries is not taken for an outage. Readiness, `/health` and the Engine.IO
//! handshake gate read the answer from memory in microseconds; while the database is known to be
//! down, every store call fails at once with [`StoreError::Unavailable`](super::StoreError::Unavailable)
//! instead of waiting the pool's connect timeout. An outage is logged once when it begins and
//! once when it ends, with how long it lasted (the Redis link does the same).
//!
//! A PostgreSQL server unreachable at start is the same state: the server starts, not ready, and
//! the probe applies the migrations the first time it gets through.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, PgPool};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// How often the database is asked whether it answers.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a probe waits for an answer (connecting included) before it counts as a failure.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Least time between two probes, however often failing queries ask for one.
const PROBE_SPACING: Duration = Duration::from_millis(200);

/// The database as last probed.
#[derive(Debug, Clone)]
struct Probed {
    up: bool,
    /// When `up` last changed, or the start.
    since: Instant,
    /// When the latest successful probe began.
    last_success: Option<Instant>,
}

/// The database's availability, shared by the store, the HTTP health endpoints and the
/// handshake; cheap to clone.
#[derive(Clone)]
pub struct Availability {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the database is, for log lines: never the URL, which may carry a password.
    label: String,
    probed: watch::Sender<Probed>,
    wake: Notify,
    closed: AtomicBool,
}

impl std::fmt::Debug for Availability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Availability")
            .field("database", &self.inner.label)
            .field("up", &self.is_up())
            .finish()
    }
}

impl Availability {
    fn new(label: String, up: bool) -> Self {
        let now = Instant::now();
        let probed = Probed {
            up,
            since: now,
            last_success: None,
        };
        Self {
            inner: Arc::new(Inner {
                label,
                probed: watch::Sender::new(probed),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Whether the database answered the latest probe (and the migrations are applied).
    pub fn is_up(&self) -> bool {
        self.inner.probed.borrow().up
    }

    /// How long the database has been known to be down; `None` while it answers.
    pub fn down_for(&self) -> Option<Duration> {
        let probed = self.inner.probed.borrow();
        (!probed.up).then(|| probed.since.elapsed())
    }

    /// Where the database is (`PostgreSQL at host:port/name`, `SQLite at path`), for messages.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// A query failed: probe now rather than at the next interval.
    pub(super) fn suspect(&self) {
        self.inner.wake.notify_one();
    }

    /// Waits until a probe begun at or after `after` has succeeded, or until `deadline`;
    /// `true` if one did. A caller whose query failed at `after` learns whether trying again is
    /// worth it: the database answered since. Asks for a probe at once.
    pub async fn answered_since(&self, after: Instant, deadline: Instant) -> bool {
        self.suspect();
        let mut probed = self.inner.probed.subscribe();
        tokio::time::timeout_at(
            deadline,
            probed.wait_for(|p| p.last_success.is_some_and(|at| at >= after)),
        )
        .await
        .is_ok_and(|seen| seen.is_ok())
    }

    /// Stops the probe: the store is closing. The database counts as down from now on, without
    /// an outage being logged.
    pub(super) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.probed.send_modify(|p| {
            p.up = false;
            p.since = Instant::now();
        });
        self.inner.wake.notify_one();
    }

    fn closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    fn record(&self, started: Instant, outcome: Result<(), String>) {
        if self.closed() {
            return;
        }
        let label = &self.inner.label;
        self.inner.probed.send_if_modified(|p| match outcome {
            Ok(()) => {
                if !p.up {
                    tracing::info!(
                        database = %label,
                        after = ?p.since.elapsed(),
                        "database answers again: new sessions and API calls are served"
                    );
                    p.up = true;
                    p.since = Instant::now();
                }
                p.last_success = Some(started);
                true
            }
            Err(cause) => {
                if !p.up {
                    return false;
                }
                tracing::error!(
                    database = %label,
                    %cause,
                    "database unreachable: new sessions are refused (503, retried by clients) \
                     and API calls answer 503 until it is back; connected sockets stay"
                );
                p.up = false;
                p.since = Instant::now();
                true
            }
        });
    }
}

/// What the probe asks.
pub(super) enum ProbeTarget {
    /// A local file, on a connection of the probe's own: a pool busy with queries is not an
    /// outage.
    Sqlite {
        options: SqliteConnectOptions,
        connection: Option<SqliteConnection>,
    },
    /// A server: a connection of the probe's own, opened again after each failure. Until the
    /// first success the migrations are pending; they run through the store's `pool`.
    Postgres {
        options: PgConnectOptions,
        connection: Option<PgConnection>,
        pool: PgPool,
        migrator: &'static Migrator,
        migrated: bool,
    },
}

impl ProbeTarget {
    async fn probe(&mut self) -> Result<(), Failure> {
        match self {
            ProbeTarget::Sqlite {
                options,
                connection,
            } => {
                let answered = tokio::time::timeout(PROBE_TIMEOUT, ping(connection, options)).await;
                let outcome = flatten(answered);
                if outcome.is_err() {
                    *connection = None;
                }
                outcome
            }
            ProbeTarget::Postgres {
                options,
                connection,
                pool,
                migrator,
                migrated,
            } => {
                let answered = tokio::time::timeout(PROBE_TIMEOUT, ping(connection, options)).await;
                if let Err(cause) = flatten(answered) {
                    // A broken connection is not used again; dropping it closes its socket.
                    *connection = None;
                    return Err(cause);
                }
                if !*migrated {
                    migrator.run(&*pool).await.map_err(|error| Failure {
                        cause: format!("migration failed: {error}"),
                        slow: false,
                    })?;
                    *migrated = true;
                    tracing::info!("database migrations applied");
                }
                Ok(())
            }
        }
    }
}

/// Pings on `connection`, opening it first if there is none.
async fn ping<C: Connection>(
    connection: &mut Option<C>,
    options: &<C as Connection>::Options,
) -> Result<(), sqlx::Error> {
    match connection {
        Some(connection) => connection.ping().await,
        None => {
            let mut fresh = C::connect_with(options).await?;
            fresh.ping().await?;
            *connection = Some(fresh);
            Ok(())
        }
    }
}

/// Why a probe failed; `slow` when the database did not answer in time (it may only be busy).
struct Failure {
    cause: String,
    slow: bool,
}

fn flatten(
    answered: Result<Result<(), sqlx::Error>, tokio::time::error::Elapsed>,
) -> Result<(), Failure> {
    match answered {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Failure {
            cause: error.to_string(),
            slow: false,
        }),
        Err(_) => Err(Failure {
            cause: format!("no answer within {PROBE_TIMEOUT:?}"),
            slow: true,
        }),
    }
}

/// Starts the probe for `target`; `unreachable` is why the database could not be reached at
/// start, if it could not (logged here).
pub(super) fn start(
    label: String,
    target: ProbeTarget,
    unreachable: Option<String>,
) -> Availability {
    if let Some(cause) = &unreachable {
        tracing::warn!(
            database = %label,
            %cause,
            "database unreachable at start: serving, not ready (new sessions and API calls get \
             503) until it answers; the migrations run then"
        );
    }
    let availability = Availability::new(label, unreachable.is_none());
    tokio::spawn(run(availability.clone(), target));
    availability
}

/// A database that refuses or drops the connection is down at once; one that is only slow to
/// answer, after two probes in a row: a busy machine or database is not an outage.
async fn run(availability: Availability, mut target: ProbeTarget) {
    let mut last = Instant::now();
    let mut slow_before = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(last + PROBE_INTERVAL) => {}
            () = availability.inner.wake.notified() => {
                tokio::time::sleep_until(last + PROBE_SPACING).await;
            }
        }
        if availability.closed() {
            return;
        }
        last = Instant::now();
        let outcome = match target.probe().await {
            Err(Failure { slow: true, .. }) if !slow_before => {
                slow_before = true;
                continue;
            }
            outcome => outcome,
        };
        slow_before = false;
        availability.record(last, outcome.map_err(|failure| failure.cause));
    }
}
