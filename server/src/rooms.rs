//! Room names, in one place so handlers and the socket service cannot disagree.

/// Everyone subscribed to service status updates.
pub const STATUS_UPDATES: &str = "status-updates";

/// The personal room of one user: all of that user's subscribed sockets.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}
