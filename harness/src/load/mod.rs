//! Load mode: reconnect storms, fan-out and connection churn against a target, with the figures
//! that decide them.
//!
//! [`fleet`] starts many lean clients (one shared HTTP client, small websocket buffers, source
//! addresses spread over loopback), each driven in its own task that reports only the moments
//! that matter; [`storm`] and [`fanout`] drive the fleet; [`churn`] opens and closes short
//! connections at a steady rate and follows the server's memory; [`metrics`] reads the server's
//! and the kernel's counters from `/proc` and summarises latencies; [`descriptors`] checks, before
//! a run starts, that its connections fit in the open-files limit; [`phase`] prints progress and
//! stops a phase that local failures (the machine's own limits) keep from finishing; [`workers`]
//! spreads a fleet over several processes when one may not hold every client.

pub mod churn;
pub mod descriptors;
pub mod fanout;
pub mod fleet;
pub mod metrics;
pub mod phase;
pub mod storm;
pub mod workers;

/// A token for `user`, signed with the target's secret, valid long enough for any run.
pub fn token(target: &crate::target::RunningTarget, user: &str) -> Result<String, String> {
    let secret = target
        .secret
        .as_deref()
        .ok_or("the load mode needs the target's JWT secret (--jwt-secret)")?;
    let spec = crate::scenario::TokenSpec::for_user(user, std::time::Duration::from_secs(6 * 3600));
    crate::jwt::mint(&spec, Some(secret)).map_err(|e| e.to_string())
}

/// SQL for `count` active users `load-1` … `load-N`, the load mode's clients.
pub fn users_sql(count: usize) -> String {
    let mut sql = String::new();
    for chunk in (1..=count).collect::<Vec<_>>().chunks(500) {
        sql.push_str("INSERT INTO users (id, email, role, status) VALUES\n");
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| format!("  ('load-{i}', 'load-{i}@example.com', 'user', 'active')"))
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn users_sql_has_every_user_once() {
        let sql = super::users_sql(1001);
        assert_eq!(sql.matches("INSERT INTO users").count(), 3);
        assert!(
            sql.contains("('load-1', ")
                && sql.contains("('load-1001', ")
                && !sql.contains("load-1002")
        );
    }
}
