//! The random values generated frames carry: event names of a given size, JSON arguments,
//! Unicode and printable text, raw bytes.

use rand::Rng;
use serde_json::{Value, json};

use super::Generator;

impl Generator {
    /// `42["notification:read","xxx…"]` of exactly `size` bytes (as an Engine.IO packet: with
    /// its leading `4`).
    pub(super) fn sized_event(&mut self, size: usize) -> String {
        let frame = r#"42["notification:read",""]"#;
        let filler = ["x", "é", "\\\"", "0"][self.rng.random_range(0..4)];
        let room = size.saturating_sub(frame.len());
        let mut fill = filler.repeat(room / filler.len());
        fill.push_str(&"x".repeat(room - fill.len()));
        format!(r#"42["notification:read","{fill}"]"#)
    }

    pub(super) fn args(&mut self, max: usize) -> Value {
        let count = self.rng.random_range(0..=max);
        Value::Array((0..count).map(|_| self.json_value(2)).collect())
    }

    pub(super) fn json_value(&mut self, depth: u32) -> Value {
        match self.rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.rng.random_bool(0.5)),
            2 => json!(self.rng.random_range(-1_000_000i64..1_000_000)),
            3 => json!(self.rng.random::<f64>() * 1e6),
            4 => Value::String(self.unicode(0..24)),
            5 => Value::Array(
                (0..self.rng.random_range(0..4))
                    .map(|_| self.json_value(depth - 1))
                    .collect(),
            ),
            _ => {
                let mut object = serde_json::Map::new();
                for _ in 0..self.rng.random_range(0..4) {
                    object.insert(self.unicode(1..8), self.json_value(depth - 1));
                }
                Value::Object(object)
            }
        }
    }

    /// Any characters, controls and astral planes included.
    pub(super) fn unicode(&mut self, length: std::ops::Range<usize>) -> String {
        let n = self.rng.random_range(length);
        (0..n)
            .map(|_| match self.rng.random_range(0..4) {
                0 => char::from(self.rng.random_range(0..0x80u8)),
                1 => char::from_u32(self.rng.random_range(0x80..0xD800)).unwrap_or('?'),
                2 => char::from_u32(self.rng.random_range(0x1_0000..0x11_0000)).unwrap_or('?'),
                _ => char::from(self.rng.random_range(b'a'..=b'z')),
            })
            .collect()
    }

    pub(super) fn printable(&mut self, length: std::ops::Range<usize>) -> String {
        let n = self.rng.random_range(length);
        (0..n)
            .map(|_| char::from(self.rng.random_range(0x20..0x7fu8)))
            .collect()
    }

    pub(super) fn bytes(&mut self, length: std::ops::Range<usize>) -> Vec<u8> {
        let n = self.rng.random_range(length);
        (0..n).map(|_| self.rng.random()).collect()
    }
}
