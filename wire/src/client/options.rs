//! How a client is set up: the endpoint it opens, the namespaces it joins with their auth,
//! and the official client's reconnection back-off.

use std::time::Duration;

use serde_json::Value;

use crate::transport::EndpointOptions;

/// The official client's reconnection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    pub enabled: bool,
    /// `None` is unlimited, the official default.
    pub attempts: Option<u32>,
    pub delay: Duration,
    pub delay_max: Duration,
    pub randomization: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            attempts: None,
            delay: Duration::from_millis(1000),
            delay_max: Duration::from_millis(5000),
            randomization: 0.5,
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `attempt + 1`: `delay * 2^attempt`, jittered, capped at `delay_max`.
    pub fn delay_for(&self, attempt: u32, random: f64) -> Duration {
        let base = self.delay.as_millis() as f64 * 2f64.powi(attempt.min(62) as i32);
        let mut ms = base;
        if self.randomization > 0.0 {
            let deviation = (random * self.randomization * base).floor();
            ms = if ((random * 10.0).floor() as u64) & 1 == 0 {
                base - deviation
            } else {
                base + deviation
            };
        }
        Duration::from_millis(ms.min(self.delay_max.as_millis() as f64).max(0.0) as u64)
    }
}

/// A namespace to connect, with what to send on every (re)connect.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceOptions {
    pub nsp: String,
    pub auth: Option<Value>,
    /// Emitted, in order, each time the namespace connects (the browser client re-subscribes so):
    /// event, arguments, and how long to wait for an ack when one is asked for.
    pub on_connect: Vec<(String, Vec<Value>, Option<Duration>)>,
}

impl NamespaceOptions {
    pub fn new(nsp: impl Into<String>) -> Self {
        Self {
            nsp: nsp.into(),
            auth: None,
            on_connect: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub endpoint: EndpointOptions,
    pub namespaces: Vec<NamespaceOptions>,
    pub reconnect: ReconnectPolicy,
    /// Report pings and pongs (off by default: servers differ in ping timing).
    pub observe_heartbeat: bool,
}

impl ClientOptions {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            endpoint: EndpointOptions::new(base_url),
            namespaces: vec![NamespaceOptions::new("/")],
            reconnect: ReconnectPolicy::default(),
            observe_heartbeat: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::ReconnectPolicy;

    #[test]
    fn backoff_matches_the_official_formula() {
        let policy = ReconnectPolicy::default();
        // random = 0.0: even branch, no deviation.
        assert_eq!(policy.delay_for(0, 0.0), Duration::from_millis(1000));
        assert_eq!(policy.delay_for(1, 0.0), Duration::from_millis(2000));
        assert_eq!(policy.delay_for(3, 0.0), Duration::from_millis(5000));
        // random = 0.15: floor(1.5) = 1 is odd, so the deviation is added.
        assert_eq!(policy.delay_for(0, 0.15), Duration::from_millis(1075));
        // random = 0.25: floor(2.5) = 2 is even, so it is subtracted.
        assert_eq!(policy.delay_for(0, 0.25), Duration::from_millis(875));
        let fixed = ReconnectPolicy {
            randomization: 0.0,
            ..ReconnectPolicy::default()
        };
        assert_eq!(fixed.delay_for(1, 0.9), Duration::from_millis(2000));
    }
}
