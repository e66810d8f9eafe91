//! Durations as a scenario writes them: `250ms`, `2s`, `1m`, `1h`, a number of milliseconds, or
//! `-1h` where a time may lie in the past (token expiry). Read and written back the same way.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written `250ms`, `2s`, `1m`, or a number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub Duration);

/// A duration that may be negative (`-1h`), for token expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedMillis(pub i64);

/// Parses `250ms`, `2s`, `1m`, `1h`, `-1h` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let split = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 250ms, 2s or 1h"))?;
    let factor = match unit {
        "ms" | "" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "unknown duration unit {other:?}: use ms, s, m, h or d"
            ));
        }
    };
    let ms = number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too long"))?;
    Ok(if negative { -ms } else { ms })
}

/// A duration in the scenario syntax, in the largest unit that keeps it exact.
pub fn format_duration(ms: i64) -> String {
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    for (size, unit) in units {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 250ms, 2s or 1h")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("duration too long"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_duration_ms(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ms = d.deserialize_any(DurationVisitor)?;
        u64::try_from(ms)
            .map(|ms| Millis(Duration::from_millis(ms)))
            .map_err(|_| de::Error::custom("a duration here cannot be negative"))
    }
}

impl<'de> Deserialize<'de> for SignedMillis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor).map(SignedMillis)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ms = i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX);
        s.serialize_str(&format_duration(ms))
    }
}

impl Serialize for SignedMillis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl JsonSchema for Millis {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: 250ms, 2s, 1m, 1h, 1d, or a number of milliseconds.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+(ms|s|m|h|d)?\\s*$" }
            ]
        })
    }
}

impl JsonSchema for SignedMillis {
    fn schema_name() -> Cow<'static, str> {
        "SignedDuration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration that may be negative (in the past): -1h, 30s, or milliseconds.",
            "anyOf": [
                { "type": "integer" },
                { "type": "string", "pattern": "^\\s*-?[0-9]+(ms|s|m|h|d)?\\s*$" }
            ]
        })
    }
}
