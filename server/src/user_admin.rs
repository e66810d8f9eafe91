//! The `realtime-server user ...` commands: check what the operator typed, change the store,
//! say what was done in one line (or print the list), and fail with a sentence that says what
//! to do instead.

use anyhow::{Result, bail};

use crate::cli::UserCommand;
use crate::store::{ACTIVE, AddUser, NewUser, Role, SUSPENDED, Store};

/// Longest user id: the HTTP API's limit for `userId`.
pub const MAX_ID_CHARS: usize = 64;
/// Longest email (RFC 5321's limit for a forward path).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Runs one `user` command against `store`, printing its result on stdout.
pub async fn run(store: &Store, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add {
            id, email, role, ..
        } => {
            let user = NewUser {
                id: checked_id(&id)?,
                email: checked_email(&email)?,
                role: role.into(),
            };
            match store.add_user(&user).await? {
                AddUser::Added => println!(
                    "added user {} <{}>, role {}, active",
                    user.id,
                    user.email,
                    user.role.as_str()
                ),
                AddUser::IdTaken => bail!(
                    "user {} already exists (`realtime-server user list` shows it)",
                    user.id
                ),
                AddUser::EmailTaken(other) => {
                    bail!("email {} is already used by user {other}", user.email)
                }
            }
        }
        UserCommand::List { .. } => print!("{}", listing(store).await?),
        UserCommand::Disable { id, .. } => set_status(store, &id, SUSPENDED).await?,
        UserCommand::Enable { id, .. } => set_status(store, &id, ACTIVE).await?,
        UserCommand::Role { id, role, .. } => {
            let role = Role::from(role);
            if !store.set_user_role(&id, role).await? {
                bail!("{}", no_such_user(&id));
            }
            println!("user {id} is now {}", role.as_str());
        }
    }
    Ok(())
}

async fn set_status(store: &Store, id: &str, status: &str) -> Result<()> {
    if !store.set_user_status(id, status).await? {
        bail!("{}", no_such_user(id));
    }
    println!("user {id} is now {status}");
    Ok(())
}

fn no_such_user(id: &str) -> String {
    format!("no user {id:?} (`realtime-server user list` shows them)")
}

/// Every user, one a line under a header, columns aligned.
async fn listing(store: &Store) -> Result<String> {
    let users = store.list_users().await?;
    let rows: Vec<[String; 4]> =
        std::iter::once(["ID", "EMAIL", "ROLE", "STATUS"].map(String::from))
            .chain(users.into_iter().map(|user| {
                [
                    user.id,
                    user.email,
                    user.role.as_str().to_owned(),
                    user.status,
                ]
            }))
            .collect();
    let widths: Vec<usize> = (0..3)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in &rows {
        for (cell, width) in row.iter().zip(&widths) {
            text.push_str(&format!("{cell:<width$}  "));
        }
        text.push_str(&row[3]);
        text.push('\n');
    }
    Ok(text)
}

fn checked_id(id: &str) -> Result<String> {
    let id = id.trim();
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        bail!("a user id must be non-empty and without spaces");
    }
    if id.chars().count() > MAX_ID_CHARS {
        bail!("a user id must be at most {MAX_ID_CHARS} characters");
    }
    Ok(id.to_owned())
}

fn checked_email(email: &str) -> Result<String> {
    let email = email.trim();
    let well_formed = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if !well_formed {
        bail!("{email:?} is not an email address (name@domain)");
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        bail!("an email must be at most {MAX_EMAIL_CHARS} characters");
    }
    Ok(email.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_emails_are_checked() {
        assert_eq!(checked_id(" user-9 ").ok().as_deref(), Some("user-9"));
        assert!(checked_id("").is_err());
        assert!(checked_id("a b").is_err());
        assert!(checked_id(&"x".repeat(65)).is_err());
        assert_eq!(
            checked_email("dave@example.com").ok().as_deref(),
            Some("dave@example.com")
        );
        for bad in ["dave", "@example.com", "dave@", "da ve@example.com"] {
            assert!(checked_email(bad).is_err(), "{bad}");
        }
    }
}
