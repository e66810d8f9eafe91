//! User administration (the `realtime-server user ...` commands): add, activate, suspend and
//! change the role of users, on either database. The server itself only reads users.

use super::{Pool, Role, Store, StoreError, User};

/// The status of a user who may sign in; any other status refuses every handshake and request.
pub const ACTIVE: &str = "active";
/// The status `user disable` sets (the fixtures' inactive user has it too).
pub const SUSPENDED: &str = "suspended";

/// A user to add; it starts active.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub email: String,
    pub role: Role,
}

/// What adding a user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddUser {
    Added,
    /// A user with this id exists (and was left as it is).
    IdTaken,
    /// Another user has this email (its id given).
    EmailTaken(String),
}

impl Store {
    /// Adds an active user, unless its id or its email is taken.
    pub async fn add_user(&self, user: &NewUser) -> Result<AddUser, StoreError> {
        const INSERT: &str = "INSERT INTO users (id, email, role, status) \
                              VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
        const HOLDERS: &str = "SELECT id, email, role, status FROM users \
                               WHERE id = $1 OR email = $2";
        loop {
            let added = on_db!(self.db, |pool| {
                sqlx::query(INSERT)
                    .bind(&user.id)
                    .bind(&user.email)
                    .bind(user.role.as_str())
                    .bind(ACTIVE)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            });
            if added == 1 {
                return Ok(AddUser::Added);
            }
            let holders: Vec<User> = on_db!(self.db, |pool| {
                sqlx::query_as(HOLDERS)
                    .bind(&user.id)
                    .bind(&user.email)
                    .fetch_all(pool)
                    .await
            });
            if holders.iter().any(|holder| holder.id == user.id) {
                return Ok(AddUser::IdTaken);
            }
            if let Some(other) = holders.into_iter().next() {
                return Ok(AddUser::EmailTaken(other.id));
            }
            // The row in the way was removed meanwhile (by hand): try again.
        }
    }

    /// Sets a user's status (`active`, `suspended`); `false` when there is no such user.
    pub async fn set_user_status(&self, id: &str, status: &str) -> Result<bool, StoreError> {
        self.update_user("UPDATE users SET status = $1 WHERE id = $2", status, id)
            .await
    }

    /// Sets a user's role; `false` when there is no such user.
    pub async fn set_user_role(&self, id: &str, role: Role) -> Result<bool, StoreError> {
        self.update_user(
            "UPDATE users SET role = $1 WHERE id = $2",
            role.as_str(),
            id,
        )
        .await
    }

    async fn update_user(&self, sql: &str, value: &str, id: &str) -> Result<bool, StoreError> {
        let changed = on_db!(self.db, |pool| {
            sqlx::query(sql)
                .bind(value)
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        Ok(changed == 1)
    }
}
