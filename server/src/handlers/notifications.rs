//! Notification events: join the personal room, and mark a notification read.

use serde_json::{Value, json};

use super::EventContext;
use crate::rooms::user_room;
use crate::store::MarkRead;

/// Longest notification id accepted; real ids are 36-character UUIDs.
pub const MAX_NOTIFICATION_ID_LEN: usize = 128;

/// `subscribe:notifications`: joins the user's personal room.
pub(super) fn subscribe(ctx: EventContext) {
    ctx.socket.join(user_room(&ctx.user.id));
}

/// `notification:read`: marks one of the user's notifications read and says how that went.
pub(super) async fn mark_read(ctx: EventContext, arg: Option<Value>) {
    let id = match valid_notification_id(arg.as_ref()) {
        Ok(id) => id,
        Err(echo) => {
            ctx.emit(
                "notification:read:error",
                &json!({ "id": echo, "error": "Invalid notification id" }),
            );
            return;
        }
    };
    match ctx.app.store.mark_read(id, &ctx.user.id).await {
        Ok(MarkRead::Marked) => ctx.emit("notification:read:success", id),
        Ok(MarkRead::NotFound) => ctx.emit(
            "notification:read:error",
            &json!({ "id": id, "error": "Notification not found" }),
        ),
        Err(error) => {
            tracing::error!(%error, user_id = %ctx.user.id, "could not mark notification read");
            ctx.emit(
                "notification:read:error",
                &json!({ "id": id, "error": "Could not mark notification as read" }),
            );
        }
    }
}

/// The id if `arg` is a non-empty string of at most [`MAX_NOTIFICATION_ID_LEN`] characters.
/// Otherwise the value to echo back as `id`: the argument itself when it is small, else `null`,
/// so an oversized argument is never reflected to the client.
pub fn valid_notification_id(arg: Option<&Value>) -> Result<&str, Value> {
    match arg {
        Some(Value::String(id))
            if !id.is_empty() && id.chars().count() <= MAX_NOTIFICATION_ID_LEN =>
        {
            Ok(id)
        }
        Some(Value::String(id)) if id.chars().count() <= MAX_NOTIFICATION_ID_LEN => {
            Err(Value::String(id.clone()))
        }
        Some(small @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => Err(small.clone()),
        _ => Err(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        let arg = json!("0b9e1f3c-7d1a-4c55-9a53-0f1e2d3c4b5a");
        assert_eq!(
            valid_notification_id(Some(&arg)),
            Ok("0b9e1f3c-7d1a-4c55-9a53-0f1e2d3c4b5a")
        );
    }

    #[test]
    fn refuses_and_echoes_small_bad_arguments() {
        assert_eq!(valid_notification_id(Some(&json!(""))), Err(json!("")));
        assert_eq!(valid_notification_id(Some(&json!(42))), Err(json!(42)));
        assert_eq!(valid_notification_id(None), Err(Value::Null));
    }

    #[test]
    fn never_echoes_large_arguments() {
        let huge = json!("x".repeat(MAX_NOTIFICATION_ID_LEN + 1));
        assert_eq!(valid_notification_id(Some(&huge)), Err(Value::Null));
        assert_eq!(
            valid_notification_id(Some(&json!({"id": "n1"}))),
            Err(Value::Null)
        );
        assert_eq!(
            valid_notification_id(Some(&json!(["n1"]))),
            Err(Value::Null)
        );
    }
}
