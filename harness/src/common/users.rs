//! The load users `load-1` … `load-N`: the SQL that creates them on a launched server (or one
//! you run, `sio-harness load-users N`), their names, and tokens signed with the target's
//! secret. The load modes, the fuzzer and `exhaust` sign their clients in as these users.

use std::time::Duration;

use crate::scenario::TokenSpec;
use crate::target::RunningTarget;

/// How long a load token stays valid: longer than any run.
const TOKEN_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// The name of load user `index` (from 1).
pub fn name(index: usize) -> String {
    format!("load-{index}")
}

/// A token for `user`, signed with the target's secret, valid long enough for any run.
pub fn token(target: &RunningTarget, user: &str) -> Result<String, String> {
    let secret = target
        .secret
        .as_deref()
        .ok_or("the load mode needs the target's JWT secret (--jwt-secret)")?;
    let spec = TokenSpec::for_user(user, TOKEN_LIFETIME);
    crate::jwt::mint(&spec, Some(secret)).map_err(|e| e.to_string())
}

/// One token per load user `load-1` … `load-<count>`.
pub fn tokens(target: &RunningTarget, count: usize) -> Result<Vec<String>, String> {
    (1..=count).map(|i| token(target, &name(i))).collect()
}

/// SQL for `count` active users `load-1` … `load-N`.
pub fn sql(count: usize) -> String {
    let mut sql = String::new();
    for chunk in (1..=count).collect::<Vec<_>>().chunks(500) {
        sql.push_str("INSERT INTO users (id, email, role, status) VALUES\n");
        let rows: Vec<String> = chunk
            .iter()
            .map(|&i| format!("  ('{0}', '{0}@example.com', 'user', 'active')", name(i)))
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn sql_has_every_user_once() {
        let sql = super::sql(1001);
        assert_eq!(sql.matches("INSERT INTO users").count(), 3);
        assert!(
            sql.contains("('load-1', ")
                && sql.contains("('load-1001', ")
                && !sql.contains("load-1002")
        );
    }
}
