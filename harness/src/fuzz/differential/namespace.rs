//! The users and notifications a differential sequence works on: the fixtures themselves, or
//! numbered copies of them so that many sequences share one server without sharing data.

use super::vocabulary::Role;

/// The fixture notifications (`scenarios/fixtures.sql`) and their owners.
pub const FIXTURE_NOTIFICATIONS: [(&str, Role); 3] = [
    ("n-alice-1", Role::Alice),
    ("n-alice-2", Role::Alice),
    ("n-bob-1", Role::Bob),
];

/// The users and notifications a sequence works on: the fixtures themselves (a fresh server, and
/// every scenario written for review), or copies under a prefix, so that many sequences can run
/// on one server without sharing notifications or rate-limit allowances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub(super) prefix: String,
}

impl Namespace {
    pub fn fixtures() -> Self {
        Self {
            prefix: String::new(),
        }
    }

    /// Copies of the fixture users and notifications for sequence `index` of a launch.
    pub fn numbered(index: usize) -> Self {
        Self {
            prefix: format!("d{index}-"),
        }
    }

    pub fn user_id(&self, role: Role) -> String {
        let id = match role {
            Role::Admin => "admin-1",
            Role::Alice => "user-1",
            Role::Bob => "user-2",
            Role::Carol => "user-3",
        };
        format!("{}{id}", self.prefix)
    }

    pub(super) fn notification_id(&self, index: usize) -> String {
        let (id, _) = FIXTURE_NOTIFICATIONS[index % FIXTURE_NOTIFICATIONS.len()];
        format!("{}{id}", self.prefix)
    }

    /// SQL that creates the copies (nothing for the fixtures, which every launch loads).
    pub fn sql(&self) -> String {
        if self.prefix.is_empty() {
            return String::new();
        }
        let p = &self.prefix;
        format!(
            "INSERT INTO users (id, email, role, status) VALUES \
             ('{p}admin-1', '{p}admin@example.com', 'admin', 'active'), \
             ('{p}user-1', '{p}alice@example.com', 'user', 'active'), \
             ('{p}user-2', '{p}bob@example.com', 'user', 'active'), \
             ('{p}user-3', '{p}carol@example.com', 'user', 'suspended');\n\
             INSERT INTO notifications (id, user_id, title, message, type, created_at, read_at) VALUES \
             ('{p}n-alice-1', '{p}user-1', 'Download finished', 'Movie night is ready.', 'info', '2026-01-01T00:00:00.000Z', NULL), \
             ('{p}n-alice-2', '{p}user-1', 'Disk almost full', 'Media volume at 91%.', 'warning', '2026-01-02T00:00:00.000Z', NULL), \
             ('{p}n-bob-1', '{p}user-2', 'Request approved', 'Your request was approved.', 'info', '2026-01-01T00:00:00.000Z', NULL);\n"
        )
    }
}
