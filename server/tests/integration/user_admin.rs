//! The operator's commands on both databases, run as the binary: `user add|list|disable|enable|
//! role`, `token` refusing what would make a useless token, and `db seed` run twice.

use std::process::Output;

use realtime_server::auth::{AuthError, Authenticator};
use realtime_server::store::{Role, Store};
use tokio::process::Command;

use crate::common::{BINARY, FIXTURES, random_secret};
use crate::pg;

/// The databases to run on: a SQLite file (not created yet) and, when PostgreSQL is available,
/// an empty PostgreSQL database.
async fn databases(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut urls = vec![(
        "sqlite",
        format!("sqlite://{}", dir.join("users.db").display()),
    )];
    if let Some(url) = pg::fresh_database().await {
        urls.push(("postgres", url));
    }
    urls
}

/// Runs the binary with `args` on the database at `url`, signing with `secret`.
async fn run(url: &str, secret: &str, args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .env("DATABASE_URL", url)
        .env("JWT_SECRET", secret)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the command succeeded and returns its stdout.
fn succeeded(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// Asserts the command failed, printed nothing on stdout, and said `expected` on stderr.
fn refused(output: Output, expected: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{what} must fail");
    assert_eq!(stdout(&output), "", "{what}: nothing on stdout");
    assert!(stderr.contains(expected), "{what}: {stderr}");
}

#[tokio::test]
async fn users_are_added_listed_disabled_enabled_and_given_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (secret, _) = random_secret();
    for (name, url) in databases(dir.path()).await {
        let added = run(
            &url,
            &secret,
            &["user", "add", "dave", "--email", "dave@example.com"],
        )
        .await;
        assert_eq!(
            succeeded(added, name),
            "added user dave <dave@example.com>, role user, active\n",
            "{name}"
        );
        let admin = run(
            &url,
            &secret,
            &[
                "user",
                "add",
                "erin",
                "--email",
                "erin@example.com",
                "--role",
                "admin",
            ],
        )
        .await;
        succeeded(admin, name);

        let again = run(
            &url,
            &secret,
            &["user", "add", "dave", "--email", "other@example.com"],
        )
        .await;
        refused(again, "user dave already exists", name);
        let same_email = run(
            &url,
            &secret,
            &["user", "add", "frank", "--email", "dave@example.com"],
        )
        .await;
        refused(
            same_email,
            "email dave@example.com is already used by user dave",
            name,
        );
        let bad_email = run(&url, &secret, &["user", "add", "gina", "--email", "gina"]).await;
        refused(bad_email, "\"gina\" is not an email address", name);
        let bad_role = run(
            &url,
            &secret,
            &[
                "user", "add", "gina", "--email", "g@x.org", "--role", "root",
            ],
        )
        .await;
        refused(bad_role, "invalid value 'root'", name);

        let listed = succeeded(run(&url, &secret, &["user", "list"]).await, name);
        let rows: Vec<Vec<&str>> = listed
            .lines()
            .map(|line| line.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["ID", "EMAIL", "ROLE", "STATUS"],
                vec!["dave", "dave@example.com", "user", "active"],
                vec!["erin", "erin@example.com", "admin", "active"],
            ],
            "{name}: {listed}"
        );

        let disabled = succeeded(run(&url, &secret, &["user", "disable", "dave"]).await, name);
        assert_eq!(disabled, "user dave is now suspended\n", "{name}");
        let role = succeeded(
            run(&url, &secret, &["user", "role", "erin", "user"]).await,
            name,
        );
        assert_eq!(role, "user erin is now user\n", "{name}");
        let store = Store::open(&url).await.expect(name);
        let dave = store.find_user("dave").await.expect(name).expect(name);
        assert!(!dave.is_active(), "{name}");
        let erin = store.find_user("erin").await.expect(name).expect(name);
        assert_eq!(erin.role, Role::User, "{name}");
        store.close().await;

        let enabled = succeeded(run(&url, &secret, &["user", "enable", "dave"]).await, name);
        assert_eq!(enabled, "user dave is now active\n", "{name}");
        for command in [
            &["user", "disable", "nobody"][..],
            &["user", "enable", "nobody"],
            &["user", "role", "nobody", "admin"],
        ] {
            refused(
                run(&url, &secret, command).await,
                "no user \"nobody\"",
                &format!("{name}: {command:?}"),
            );
        }
    }
}

#[tokio::test]
async fn a_missing_sqlite_file_is_named_not_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.db");
    let url = format!("sqlite://{}", path.display());
    let (secret, _) = random_secret();
    for command in [&["user", "list"][..], &["token", "--user", "admin-1"]] {
        refused(
            run(&url, &secret, command).await,
            &format!("no database at {}", path.display()),
            &format!("{command:?}"),
        );
    }
    assert!(!path.exists(), "nothing was created");
}

/// `token` prints a token the server accepts, for an active user only, and never one that is
/// expired when made.
#[tokio::test]
async fn tokens_are_made_only_for_active_users_and_a_real_lifetime() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (secret, key) = random_secret();
    for (name, url) in databases(dir.path()).await {
        succeeded(
            run(
                &url,
                &secret,
                &["user", "add", "hank", "--email", "hank@x.org"],
            )
            .await,
            name,
        );
        let token = succeeded(
            run(&url, &secret, &["token", "--user", "hank", "--ttl", "1h"]).await,
            name,
        );
        let store = Store::open(&url).await.expect(name);
        let auth = Authenticator::new(&key, store.clone());
        let user = auth.authenticate(Some(token.trim())).await.expect(name);
        assert_eq!(user.id, "hank", "{name}");

        refused(
            run(&url, &secret, &["token", "--user", "nobody"]).await,
            "no user \"nobody\" in the database",
            name,
        );
        succeeded(run(&url, &secret, &["user", "disable", "hank"]).await, name);
        refused(
            run(&url, &secret, &["token", "--user", "hank"]).await,
            "user hank is suspended, not active",
            name,
        );
        assert_eq!(
            auth.authenticate(Some(token.trim())).await,
            Err(AuthError::UnknownOrInactiveUser),
            "{name}: a disabled user's token stops working"
        );
        succeeded(run(&url, &secret, &["user", "enable", "hank"]).await, name);
        for zero in ["0", "0s", "0h"] {
            refused(
                run(&url, &secret, &["token", "--user", "hank", "--ttl", zero]).await,
                "a token must live above zero seconds",
                &format!("{name}: --ttl {zero}"),
            );
        }
        let short = succeeded(
            run(&url, &secret, &["token", "--user", "hank", "--ttl", "90s"]).await,
            name,
        );
        assert!(
            auth.authenticate(Some(short.trim())).await.is_ok(),
            "{name}"
        );
        store.close().await;
    }
}

/// Seeding twice is seeding once: the fixtures skip rows that exist.
#[tokio::test]
async fn seeding_again_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixtures = dir.path().join("fixtures.sql");
    std::fs::write(&fixtures, FIXTURES).expect("write fixtures");
    let fixtures = fixtures.display().to_string();
    let (secret, _) = random_secret();
    for (name, url) in databases(dir.path()).await {
        succeeded(run(&url, &secret, &["db", "seed", &fixtures]).await, name);
        let store = Store::open(&url).await.expect(name);
        let before = (
            store.list_users().await.expect(name),
            store.service_statuses().await.expect(name),
            store.notifications_for("user-1").await.expect(name),
        );
        let again = succeeded(run(&url, &secret, &["db", "seed", &fixtures]).await, name);
        assert!(again.starts_with("seeded the database"), "{name}: {again}");
        let after = (
            store.list_users().await.expect(name),
            store.service_statuses().await.expect(name),
            store.notifications_for("user-1").await.expect(name),
        );
        assert_eq!(before, after, "{name}");
        assert_eq!(after.0.len(), 5, "{name}");
        store.close().await;
    }
}
