//! This repository's load users `load-1` … `load-N`: the SQL that creates them on a server you
//! run (`sio-harness load-users N`). The dashboard's load profile (`benches/dashboard.profile.yaml`)
//! signs its virtual clients in as them and creates them on a launched server with its own
//! `seed_sql`; nothing else in the harness knows them.

/// The name of load user `index` (from 1).
pub fn name(index: usize) -> String {
    format!("load-{index}")
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
