//! The feed as the rest of the server sees it: ask for a poll now, read its health.
//!
//! Every server has a handle, with or without a feed; without one, a refresh request is a no-op
//! and there is no health to show, so callers need no `Option`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::Notify;

use crate::clock;

/// Cheap to clone; all clones speak to the same feed.
#[derive(Clone, Default)]
pub struct FeedHandle(Arc<Shared>);

#[derive(Default)]
struct Shared {
    refresh: Notify,
    /// `None` while no feed runs.
    health: Mutex<Option<FeedHealth>>,
    /// Reads of the status page since start, and the failed ones (see [`crate::metrics`]).
    polls: AtomicU64,
    failures: AtomicU64,
}

/// How many reads of Kuma this node made, and how many failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollCounts {
    pub polls: u64,
    pub failures: u64,
}

/// The feed's state as `/health` shows it under `kuma`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedHealth {
    pub state: FeedState,
    /// When `state` last changed.
    pub since: String,
    pub last_success: Option<String>,
    /// Monitors on the status page at the last read.
    pub monitors: usize,
    /// Why the last read failed, while failing.
    pub error: Option<String>,
    /// `polling` on the node that holds the lease, `standby` on the others of a cluster.
    pub role: FeedRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedRole {
    Polling,
    Standby,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedState {
    /// This node polls, and no read has finished yet.
    Starting,
    Ok,
    Failing,
    /// Another node of the cluster holds the lease and polls; this one waits to take over.
    /// (`lastSuccess` and `error` tell how a refresh polled from here went.)
    Standby,
}

impl FeedHandle {
    /// Asks the feed to poll at once; nothing happens when no feed runs. A request made during
    /// a poll is kept and starts another poll after it.
    pub fn refresh(&self) {
        if self.health().is_some() {
            self.0.refresh.notify_one();
        }
    }

    /// The feed's health, `None` when no feed runs.
    pub fn health(&self) -> Option<FeedHealth> {
        self.lock().clone()
    }

    pub fn poll_counts(&self) -> PollCounts {
        PollCounts {
            polls: self.0.polls.load(Ordering::Relaxed),
            failures: self.0.failures.load(Ordering::Relaxed),
        }
    }

    pub(super) async fn refresh_requested(&self) {
        self.0.refresh.notified().await;
    }

    pub(super) fn started(&self) {
        *self.lock() = Some(FeedHealth {
            state: FeedState::Starting,
            since: clock::now_iso(),
            last_success: None,
            monitors: 0,
            error: None,
            role: FeedRole::Standby,
        });
    }

    /// The node took the lease (`starting` until its first read) or stands by.
    pub(super) fn polling(&self, holding: bool) {
        if let Some(health) = self.lock().as_mut() {
            let (role, state) = if holding {
                (FeedRole::Polling, FeedState::Starting)
            } else {
                (FeedRole::Standby, FeedState::Standby)
            };
            health.role = role;
            if health.state != state {
                health.state = state;
                health.since = clock::now_iso();
            }
        }
    }

    pub(super) fn stopped(&self) {
        *self.lock() = None;
    }

    pub(super) fn succeeded(&self, monitors: usize) {
        self.0.polls.fetch_add(1, Ordering::Relaxed);
        if let Some(health) = self.lock().as_mut() {
            let now = clock::now_iso();
            if health.state != FeedState::Ok && health.role == FeedRole::Polling {
                health.state = FeedState::Ok;
                health.since = now.clone();
            }
            health.last_success = Some(now);
            health.monitors = monitors;
            health.error = None;
        }
    }

    pub(super) fn failed(&self, error: String) {
        self.0.polls.fetch_add(1, Ordering::Relaxed);
        self.0.failures.fetch_add(1, Ordering::Relaxed);
        if let Some(health) = self.lock().as_mut() {
            if health.state != FeedState::Failing && health.role == FeedRole::Polling {
                health.state = FeedState::Failing;
                health.since = clock::now_iso();
            }
            health.error = Some(error);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<FeedHealth>> {
        // The guarded value is replaced whole or field by field with plain values, so a panic
        // elsewhere cannot leave it half-written: a poisoned lock is safe to keep using.
        self.0
            .health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
