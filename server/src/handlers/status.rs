//! Service status events: subscribe, unsubscribe, and the admin-only refresh, which polls the
//! Uptime Kuma feed at once when one runs.

use super::{EventContext, client_addr};
use crate::rooms::STATUS_UPDATES;
use crate::socket_service::NO_ARGS;

/// `subscribe:status`: joins the status room and answers with the current statuses.
pub(super) async fn subscribe(ctx: EventContext) {
    ctx.socket.join(STATUS_UPDATES);
    tracing::info!(user_id = %ctx.user.id, socket_id = %ctx.socket.id, "subscribed to status updates");
    match ctx.app.store.service_statuses().await {
        Ok(statuses) => ctx.emit("status:current", &statuses),
        Err(error) => {
            tracing::error!(%error, "could not load service statuses");
            ctx.emit(
                "error",
                &serde_json::json!({ "message": "Could not load service status" }),
            );
        }
    }
}

/// `unsubscribe:status`: leaves the status room.
pub(super) fn unsubscribe(ctx: EventContext) {
    ctx.socket.leave(STATUS_UPDATES);
    tracing::info!(user_id = %ctx.user.id, socket_id = %ctx.socket.id, "unsubscribed from status updates");
}

/// `admin:refresh-status`: for an admin, tells the status room a refresh is under way and polls
/// the feed; anyone else gets an error.
pub(super) async fn refresh(ctx: EventContext) {
    let client_addr = client_addr(&ctx.socket).map(tracing::field::display);
    if !ctx.user.is_admin() {
        tracing::warn!(
            target: "audit",
            user_id = %ctx.user.id,
            client_addr,
            socket_id = %ctx.socket.id,
            "status refresh refused: admin role required"
        );
        ctx.emit("error", &serde_json::json!({ "message": "Unauthorized" }));
        return;
    }
    tracing::info!(
        target: "audit",
        user_id = %ctx.user.id,
        client_addr,
        socket_id = %ctx.socket.id,
        "status refresh asked"
    );
    ctx.app.metrics.emitted("status:refreshing");
    if let Err(error) = ctx
        .socket
        .within(STATUS_UPDATES)
        .emit("status:refreshing", &NO_ARGS)
        .await
    {
        tracing::error!(%error, "could not broadcast status:refreshing");
    }
    // The changed statuses follow as `service:status` once the poll is done.
    ctx.app.kuma.refresh();
}
