//! Service status events: subscribe, unsubscribe, and the admin-only refresh, which polls the
//! Uptime Kuma feed at once when one runs.

use super::{EventContext, client_addr, on_event};
use crate::cluster::Socket;
use crate::rooms::STATUS_UPDATES;
use crate::socket_service::NO_ARGS;

pub(super) fn register(socket: &Socket) {
    on_event(socket, "subscribe:status", async |ctx: EventContext, _| {
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
    });

    on_event(
        socket,
        "unsubscribe:status",
        async |ctx: EventContext, _| {
            ctx.socket.leave(STATUS_UPDATES);
            tracing::info!(user_id = %ctx.user.id, socket_id = %ctx.socket.id, "unsubscribed from status updates");
        },
    );

    on_event(
        socket,
        "admin:refresh-status",
        async |ctx: EventContext, _| {
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
        },
    );
}
