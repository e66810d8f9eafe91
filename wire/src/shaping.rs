//! Network conditions on a loopback link: latency, jitter, bandwidth and loss, as the
//! [`proxy`](crate::proxy) applies them to each direction of each connection.
//!
//! The model is honest about what a TCP stream can show its ends:
//!
//! - **Latency and jitter.** Every segment (at most [`SEGMENT`] bytes, a typical MSS) is
//!   delivered `latency ± jitter` (uniform, never below zero) after it left the bandwidth
//!   stage. Jitter never reorders bytes: a segment is never delivered before the one before it,
//!   so a short delay behind a long one waits for it (head-of-line blocking, as in TCP).
//! - **Bandwidth.** A token bucket per direction: tokens (bytes) accrue at the rate, up to a
//!   burst of [`burst_of`] the rate; a segment leaves once the bucket holds its size.
//! - **Loss.** TCP never loses bytes, it retransmits them. A segment "lost" with probability
//!   `loss` is delivered after an extra retransmission timeout, `max(200 ms, 2 × latency)`
//!   (RTO-like); the retransmission may be lost again with the same probability, and each
//!   further timeout doubles (exponential back-off), up to [`MAX_RTO`]. Order is kept, so
//!   every later segment waits behind it.
//!
//! Randomness comes from a seeded generator: the same seed draws the same delays and losses
//! for the same sequence of segments. (Which bytes form a segment depends on how the kernel
//! hands them over, so the wall-clock timing of a run still varies a little.)
//!
//! [`Conditions`] are written `latency=150ms,jitter=50ms,bandwidth=256kbps,loss=1%` on the
//! command line, optionally after a named profile (`3g`, `3g,loss=2%`); see [`Conditions::parse`].

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The most bytes one segment carries: what loss, delay and bandwidth apply to.
pub const SEGMENT: usize = 1448;
/// The smallest retransmission timeout (Linux's `TCP_RTO_MIN` is 200 ms).
pub const MIN_RTO: Duration = Duration::from_millis(200);
/// The largest one, after doubling.
pub const MAX_RTO: Duration = Duration::from_secs(60);

/// How a link behaves. The default is a clean link: no delay, no limit, no loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Conditions {
    /// One-way delay.
    #[serde(with = "millis")]
    pub latency: Duration,
    /// Each segment's delay is `latency` plus or minus up to this much.
    #[serde(with = "millis")]
    pub jitter: Duration,
    /// Bits per second, per direction; `None`: unlimited.
    pub bandwidth_bps: Option<u64>,
    /// Probability a segment (and each of its retransmissions) is lost, in parts per million.
    pub loss_ppm: u32,
}

/// Durations as whole milliseconds on the wire (load workers get their conditions as JSON).
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Named profiles for `--network`, with the figures they stand for.
pub const PROFILES: &[(&str, &str)] = &[
    ("clean", ""),
    (
        "3g",
        "latency=100ms,jitter=30ms,bandwidth=1600kbps,loss=0.5%",
    ),
    (
        "slow-3g",
        "latency=200ms,jitter=50ms,bandwidth=400kbps,loss=1%",
    ),
    ("lossy-wifi", "latency=20ms,jitter=10ms,loss=2%"),
    (
        "satellite",
        "latency=300ms,jitter=20ms,bandwidth=2mbps,loss=0.5%",
    ),
];

impl Conditions {
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }

    /// Parses a profile: comma-separated `key=value` settings (`latency`, `jitter`,
    /// `bandwidth`, `loss`), optionally after one named profile from [`PROFILES`] whose
    /// settings they override: `3g`, `latency=150ms,loss=1%`, `slow-3g,loss=5%`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut conditions = Self::default();
        for (position, part) in text.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                return Err(format!("{text:?}: an empty setting"));
            }
            let Some((key, value)) = part.split_once('=') else {
                let named = PROFILES
                    .iter()
                    .find(|(name, _)| *name == part)
                    .filter(|_| position == 0)
                    .ok_or_else(|| {
                        format!(
                            "{part:?} is neither a key=value setting nor a profile (first, one of: {})",
                            PROFILES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        )
                    })?;
                if !named.1.is_empty() {
                    conditions = Self::parse(named.1)?;
                }
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "latency" => conditions.latency = parse_delay(value)?,
                "jitter" => conditions.jitter = parse_delay(value)?,
                "bandwidth" => conditions.bandwidth_bps = Some(parse_bandwidth(value)?),
                "loss" => conditions.loss_ppm = parse_loss(value)?,
                other => {
                    return Err(format!(
                        "unknown network setting {other:?}: latency, jitter, bandwidth or loss"
                    ));
                }
            }
        }
        Ok(conditions)
    }

    fn loss(&self) -> f64 {
        f64::from(self.loss_ppm) / 1_000_000.0
    }

    /// The first retransmission timeout: `max(200 ms, 2 × latency)`.
    fn rto(&self) -> Duration {
        MIN_RTO.max(self.latency * 2)
    }
}

impl fmt::Display for Conditions {
    /// The form [`Conditions::parse`] reads; `clean` for a clean link.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return f.write_str("clean");
        }
        let mut parts = vec![
            format!("latency={}ms", self.latency.as_millis()),
            format!("jitter={}ms", self.jitter.as_millis()),
        ];
        if let Some(bps) = self.bandwidth_bps {
            let written = match bps {
                _ if bps % 1_000_000 == 0 => format!("{}mbps", bps / 1_000_000),
                _ if bps % 1_000 == 0 => format!("{}kbps", bps / 1_000),
                _ => format!("{bps}bps"),
            };
            parts.push(format!("bandwidth={written}"));
        }
        let percent = f64::from(self.loss_ppm) / 10_000.0;
        parts.push(format!("loss={percent}%"));
        f.write_str(&parts.join(","))
    }
}

/// `150ms` or `2s` (whole numbers).
pub fn parse_delay(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_unit(text);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a delay like 150ms or 2s"))?;
    let delay = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        other => {
            return Err(format!(
                "unknown delay unit {other:?} in {text:?}: use ms or s"
            ));
        }
    };
    if delay > Duration::from_secs(60) {
        return Err(format!("{text:?} is longer than a link delay can be (60s)"));
    }
    Ok(delay)
}

/// `256kbps`, `2mbps` or `9600bps` (bits per second, decimal prefixes), more than zero.
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(text);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a bandwidth like 256kbps or 2mbps"))?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "bps" => 1,
        "kbps" => 1_000,
        "mbps" => 1_000_000,
        _ => {
            return Err(format!(
                "unknown bandwidth unit {unit:?} in {text:?}: use bps, kbps or mbps"
            ));
        }
    };
    match number.checked_mul(factor) {
        Some(0) => Err(format!("{text:?}: a bandwidth must be more than zero")),
        Some(bps) => Ok(bps),
        None => Err(format!("{text:?} is too large")),
    }
}

/// `1%`, `0.5%`: a percentage from 0 to 100, in parts per million.
pub fn parse_loss(text: &str) -> Result<u32, String> {
    let number = text
        .trim()
        .strip_suffix('%')
        .ok_or_else(|| format!("{text:?}: write loss as a percentage, e.g. \"1%\""))?;
    let percent: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage like 1% or 0.5%"))?;
    if !(0.0..=100.0).contains(&percent) {
        return Err(format!("{text:?}: loss is a percentage from 0% to 100%"));
    }
    // At most 100 % × 10 000: fits a u32.
    Ok((percent * 10_000.0).round() as u32)
}

fn split_unit(text: &str) -> (&str, &str) {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(split)
}

/// The token bucket's capacity: a tenth of a second's worth, at least one segment, so a
/// segment never waits for more tokens than the bucket can hold.
pub fn burst_of(bandwidth_bps: u64) -> f64 {
    (bandwidth_bps as f64 / 8.0 / 10.0).max(SEGMENT as f64)
}

/// One direction of one connection: when each segment handed to it is delivered.
pub struct Shaper {
    rng: StdRng,
    /// Bytes in the bucket as of `bucket_at`.
    tokens: f64,
    bucket_at: Option<Instant>,
    /// When the latest segment is delivered; none is delivered before it.
    last_delivery: Option<Instant>,
}

impl Shaper {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            tokens: 0.0,
            bucket_at: None,
            last_delivery: None,
        }
    }

    /// When a segment of `len` bytes (at most [`SEGMENT`]) that arrived at `now` is delivered
    /// under `conditions`.
    pub fn schedule(&mut self, now: Instant, len: usize, conditions: &Conditions) -> Instant {
        let sent = match conditions.bandwidth_bps {
            Some(bps) => self.take_tokens(now, len, bps),
            None => now,
        };
        let mut arrival = sent + self.delay(conditions);
        if conditions.loss_ppm > 0 {
            let mut rto = conditions.rto();
            while self.rng.random_bool(conditions.loss().min(1.0)) {
                arrival += rto;
                if rto >= MAX_RTO {
                    // A link that loses everything: stop doubling, and stop drawing.
                    break;
                }
                rto = (rto * 2).min(MAX_RTO);
            }
        }
        let delivery = self.last_delivery.map_or(arrival, |last| arrival.max(last));
        self.last_delivery = Some(delivery);
        delivery
    }

    /// When the bucket has `len` bytes' worth of tokens (taking them).
    fn take_tokens(&mut self, now: Instant, len: usize, bps: u64) -> Instant {
        // At least a bit per second: a rate of zero would wait forever (and overflow).
        let rate = bps.max(1) as f64 / 8.0;
        let burst = burst_of(bps);
        // Segments queue behind each other: the bucket's clock never runs backwards.
        let start = self.bucket_at.map_or(now, |at| at.max(now));
        let accrued = self
            .bucket_at
            .map_or(burst, |at| self.tokens + rate * (start - at).as_secs_f64());
        let available = accrued.min(burst);
        let needed = len as f64;
        let (ready, left) = if available >= needed {
            (start, available - needed)
        } else {
            (
                start + Duration::from_secs_f64((needed - available) / rate),
                0.0,
            )
        };
        self.tokens = left;
        self.bucket_at = Some(ready);
        ready
    }

    fn delay(&mut self, conditions: &Conditions) -> Duration {
        if conditions.jitter.is_zero() {
            return conditions.latency;
        }
        let jitter = conditions.jitter.as_secs_f64();
        let offset = self.rng.random_range(-jitter..=jitter);
        Duration::from_secs_f64((conditions.latency.as_secs_f64() + offset).max(0.0))
    }
}

/// A stable 64-bit FNV-1a hash, for seeds derived from names (std's hasher may change between
/// releases, and a seed must not).
pub fn seed_of(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(text: &str) -> Conditions {
        Conditions::parse(text).expect("valid conditions")
    }

    #[test]
    fn profiles_parse_and_settings_override_them() {
        let slow = link("slow-3g,loss=5%");
        assert_eq!(slow.latency, Duration::from_millis(200));
        assert_eq!(slow.bandwidth_bps, Some(400_000));
        assert_eq!(slow.loss_ppm, 50_000);
        for (name, _) in PROFILES {
            assert!(Conditions::parse(name).is_ok(), "{name}");
        }
        assert!(link("clean").is_clean());
        let written = link("latency=150ms,jitter=1s,bandwidth=256kbps,loss=0.5%");
        assert_eq!(
            written.to_string(),
            "latency=150ms,jitter=1000ms,bandwidth=256kbps,loss=0.5%"
        );
        assert_eq!(link(&written.to_string()), written);
        assert_eq!(
            link("3g,bandwidth=9600bps")
                .to_string()
                .matches("9600bps")
                .count(),
            1
        );
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        for (text, reason) in [
            ("latency=150", "unknown delay unit"),
            ("latency=1m", "unknown delay unit"),
            ("bandwidth=10gbps", "unknown bandwidth unit"),
            ("bandwidth=0kbps", "more than zero"),
            ("loss=1", "percentage"),
            ("loss=101%", "from 0% to 100%"),
            ("loss=-1%", "from 0% to 100%"),
            ("delay=1ms", "unknown network setting"),
            ("latency=1ms,3g", "profile (first"),
            ("4g", "neither"),
        ] {
            let error = Conditions::parse(text).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn the_token_bucket_holds_a_long_transfer_to_the_rate() {
        // 80 kbps = 10 000 bytes/s; its burst is one segment (a tenth of a second is less).
        let conditions = link("bandwidth=80kbps");
        let mut shaper = Shaper::new(1);
        let start = Instant::now();
        let mut last = start;
        for _ in 0..100 {
            last = shaper.schedule(start, SEGMENT, &conditions);
        }
        // 100 segments all handed over at once: everything past the burst waits its turn.
        let expected = (100.0 * SEGMENT as f64 - burst_of(80_000)) / 10_000.0;
        let took = (last - start).as_secs_f64();
        assert!(
            (took - expected).abs() < 0.001,
            "took {took}s, expected {expected}s"
        );
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_its_burst() {
        let conditions = link("bandwidth=800kbps"); // 100 000 bytes/s, burst 10 000 bytes
        let mut shaper = Shaper::new(1);
        let start = Instant::now();
        let later = start + Duration::from_secs(10);
        shaper.schedule(start, 1000, &conditions);
        let mut last = later;
        // Ten idle seconds later the bucket is full, not fuller: of 20 000 bytes, its 10 000
        // go at once and the rest at the rate.
        for _ in 0..20 {
            last = shaper.schedule(later, 1000, &conditions);
        }
        let took = (last - later).as_secs_f64();
        assert!((took - 0.1).abs() < 0.001, "took {took}s");
    }

    #[test]
    fn jitter_never_delivers_a_segment_before_the_one_before_it() {
        let conditions = link("latency=400ms,jitter=300ms");
        let mut shaper = Shaper::new(7);
        let start = Instant::now();
        let mut previous = start;
        let mut own_delays = Vec::new();
        for i in 0..1000u64 {
            let now = start + Duration::from_millis(i);
            let delivery = shaper.schedule(now, 100, &conditions);
            assert!(delivery >= previous, "segment {i} overtook the one before");
            assert!(delivery >= now + Duration::from_millis(100), "segment {i}");
            previous = delivery;
            own_delays.push(delivery - now);
        }
        // The delay is drawn, not fixed: segments sent 1 ms apart are not all equally late.
        let distinct: std::collections::BTreeSet<_> = own_delays.iter().collect();
        assert!(distinct.len() > 100);
    }

    #[test]
    fn the_same_seed_draws_the_same_delays() {
        let conditions = link("latency=100ms,jitter=90ms,loss=10%");
        let start = Instant::now();
        let run = |seed| {
            let mut shaper = Shaper::new(seed);
            (0..200u64)
                .map(|i| shaper.schedule(start + Duration::from_millis(i * 50), 500, &conditions))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn a_lost_segment_stalls_by_a_retransmission_timeout_and_keeps_its_place() {
        let conditions = link("latency=50ms,loss=30%");
        let mut shaper = Shaper::new(11);
        let start = Instant::now();
        let mut stalled = 0;
        let mut doubled = 0;
        let mut previous = start;
        for i in 0..500u64 {
            // Far apart, so a segment waits only on its own losses, never behind another's.
            let now = start + Duration::from_secs(i * 1000);
            let delivery = shaper.schedule(now, 100, &conditions);
            assert!(delivery >= previous);
            previous = delivery;
            let extra = (delivery - now) - conditions.latency;
            if extra.is_zero() {
                continue;
            }
            // max(200 ms, 2 × 50 ms) = 200 ms, then 400, 800 …: k losses stall 200 × (2^k - 1).
            let ms = u64::try_from(extra.as_millis()).expect("small");
            assert!(
                ms % 200 == 0 && (ms / 200 + 1).is_power_of_two(),
                "segment {i} stalled {extra:?}"
            );
            stalled += 1;
            if extra > Duration::from_millis(200) {
                doubled += 1;
            }
        }
        // 30 % of 500 ≈ 150 lost at least once, 9 % ≈ 45 twice: far from either bound.
        assert!((80..=220).contains(&stalled), "{stalled} stalled");
        assert!(doubled > 10, "{doubled} lost twice");
    }

    #[test]
    fn the_rto_follows_the_latency() {
        let conditions = link("latency=300ms,loss=100%");
        let mut shaper = Shaper::new(1);
        let start = Instant::now();
        // Every transmission is lost: 600 ms, doubling up to the ceiling, which is waited once
        // and then the segment goes (the model's floor for a dead link).
        let delivery = shaper.schedule(start, 10, &conditions);
        let stalls_ms = 600 + 1200 + 2400 + 4800 + 9600 + 19_200 + 38_400 + 60_000;
        assert_eq!(
            delivery - start,
            conditions.latency + Duration::from_millis(stalls_ms)
        );
    }

    #[test]
    fn seeds_from_names_are_stable_and_distinct() {
        assert_eq!(seed_of(&["a", "b"]), seed_of(&["a", "b"]));
        assert_ne!(seed_of(&["ab", ""]), seed_of(&["a", "b"]));
    }
}
