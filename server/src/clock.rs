//! Timestamps in the one format every payload uses: JavaScript's `Date.toISOString()`.

use chrono::{SecondsFormat, Utc};

/// The current UTC time as `2026-11-25T22:34:57.123Z`.
pub fn now_iso() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}
