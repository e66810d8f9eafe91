//! Timestamps in the one format every payload uses: JavaScript's `Date.toISOString()`.

use chrono::{DateTime, SecondsFormat, Utc};

/// The current UTC time as `2026-11-25T22:34:57.123Z`.
pub fn now_iso() -> String {
    iso(Utc::now())
}

/// `at` as `2026-11-25T22:34:57.123Z`.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds since the Unix epoch, as leases store their expiry.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}
