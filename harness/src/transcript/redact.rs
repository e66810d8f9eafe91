//! Redaction: values that differ between runs become numbered placeholders (`<session:1>`,
//! `<sid:1>`, `<uuid:1>`), times become `<time>`, and numbers are written the one way JSON means
//! them, so the same server behaviour always renders the same transcript text.
//!
//! Two more sources of stability. A value a step matched with a matcher (`at: $integer`) is
//! written as that matcher: the step said it does not care which value came, so neither does the
//! transcript (a value that has a placeholder keeps it, which also says which values are the same).
//! And a file may name what no step matches ([`Redaction`]): a path into one event's arguments,
//! an ack or an HTTP body, or a pattern over the transcript's lines, with what to write instead.
//! A request body keeps no secret: a value under a secret-looking key is `<secret>`, a JWT `<jwt>`.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use crate::matcher::{is_matcher, is_rfc3339, is_uuid};
use crate::record::secrets::{is_jwt, is_secret_key};

/// What a scenario file or a targets file asks to be written differently in transcripts:
/// `{path: quote.args.0.at, with: <at>}` or `{pattern: '"serverTime":\d+', with: '"serverTime":0'}`.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// `EVENT.args.PATH` (an event received or emitted), `EVENT.ack.PATH` (the ack answering an
    /// emit of EVENT), `http.body.PATH`; `*` stands for any event name, key or index.
    #[serde(default)]
    pub path: Option<String>,
    /// A regular expression replaced in every transcript line (`$1` in `with` for its groups).
    #[serde(default)]
    pub pattern: Option<String>,
    /// What to write instead (default `<redacted>`); with a `path`, any YAML value.
    #[serde(default)]
    pub with: Option<Value>,
}

const REDACTED: &str = "<redacted>";

impl Redaction {
    /// What is wrong with the rule, if anything (checked where the file is read).
    pub fn check(&self) -> Result<(), String> {
        match (&self.path, &self.pattern) {
            (Some(path), None) => {
                let (_, rest) = split_path(path, &["args", "ack", "body"]).ok_or_else(|| {
                    format!(
                        "redact path {path:?}: write EVENT.args.PATH (e.g. quote.args.0.at), \
                         EVENT.ack.PATH or http.body.PATH"
                    )
                })?;
                if rest.is_empty() {
                    return Err(format!("redact path {path:?} names no value"));
                }
                Ok(())
            }
            (None, Some(pattern)) => {
                regex::Regex::new(pattern).map_err(|e| format!("redact pattern: {e}"))?;
                if self.with.as_ref().is_some_and(|w| !w.is_string()) {
                    return Err("redact pattern: `with` must be a string".to_owned());
                }
                Ok(())
            }
            _ => Err("a redaction has either `path` or `pattern` (and `with`)".to_owned()),
        }
    }

    fn replacement(&self) -> Value {
        self.with
            .clone()
            .unwrap_or_else(|| Value::String(REDACTED.to_owned()))
    }
}

/// `EVENT.kind.rest` for one of `kinds`: the event (which may hold dots) and the rest's segments.
fn split_path<'p>(path: &'p str, kinds: &[&str]) -> Option<(&'p str, Vec<&'p str>)> {
    kinds.iter().find_map(|kind| {
        let marker = format!(".{kind}.");
        let at = path.rfind(&marker)?;
        let rest = &path[at + marker.len()..];
        Some((&path[..at], rest.split('.').collect()))
    })
}

/// Which value a path rule is asked about: an event's (or an emit's) arguments, the ack that
/// answered an emit of an event, or an HTTP body.
#[derive(Clone, Copy)]
pub(super) enum Site<'a> {
    Args(&'a str),
    Ack(&'a str),
    HttpBody,
}

#[derive(Default)]
pub(super) struct Redactor {
    seen: HashMap<(&'static str, String), usize>,
    counts: HashMap<&'static str, usize>,
    /// Socket ids seen in `connect`: a payload that carries one gets its placeholder too.
    known_ids: HashSet<String>,
    rules: Vec<Redaction>,
    /// The pattern rules, compiled once (rules were checked when their file was read).
    patterns: Vec<(regex::Regex, String)>,
}

impl Redactor {
    /// A redactor that also numbers these socket ids where a payload carries them, and applies
    /// these rules.
    pub(super) fn new(known_ids: HashSet<String>, rules: Vec<Redaction>) -> Self {
        let patterns = rules
            .iter()
            .filter_map(|rule| {
                let regex = regex::Regex::new(rule.pattern.as_ref()?).ok()?;
                let with = rule.replacement();
                Some((regex, with.as_str().unwrap_or(REDACTED).to_owned()))
            })
            .collect();
        Self {
            known_ids,
            rules,
            patterns,
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
        self.shaped(value, None)
    }

    /// `value` as the transcript writes it, where `shape` is what a step matched it against:
    /// under a matcher, the matcher.
    pub(super) fn shaped(&mut self, value: &Value, shape: Option<&Value>) -> Value {
        match (value, shape) {
            (Value::String(text), _) if self.known_ids.contains(text) => {
                Value::String(self.placeholder("sid", text))
            }
            (Value::String(text), _) if is_uuid(text) => {
                Value::String(self.placeholder("uuid", text))
            }
            // Times are not numbered: two stamps taken in the same millisecond are equal by
            // chance, not by identity.
            (Value::String(text), _) if looks_like_time(text) => Value::String("<time>".to_owned()),
            (_, Some(Value::String(matcher))) if is_matcher(matcher) => {
                Value::String(matcher.clone())
            }
            (Value::Array(items), shape) => {
                let shapes = shape.and_then(Value::as_array);
                Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| self.shaped(v, shapes.and_then(|s| s.get(i))))
                        .collect(),
                )
            }
            (Value::Object(map), shape) => {
                let shapes = shape.and_then(Value::as_object);
                Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), self.shaped(v, shapes.and_then(|s| s.get(k)))))
                        .collect(),
                )
            }
            (Value::Number(number), _) => Value::Number(canonical_number(number)),
            (other, _) => other.clone(),
        }
    }

    /// A body the scenario sent, secrets out, then redacted as any payload.
    pub(super) fn request_body(&mut self, body: &Value) -> Value {
        self.json(&without_secrets(body))
    }

    /// Arguments (or an ack's) as the transcript writes them: path rules for `site`, then
    /// [`Redactor::shaped`].
    pub(super) fn args(&mut self, site: Site<'_>, args: &[Value], shape: Option<&Value>) -> String {
        let value = self.by_path(site, Value::Array(args.to_vec()));
        self.shaped(&value, shape).to_string()
    }

    /// `value` with every path rule for `site` applied.
    pub(super) fn by_path(&self, site: Site<'_>, mut value: Value) -> Value {
        for rule in &self.rules {
            let Some(path) = &rule.path else { continue };
            let (kind, name) = match site {
                Site::Args(event) => ("args", event),
                Site::Ack(event) => ("ack", event),
                Site::HttpBody => ("body", "http"),
            };
            let Some((event, rest)) = split_path(path, &[kind]) else {
                continue;
            };
            if event == name || (event == "*" && !matches!(site, Site::HttpBody)) {
                replace_at(&mut value, &rest, &rule.replacement());
            }
        }
        value
    }

    /// A finished line with every pattern rule applied.
    pub(super) fn line(&self, line: String) -> String {
        self.patterns.iter().fold(line, |line, (regex, with)| {
            regex.replace_all(&line, with.as_str()).into_owned()
        })
    }
}

/// Replaces what `segments` lead to (`*`: every key or item) with `with`, where it exists.
fn replace_at(value: &mut Value, segments: &[&str], with: &Value) {
    let Some((first, rest)) = segments.split_first() else {
        *value = with.clone();
        return;
    };
    let children: Vec<&mut Value> = match value {
        Value::Array(items) if *first == "*" => items.iter_mut().collect(),
        Value::Array(items) => first
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get_mut(i))
            .into_iter()
            .collect(),
        Value::Object(map) if *first == "*" => map.values_mut().collect(),
        Value::Object(map) => map.get_mut(*first).into_iter().collect(),
        _ => Vec::new(),
    };
    for child in children {
        replace_at(child, rest, with);
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
    use serde_json::json;

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

    #[test]
    fn what_a_matcher_matched_is_written_as_the_matcher_and_placeholders_stay() {
        let mut redactor = Redactor::default();
        let uuid = "0b9e1f3c-7d1a-4c55-9a53-0f1e2d3c4b5a";
        let got = json!([{"at": 1796581393775_u64, "price": 101.5, "id": uuid, "tags": ["a", 7], "extra": 3}]);
        let shape = json!([{"at": "$integer", "price": 101.5, "id": "$uuid", "tags": "$any"}]);
        assert_eq!(
            redactor.shaped(&got, Some(&shape)).to_string(),
            r#"[{"at":"$integer","extra":3,"id":"<uuid:1>","price":101.5,"tags":"$any"}]"#
        );
        // A literal `$$` in the step is not a matcher: the value stays.
        assert_eq!(
            redactor
                .shaped(&json!("$x"), Some(&json!("$$x")))
                .to_string(),
            r#""$x""#
        );
    }

    #[test]
    fn path_rules_reach_one_event_its_acks_or_http_bodies_and_patterns_reach_lines() {
        let rules: Vec<Redaction> = serde_json::from_value(json!([
            {"path": "quote.args.0.at", "with": "<at>"},
            {"path": "*.args.*.serverTime"},
            {"path": "order.ack.0.at", "with": 0},
            {"path": "http.body.items.*.at"},
            {"pattern": "ord-[0-9]+", "with": "ord-N"},
        ]))
        .expect("rules");
        for rule in &rules {
            rule.check().expect("valid");
        }
        let mut redactor = Redactor::new(HashSet::new(), rules);
        let quote = [json!({"at": 1, "price": 2})];
        assert_eq!(
            redactor.args(Site::Args("quote"), &quote, None),
            r#"[{"at":"<at>","price":2}]"#
        );
        assert_eq!(
            redactor.args(Site::Args("trade"), &quote, None),
            r#"[{"at":1,"price":2}]"#
        );
        assert_eq!(
            redactor.args(Site::Args("welcome"), &[json!({"serverTime": 5})], None),
            r#"[{"serverTime":"<redacted>"}]"#
        );
        assert_eq!(
            redactor.args(
                Site::Ack("order"),
                &[json!({"at": 9, "id": "ord-12"})],
                None
            ),
            r#"[{"at":0,"id":"ord-12"}]"#
        );
        let body = redactor.by_path(Site::HttpBody, json!({"items": [{"at": 1}, {"at": 2}]}));
        assert_eq!(
            body,
            json!({"items": [{"at": "<redacted>"}, {"at": "<redacted>"}]})
        );
        assert_eq!(
            redactor.line("ack / 0 [\"ord-12\"]".into()),
            "ack / 0 [\"ord-N\"]"
        );
    }

    #[test]
    fn bad_rules_say_what_to_write() {
        let rule = |value: Value| -> Redaction { serde_json::from_value(value).expect("rule") };
        let message = rule(json!({"path": "quote.at"}))
            .check()
            .expect_err("no args");
        assert!(message.contains("EVENT.args.PATH"), "{message}");
        assert!(rule(json!({"pattern": "("})).check().is_err());
        assert!(
            rule(json!({"path": "a.args.0", "pattern": "x"}))
                .check()
                .is_err()
        );
        assert!(rule(json!({"pattern": "x", "with": 3})).check().is_err());
    }
}
