//! Redaction: values that differ between runs become numbered placeholders (`<session:1>`,
//! `<sid:1>`, `<uuid:1>`), times become `<time>`, and numbers are written the one way JSON means
//! them, so the same server behaviour always renders the same transcript text. A request body
//! keeps no secret: a value under a secret-looking key is `<secret>`, a JWT `<jwt>`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::matcher::{is_rfc3339, is_uuid};
use crate::record::secrets::{is_jwt, is_secret_key};

#[derive(Default)]
pub(super) struct Redactor {
    seen: HashMap<(&'static str, String), usize>,
    counts: HashMap<&'static str, usize>,
    /// Socket ids seen in `connect`: a payload that carries one gets its placeholder too.
    known_ids: HashSet<String>,
}

impl Redactor {
    /// A redactor that also numbers these socket ids where a payload carries them.
    pub(super) fn new(known_ids: HashSet<String>) -> Self {
        Self {
            known_ids,
            ..Self::default()
        }
    }

    pub(super) fn placeholder(&mut self, kind: &'static str, value: &str) -> String {
        let next = self.counts.get(kind).copied().unwrap_or(0) + 1;
        let n = *self
            .seen
            .entry((kind, value.to_owned()))
            .or_insert_with(|| {
                self.counts.insert(kind, next);
                next
            });
        format!("<{kind}:{n}>")
    }

    pub(super) fn json(&mut self, value: &Value) -> Value {
        match value {
            Value::String(text) if self.known_ids.contains(text) => {
                Value::String(self.placeholder("sid", text))
            }
            Value::String(text) if is_uuid(text) => Value::String(self.placeholder("uuid", text)),
            // Times are not numbered: two stamps taken in the same millisecond are equal by
            // chance, not by identity.
            Value::String(text) if looks_like_time(text) => Value::String("<time>".to_owned()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.json(v))).collect())
            }
            Value::Number(number) => Value::Number(canonical_number(number)),
            other => other.clone(),
        }
    }

    /// A body the scenario sent, secrets out, then redacted as any payload.
    pub(super) fn request_body(&mut self, body: &Value) -> Value {
        self.json(&without_secrets(body))
    }

    pub(super) fn args(&mut self, args: &[Value]) -> String {
        self.json(&Value::Array(args.to_vec())).to_string()
    }
}

fn without_secrets(value: &Value) -> Value {
    match value {
        Value::String(text) if is_jwt(text) => Value::String("<jwt>".to_owned()),
        Value::Array(items) => Value::Array(items.iter().map(without_secrets).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let item = if is_secret_key(key) && !item.is_null() {
                        Value::String("<secret>".to_owned())
                    } else {
                        without_secrets(item)
                    };
                    (key.clone(), item)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A number written the one way JSON means it: `95.0` and `95` are the same number (JavaScript
/// sends the second, serde the first), so an integral value is written without a fraction.
fn canonical_number(number: &serde_json::Number) -> serde_json::Number {
    match number.as_f64() {
        Some(value) if number.is_f64() && value.fract() == 0.0 && value.abs() < 9.0e15 => {
            serde_json::Number::from(value as i64)
        }
        _ => number.clone(),
    }
}

fn looks_like_time(text: &str) -> bool {
    text.len() >= 20 && text.as_bytes().get(4) == Some(&b'-') && is_rfc3339(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_are_written_one_way_and_fractions_kept() {
        let mut redactor = Redactor::default();
        let value: Value =
            serde_json::from_str(r#"[95.0, 95, 99.5, -3.0, 1e300, 0.1]"#).expect("JSON");
        assert_eq!(
            redactor.json(&value).to_string(),
            "[95,95,99.5,-3,1e+300,0.1]"
        );
    }
}
