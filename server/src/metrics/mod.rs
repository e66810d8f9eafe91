//! Prometheus metrics: what the server counts as it works, and `GET /metrics`, which renders it
//! in the text exposition format (OpenMetrics, through `prometheus-client`'s encoder).
//!
//! Two kinds of figures, kept apart so that the hot path stays an atomic add:
//!
//! - [`Metrics`]: counters bumped where the thing happens (a handshake decided, an event
//!   received or rate-limited, an emit). Each is a fixed array of atomics indexed by a bounded
//!   label (our own event names, anything else `other`): no lock, no allocation per event.
//! - values read at scrape time from the parts that already keep them ([`sources::Sources`]):
//!   sockets by transport, the database's state and pool, the Redis link, the Kuma feed, and the
//!   process itself from `/proc/self` ([`process`]).
//!
//! The names, shared with the Node original where the meaning is the same, are in
//! docs/metrics.md; `scrape` serves them, behind `METRICS_TOKEN` when it is set.

mod process;
mod scrape;
mod sources;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeCounterValue, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::auth::AuthError;

pub use scrape::{MetricsToken, ScrapeState, router};
pub use sources::Sources;

/// The events the server handles; any other name a client sends counts as [`OTHER`].
pub const RECEIVED_EVENTS: [&str; 5] = [
    "subscribe:status",
    "unsubscribe:status",
    "admin:refresh-status",
    "subscribe:notifications",
    "notification:read",
];

/// The events the server emits; [`OTHER`] for any other (none today: it keeps the label set
/// bounded should a caller of the socket service pass a name of its own).
pub const EMITTED_EVENTS: [&str; 7] = [
    "status:current",
    "service:status",
    "status:refreshing",
    "notification:new",
    "notification:read:success",
    "notification:read:error",
    "error",
];

/// The label of an event name outside the known set.
pub const OTHER: &str = "other";

/// Why a handshake was refused, as the `reason` label says it.
pub const REFUSAL_REASONS: [&str; 4] = [
    "missing_token",
    "invalid_token",
    "unknown_or_inactive_user",
    "unavailable",
];

fn refusal_index(error: &AuthError) -> usize {
    match error {
        AuthError::MissingToken => 0,
        AuthError::InvalidToken => 1,
        AuthError::UnknownOrInactiveUser => 2,
        AuthError::Unavailable => 3,
    }
}

/// One counter per known name, and one for [`OTHER`] at the end.
#[derive(Debug)]
struct ByName<const N: usize> {
    names: &'static [&'static str; N],
    counts: [AtomicU64; N],
    other: AtomicU64,
}

impl<const N: usize> ByName<N> {
    fn new(names: &'static [&'static str; N]) -> Self {
        Self {
            names,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            other: AtomicU64::new(0),
        }
    }

    fn inc(&self, name: &str) {
        let counter = match self.names.iter().position(|known| *known == name) {
            Some(index) => &self.counts[index],
            None => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every name with its count, [`OTHER`] last.
    fn each(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.names
            .iter()
            .zip(&self.counts)
            .map(|(name, count)| (*name, count.load(Ordering::Relaxed)))
            .chain([(OTHER, self.other.load(Ordering::Relaxed))])
    }
}

#[derive(Debug)]
struct Counters {
    handshakes_accepted: AtomicU64,
    handshakes_refused: ByName<4>,
    events_received: ByName<5>,
    events_rate_limited: ByName<5>,
    emits: ByName<7>,
}

/// The server's own counters; cheap to clone, all clones count together.
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Counters>);

impl Default for Metrics {
    fn default() -> Self {
        Self(Arc::new(Counters {
            handshakes_accepted: AtomicU64::new(0),
            handshakes_refused: ByName::new(&REFUSAL_REASONS),
            events_received: ByName::new(&RECEIVED_EVENTS),
            events_rate_limited: ByName::new(&RECEIVED_EVENTS),
            emits: ByName::new(&EMITTED_EVENTS),
        }))
    }
}

impl Metrics {
    pub fn handshake_accepted(&self) {
        self.0.handshakes_accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn handshake_refused(&self, reason: &AuthError) {
        self.0.handshakes_refused.counts[refusal_index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn event_received(&self, event: &str) {
        self.0.events_received.inc(event);
    }

    pub fn event_rate_limited(&self, event: &str) {
        self.0.events_rate_limited.inc(event);
    }

    /// One emit, to one socket or to a room (counted once, whatever the room's size).
    pub fn emitted(&self, event: &str) {
        self.0.emits.inc(event);
    }

    /// Writes the counters' descriptors and samples.
    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counters = &self.0;
        counter(
            encoder,
            "realtime_handshakes_accepted",
            "Socket.IO handshakes accepted (token valid, user active).",
            counters.handshakes_accepted.load(Ordering::Relaxed),
        )?;
        labelled_counters(
            encoder,
            "realtime_handshakes_refused",
            "Socket.IO handshakes refused, by reason.",
            "reason",
            counters
                .handshakes_refused
                .each()
                .filter(|(name, _)| *name != OTHER),
        )?;
        labelled_counters(
            encoder,
            "realtime_events_received",
            "Socket.IO events received from clients, by event name (other: any name the server does not handle).",
            "event",
            counters.events_received.each(),
        )?;
        labelled_counters(
            encoder,
            "realtime_events_rate_limited",
            "Socket.IO events dropped by the per-user rate limit, by event name.",
            "event",
            counters.events_rate_limited.each(),
        )?;
        labelled_counters(
            encoder,
            "realtime_emits",
            "Events emitted by the server, by event name; an emit to a room counts once.",
            "event",
            counters.emits.each(),
        )
    }
}

/// A metric without labels; a counter's `name` without `_total`, which the encoder appends.
fn single(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: impl EncodeCounterValue,
) -> Result<(), std::fmt::Error> {
    single(encoder, name, help, ConstCounter::new(value))
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    single(encoder, name, help, ConstGauge::new(value))
}

/// A metric with one label, a sample per value.
fn family<'a, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    (name, help, metric_type): (&str, &str, MetricType),
    label: &str,
    samples: impl IntoIterator<Item = (&'a str, M)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (value, metric) in samples {
        metric.encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

fn labelled_counters<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    samples: impl Iterator<Item = (&'a str, u64)>,
) -> Result<(), std::fmt::Error> {
    let samples = samples.map(|(value, count)| (value, ConstCounter::new(count)));
    family(encoder, (name, help, MetricType::Counter), label, samples)
}

fn labelled_gauges<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (&'a str, f64)>,
) -> Result<(), std::fmt::Error> {
    let samples = samples
        .into_iter()
        .map(|(value, level)| (value, ConstGauge::new(level)));
    family(encoder, (name, help, MetricType::Gauge), label, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_count_as_other_and_known_ones_apart() {
        let metrics = Metrics::default();
        for event in [
            "subscribe:status",
            "subscribe:status",
            "made-up",
            "also-made-up",
        ] {
            metrics.event_received(event);
        }
        let counts: Vec<(&str, u64)> = metrics.0.events_received.each().collect();
        assert_eq!(
            counts,
            [
                ("subscribe:status", 2),
                ("unsubscribe:status", 0),
                ("admin:refresh-status", 0),
                ("subscribe:notifications", 0),
                ("notification:read", 0),
                (OTHER, 2),
            ]
        );
    }
}
