//! The store on both databases: each test runs the same assertions on a fresh SQLite file and,
//! when PostgreSQL is available (`crate::pg`), on a fresh PostgreSQL database, so the two
//! backends give the same answers and the same errors.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use realtime_server::store::{
    Change, MarkRead, NewNotification, Role, StatusReport, Store, StoreError, StoreSettings,
};

use crate::common::FIXTURES;
use crate::pg;

/// A store with the fixtures loaded, named for failure messages, and what keeps it alive.
struct Backend {
    name: &'static str,
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("store.db").display());
    let mut backends = vec![Backend {
        name: "sqlite",
        store: open(&sqlite_url).await,
        _dir: Some(dir),
    }];
    if let Some(url) = pg::fresh_database().await {
        backends.push(Backend {
            name: "postgres",
            store: open(&url).await,
            _dir: None,
        });
    }
    backends
}

async fn open(url: &str) -> Store {
    let store = Store::open(url).await.expect("store opens");
    store.run_script(FIXTURES).await.expect("fixtures load");
    store
}

#[tokio::test]
async fn users_are_found_by_id_with_their_role_and_status() {
    for Backend { name, store, .. } in backends().await {
        let admin = store.find_user("admin-1").await.expect(name);
        let admin = admin.expect("admin-1 exists");
        assert_eq!(
            (admin.email.as_str(), admin.role, admin.is_active()),
            ("admin@example.com", Role::Admin, true),
            "{name}"
        );
        let carol = store.find_user("user-3").await.expect(name).expect(name);
        assert_eq!(
            (carol.role, carol.is_active()),
            (Role::User, false),
            "{name}"
        );
        assert_eq!(store.find_user("nobody").await.expect(name), None, "{name}");
        let ids: Vec<String> = store
            .list_users()
            .await
            .expect(name)
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(
            ids,
            ["admin-1", "admin-2", "user-1", "user-2", "user-3"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn roles_compare_without_case_and_unknown_roles_are_refused() {
    for Backend { name, store, .. } in backends().await {
        store
            .run_script(
                "INSERT INTO users (id, email, role, status) VALUES \
                 ('upper', 'upper@example.com', 'ADMIN', 'active'), \
                 ('mixed', 'mixed@example.com', 'Admin', 'active'), \
                 ('plain', 'plain@example.com', 'USER', 'active');",
            )
            .await
            .expect(name);
        for (id, role) in [
            ("upper", Role::Admin),
            ("mixed", Role::Admin),
            ("plain", Role::User),
        ] {
            let user = store.find_user(id).await.expect(name).expect(name);
            assert_eq!(user.role, role, "{name}: {id}");
        }
        let refused = store
            .run_script(
                "INSERT INTO users (id, email, role, status) \
                 VALUES ('root', 'root@example.com', 'superuser', 'active');",
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::Database(_))),
            "{name}: {refused:?}"
        );
        assert_eq!(store.find_user("root").await.expect(name), None, "{name}");
    }
}

#[tokio::test]
async fn a_failing_script_applies_nothing() {
    for Backend { name, store, .. } in backends().await {
        let result = store
            .run_script(
                "INSERT INTO users (id, email, role, status) \
                 VALUES ('dave', 'dave@example.com', 'user', 'active');\n\
                 INSERT INTO users (id, email, role, status) \
                 VALUES ('dave', 'again@example.com', 'user', 'active');",
            )
            .await;
        assert!(result.is_err(), "{name}: a duplicate id fails");
        assert_eq!(store.find_user("dave").await.expect(name), None, "{name}");
    }
}

#[tokio::test]
async fn notifications_are_listed_newest_first_and_read_once_by_their_owner() {
    for Backend { name, store, .. } in backends().await {
        let ids = |list: Vec<realtime_server::store::Notification>| -> Vec<String> {
            list.into_iter().map(|n| n.id).collect()
        };
        assert_eq!(
            ids(store.notifications_for("user-1").await.expect(name)),
            ["n-alice-2", "n-alice-1"],
            "{name}"
        );
        let created = store
            .create_notification(NewNotification {
                user_id: "user-1".into(),
                title: "New".into(),
                message: "Fresh".into(),
                kind: "info".into(),
            })
            .await
            .expect(name);
        let listed = store.notifications_for("user-1").await.expect(name);
        assert_eq!(listed.first(), Some(&created), "{name}: stored as returned");

        assert_eq!(
            store.mark_read("n-alice-1", "user-2").await.expect(name),
            MarkRead::NotFound,
            "{name}: someone else's"
        );
        assert_eq!(
            store.mark_read("n-alice-1", "user-1").await.expect(name),
            MarkRead::Marked,
            "{name}"
        );
        let first_read = read_at(&store, "n-alice-1").await;
        assert!(first_read.is_some(), "{name}");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            store.mark_read("n-alice-1", "user-1").await.expect(name),
            MarkRead::Marked,
            "{name}"
        );
        assert_eq!(
            read_at(&store, "n-alice-1").await,
            first_read,
            "{name}: the first read time is kept"
        );
        assert_eq!(
            store.mark_read("n-missing", "user-1").await.expect(name),
            MarkRead::NotFound,
            "{name}"
        );
        let orphan = store
            .create_notification(NewNotification {
                user_id: "nobody".into(),
                title: "t".into(),
                message: "m".into(),
                kind: "info".into(),
            })
            .await;
        assert!(
            matches!(orphan, Err(StoreError::Database(_))),
            "{name}: a notification needs its user: {orphan:?}"
        );
    }
}

async fn read_at(store: &Store, id: &str) -> Option<String> {
    store
        .notifications_for("user-1")
        .await
        .expect("list")
        .into_iter()
        .find(|n| n.id == id)
        .and_then(|n| n.read_at)
}

#[tokio::test]
async fn statuses_are_upserted_and_sorted_bytewise() {
    for Backend { name, store, .. } in backends().await {
        let stored = store
            .record_status(
                "Zeta",
                StatusReport {
                    status: "down".into(),
                    response_time: Change::To(None),
                    uptime: Change::To(Some(12.345_678_9)),
                    checked_at: None,
                },
            )
            .await
            .expect(name);
        assert_eq!(
            (stored.service.as_str(), stored.uptime, stored.response_time),
            ("Zeta", Some(12.345_678_9), None),
            "{name}: a double keeps every digit"
        );
        let again = store
            .record_status(
                "plex",
                StatusReport {
                    status: "down".into(),
                    response_time: Change::To(Some(i64::from(i32::MAX) + 1)),
                    uptime: Change::To(None),
                    checked_at: None,
                },
            )
            .await
            .expect(name);
        assert_eq!(again.response_time, Some(i64::from(i32::MAX) + 1), "{name}");
        let statuses = store.service_statuses().await.expect(name);
        let order: Vec<(&str, &str)> = statuses
            .iter()
            .map(|s| (s.service.as_str(), s.status.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("Zeta", "down"),
                ("jellyfin", "up"),
                ("plex", "down"),
                ("sonarr", "degraded")
            ],
            "{name}: upper case sorts first, as bytes do"
        );
    }
}

/// A report that keeps a column leaves it as stored; one that sets it to nothing clears it; a
/// new service gets NULL for a kept column.
#[tokio::test]
async fn a_partial_status_report_keeps_what_it_does_not_name() {
    let report = |status: &str, response_time, uptime| StatusReport {
        status: status.into(),
        response_time,
        uptime,
        checked_at: None,
    };
    for Backend { name, store, .. } in backends().await {
        // The fixtures: plex up, 57 ms, 99.5 %.
        let kept = store
            .record_status("plex", report("down", Change::Keep, Change::Keep))
            .await
            .expect(name);
        assert_eq!(
            (kept.status.as_str(), kept.response_time, kept.uptime),
            ("down", Some(57), Some(99.5)),
            "{name}"
        );
        let half = store
            .record_status("plex", report("up", Change::To(None), Change::Keep))
            .await
            .expect(name);
        assert_eq!(
            (half.response_time, half.uptime),
            (None, Some(99.5)),
            "{name}"
        );
        let fresh = store
            .record_status("radarr", report("up", Change::Keep, Change::To(Some(90.0))))
            .await
            .expect(name);
        assert_eq!(
            (fresh.response_time, fresh.uptime),
            (None, Some(90.0)),
            "{name}"
        );
    }
}

/// The coalesced reads: while other readers keep the worker busy, a read requested after a
/// write always sees it (its answer comes from a query started after the request).
#[tokio::test]
async fn a_coalesced_read_sees_every_write_made_before_it() {
    for Backend { name, store, .. } in backends().await {
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = store.service_statuses().await;
                        let _ = store.find_user("user-1").await;
                    }
                })
            })
            .collect();
        for round in 0..50 {
            let status = format!("round-{round}");
            store
                .record_status(
                    "plex",
                    StatusReport {
                        status: status.clone(),
                        response_time: Change::Keep,
                        uptime: Change::Keep,
                        checked_at: None,
                    },
                )
                .await
                .expect(name);
            let seen = store.service_statuses().await.expect(name);
            let plex = seen.iter().find(|s| s.service == "plex").expect(name);
            assert_eq!(plex.status, status, "{name}");

            let email = format!("alice-{round}@example.com");
            store
                .run_script(&format!(
                    "UPDATE users SET email = '{email}' WHERE id = 'user-1';"
                ))
                .await
                .expect(name);
            let alice = store.find_user("user-1").await.expect(name).expect(name);
            assert_eq!(alice.email, email, "{name}");
        }
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.await.expect("reader joins");
        }
    }
}

#[tokio::test]
async fn an_unknown_scheme_is_refused_without_echoing_the_url() {
    let error = Store::open("mysql://root:hunter2@localhost/db")
        .await
        .expect_err("refused");
    let text = error.to_string();
    assert!(text.contains("\"mysql\""), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// SQLite databases made before roles were compared without case keep their notifications
/// (and their foreign key) through migration 0002, which rebuilds `users`.
#[tokio::test]
async fn the_role_migration_keeps_existing_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("url");
        let pool =
            sqlx::SqlitePool::connect_with(options.create_if_missing(true).foreign_keys(true))
                .await
                .expect("pool");
        let mut first = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/sqlite"
        )))
        .await
        .expect("migrations");
        first.migrations = Cow::Owned(first.migrations[..1].to_vec());
        first.run(&pool).await.expect("migration 0001");
        sqlx::raw_sql(
            "INSERT INTO users (id, email, role, status) \
             VALUES ('user-1', 'alice@example.com', 'user', 'active');\n\
             INSERT INTO notifications (id, user_id, title, message, type, created_at) VALUES \
             ('n1', 'user-1', 't', 'm', 'info', '2026-01-01T00:00:00.000Z'), \
             ('n2', 'user-1', 't', 'm', 'info', '2026-01-02T00:00:00.000Z');",
        )
        .execute(&pool)
        .await
        .expect("rows under the old schema");
        pool.close().await;
    }
    let store = Store::open_with(&url, &StoreSettings::default())
        .await
        .expect("migration 0002 applies");
    assert_eq!(
        store.notifications_for("user-1").await.expect("list").len(),
        2
    );
    store
        .run_script("UPDATE users SET role = 'ADMIN' WHERE id = 'user-1';")
        .await
        .expect("upper case is admitted");
    let orphan = store
        .run_script(
            "INSERT INTO notifications (id, user_id, title, message, type, created_at) \
             VALUES ('x', 'nobody', 't', 'm', 'info', '2026-01-01T00:00:00.000Z');",
        )
        .await;
    assert!(orphan.is_err(), "the foreign key still holds");
}

#[tokio::test]
async fn postgresql_cancels_a_statement_over_the_timeout() {
    let Some(url) = pg::fresh_database().await else {
        return;
    };
    let settings = StoreSettings {
        statement_timeout: Duration::from_millis(100),
        ..StoreSettings::default()
    };
    let store = Store::open_with(&url, &settings)
        .await
        .expect("store opens");
    let result = store.run_script("SELECT pg_sleep(30);").await;
    let error = result.expect_err("cancelled");
    assert!(error.to_string().contains("statement timeout"), "{error}");
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires_or_is_released() {
    for Backend { name, store, .. } in backends().await {
        let long = Duration::from_secs(60);
        assert!(
            store.take_lease("job", "a", long).await.expect("take"),
            "{name}"
        );
        assert!(
            !store.take_lease("job", "b", long).await.expect("take"),
            "{name}: held by a"
        );
        assert!(
            store.take_lease("job", "a", long).await.expect("renew"),
            "{name}: a renews"
        );
        assert!(
            store.take_lease("other", "b", long).await.expect("take"),
            "{name}: per name"
        );

        store.release_lease("job", "b").await.expect("release");
        assert!(
            !store.take_lease("job", "b", long).await.expect("take"),
            "{name}: b cannot release a's"
        );
        store.release_lease("job", "a").await.expect("release");
        assert!(
            store
                .take_lease("job", "b", Duration::ZERO)
                .await
                .expect("take"),
            "{name}: released"
        );

        // b's zero-length lease has expired by the next millisecond.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            store.take_lease("job", "a", long).await.expect("take"),
            "{name}: expired"
        );
    }
}
