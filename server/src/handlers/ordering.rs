//! Keeps each socket's events in arrival order.
//!
//! socketioxide spawns every event handler as its own task, so `subscribe:status` followed by
//! `unsubscribe:status` could run in either order (and end subscribed). socket.io handles a
//! socket's events in order. Extractors, however, run synchronously in arrival order, so the
//! [`Ticket`] extractor numbers each event there, and a handler waits for its number's turn.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use socketioxide::adapter::Adapter;
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;
use tokio::sync::Notify;

/// Per-socket counters: tickets issued, and the ticket now being served.
#[derive(Debug, Default)]
pub struct Turnstile {
    issued: AtomicU64,
    serving: AtomicU64,
    turn_changed: Notify,
}

/// An event's place in its socket's queue, taken when the event arrives.
pub struct Ticket {
    turnstile: Option<Arc<Turnstile>>,
    number: u64,
}

impl<A: Adapter> FromMessageParts<A> for Ticket {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        _: &mut Value,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let turnstile = socket.extensions.get::<Arc<Turnstile>>();
        let number = turnstile
            .as_ref()
            .map_or(0, |t| t.issued.fetch_add(1, Ordering::SeqCst));
        Ok(Ticket { turnstile, number })
    }
}

impl Ticket {
    /// Waits until every earlier event of this socket has been handled.
    pub async fn turn(self) -> Turn {
        if let Some(turnstile) = &self.turnstile {
            loop {
                let changed = turnstile.turn_changed.notified();
                if turnstile.serving.load(Ordering::SeqCst) == self.number {
                    break;
                }
                changed.await;
            }
        }
        Turn(self.turnstile)
    }
}

/// Holding the turn; dropping it lets the next event run, even if the handler panicked.
pub struct Turn(Option<Arc<Turnstile>>);

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(turnstile) = &self.0 {
            turnstile.serving.fetch_add(1, Ordering::SeqCst);
            turnstile.turn_changed.notify_waiters();
        }
    }
}
