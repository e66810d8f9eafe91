//! `network`: a client's link shaped (latency, jitter, bandwidth, loss) from this step on, or
//! made clean again; the values in the units [`crate::shaping`] reads.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::parse::Clients;
use crate::shaping::{self, Conditions};

/// `network: {client: a, latency: 150ms, jitter: 50ms, bandwidth: 256kbps, loss: "1%"}` shapes
/// both directions of the client's link, for its open and future connections, from this step
/// on (see [`crate::shaping`] for the model). Unset settings are clean: `network: {client: a}`,
/// or `reset: true`, gives back a clean link.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkStep {
    pub client: String,
    /// One-way delay, `ms` or `s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LinkDelay>,
    /// The delay varies by up to this much either way (never reordering bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<LinkDelay>,
    /// Per direction: `bps`, `kbps` or `mbps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// A percentage (`"1%"`): how often a segment is lost and retransmitted late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// Back to a clean link (takes no other setting).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// The draws' seed; default: one derived from the scenario's and the client's names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl NetworkStep {
    pub fn conditions(&self) -> Conditions {
        Conditions {
            latency: self.latency.map_or(Duration::ZERO, |d| d.0),
            jitter: self.jitter.map_or(Duration::ZERO, |d| d.0),
            bandwidth_bps: self.bandwidth.map(|b| b.0),
            loss_ppm: self.loss.map_or(0, |l| l.0),
        }
    }

    /// Whether any setting besides `client`, `reset` and `seed` is given.
    pub fn shapes(&self) -> bool {
        self.latency.is_some()
            || self.jitter.is_some()
            || self.bandwidth.is_some()
            || self.loss.is_some()
    }

    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        if self.reset && self.shapes() {
            return Err(
                "`network` with `reset: true` takes no latency, jitter, bandwidth or loss".into(),
            );
        }
        clients.uses([self.client.as_str()])
    }
}

/// A link delay: `150ms` or `2s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkDelay(pub Duration);

/// Bits per second: `256kbps`, `2mbps`, `9600bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth(pub u64);

/// A loss rate in parts per million, written as a percentage: `"1%"`, `"0.5%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss(pub u32);

/// A YAML string read by one of [`crate::shaping`]'s parsers; `what` says what is expected.
fn shaping_value<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct TextVisitor<T> {
        what: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> de::Visitor<'_> for TextVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.what)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Err(E::custom(format!(
                "{v} has no unit: expected {}",
                self.what
            )))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            Err(E::custom(format!(
                "{v} has no unit: expected {}",
                self.what
            )))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            Err(E::custom(format!(
                "{v} has no unit: expected {}",
                self.what
            )))
        }
    }
    d.deserialize_any(TextVisitor { what, parse })
}

impl<'de> Deserialize<'de> for LinkDelay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaping_value(d, "a delay such as 150ms or 1s", shaping::parse_delay).map(LinkDelay)
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaping_value(
            d,
            "a bandwidth such as 256kbps or 2mbps",
            shaping::parse_bandwidth,
        )
        .map(Bandwidth)
    }
}

impl<'de> Deserialize<'de> for Loss {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        shaping_value(d, "a percentage such as \"1%\"", shaping::parse_loss).map(Loss)
    }
}

impl Serialize for LinkDelay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}bps", self.0))
    }
}

impl Serialize for Loss {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}%", f64::from(self.0) / 10_000.0))
    }
}

/// The schemas of the shaping values, next to their `Deserialize`: strings with a unit, as
/// [`crate::shaping`]'s parsers read them.
macro_rules! text_schema {
    ($type:ty, $name:literal, $description:literal, $pattern:literal) => {
        impl JsonSchema for $type {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "description": $description, "pattern": $pattern })
            }
        }
    };
}

text_schema!(
    LinkDelay,
    "LinkDelay",
    "A link delay: 150ms or 2s (at most 60s).",
    "^\\s*[0-9]+(ms|s)\\s*$"
);
text_schema!(
    Bandwidth,
    "Bandwidth",
    "Bits per second: 9600bps, 256kbps or 2mbps.",
    "^\\s*[0-9]+([bB]|[kK][bB]|[mM][bB])[pP][sS]\\s*$"
);
text_schema!(
    Loss,
    "Loss",
    "A percentage from 0% to 100%: \"1%\", \"0.5%\".",
    "^\\s*[0-9.]+\\s*%\\s*$"
);
