//! Per-user, per-event rate limiting of Socket.IO events (governor's keyed GCRA limiter).
//!
//! A quota of `events` per `window` allows a burst of `events` and then refills one event every
//! `window / events`; an idle key is full again after one `window`. Keys idle for a whole window
//! carry no information, so [`EventRateLimiter::prune`] drops them to keep memory bounded.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};

/// How many events each user may send of each event name per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    pub events: NonZeroU32,
    pub window: Duration,
}

impl RateQuota {
    fn to_governor(self) -> Quota {
        let per_event = self.window / self.events.get();
        // `with_period` refuses only a zero period; clamp so a tiny window still limits.
        Quota::with_period(per_event.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.events))
            .allow_burst(self.events)
    }
}

impl Default for RateQuota {
    fn default() -> Self {
        Self {
            events: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            window: Duration::from_secs(10),
        }
    }
}

type Key = (String, &'static str);

/// Shared limiter; cheap to clone.
#[derive(Clone)]
pub struct EventRateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<Key>>,
    quota: RateQuota,
}

impl EventRateLimiter {
    pub fn new(quota: RateQuota) -> Self {
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota.to_governor())),
            quota,
        }
    }

    /// Takes one event from the user's allowance for `event`; false when it is used up.
    pub fn allow(&self, user_id: &str, event: &'static str) -> bool {
        self.limiter.check_key(&(user_id.to_owned(), event)).is_ok()
    }

    /// Forgets keys whose allowance is full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Number of keys currently tracked.
    pub fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }

    /// Prunes every `window` until the returned task is aborted.
    pub fn spawn_pruner(&self) -> tokio::task::JoinHandle<()> {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(limiter.quota.window.max(Duration::from_secs(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                limiter.prune();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(events: u32, window_ms: u64) -> RateQuota {
        RateQuota {
            events: NonZeroU32::new(events).expect("non-zero"),
            window: Duration::from_millis(window_ms),
        }
    }

    #[test]
    fn allows_the_burst_then_refuses() {
        let limiter = EventRateLimiter::new(quota(3, 60_000));
        assert!((0..3).all(|_| limiter.allow("u1", "subscribe:status")));
        assert!(!limiter.allow("u1", "subscribe:status"));
    }

    #[test]
    fn keys_are_per_user_and_per_event() {
        let limiter = EventRateLimiter::new(quota(1, 60_000));
        assert!(limiter.allow("u1", "subscribe:status"));
        assert!(!limiter.allow("u1", "subscribe:status"));
        assert!(limiter.allow("u1", "notification:read"));
        assert!(limiter.allow("u2", "subscribe:status"));
    }

    #[test]
    fn allowance_returns_after_the_window() {
        let limiter = EventRateLimiter::new(quota(2, 100));
        assert!(limiter.allow("u1", "e") && limiter.allow("u1", "e"));
        assert!(!limiter.allow("u1", "e"));
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.allow("u1", "e") && limiter.allow("u1", "e"));
    }

    #[test]
    fn prune_drops_idle_keys_only() {
        let limiter = EventRateLimiter::new(quota(1, 50));
        limiter.allow("idle", "e");
        std::thread::sleep(Duration::from_millis(150));
        limiter.allow("busy", "e");
        limiter.prune();
        assert_eq!(limiter.tracked_keys(), 1);
    }
}
