//! Matchers for what a client received: values that change from run to run (ids, times, socket
//! ids, tokens) become `$uuid`, `$time`, `$integer`, `$number` or `$string`, so a replay against
//! the same server still matches. Each id replaced is remembered with where it came from (the
//! step and the path into its arguments or body), so a later step that sends it back can
//! `capture` it there instead of repeating the recorded value.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::secrets::is_jwt;
use crate::matcher::{is_rfc3339, is_uuid};

/// Where a run-dependent id was first received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index of the step that received it.
    pub step: usize,
    /// A path for `capture`, e.g. `0.id` (event arguments) or `body.id` (HTTP).
    pub path: String,
    /// The key it was under, to name the variable.
    pub key: Option<String>,
}

/// Epoch milliseconds between 2001 and 2286: a time, whatever the key.
const EPOCH_MS: std::ops::Range<i64> = 1_000_000_000_000..10_000_000_000_000;

fn is_time_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    key.ends_with("At")
        || lower.ends_with("_at")
        || ["at", "time", "timestamp", "ts", "date", "now", "uptime"].contains(&lower.as_str())
}

fn is_id_key(key: &str) -> bool {
    key == "id" || key.ends_with("Id") || key.ends_with("_id")
}

/// Keys whose string values are connection ids, new on every run.
fn is_connection_id_key(key: &str) -> bool {
    matches!(key, "sid" | "socketId" | "socket_id" | "connectionId")
}

/// The matcher for a run-dependent value, and whether it is an id worth capturing.
fn matcher_for(key: Option<&str>, value: &Value) -> Option<(&'static str, bool)> {
    match value {
        Value::String(text) if is_uuid(text) => Some(("$uuid", true)),
        Value::String(text) if is_rfc3339(text) => Some(("$time", false)),
        Value::String(text) if is_jwt(text) => Some(("$string", false)),
        Value::String(_) if key.is_some_and(is_connection_id_key) => Some(("$string", true)),
        Value::Number(_) if key.is_some_and(is_time_key) => Some(("$number", false)),
        Value::Number(n) if n.as_i64().is_some_and(|v| EPOCH_MS.contains(&v)) => {
            Some(("$integer", false))
        }
        Value::Number(n) if n.is_i64() && key.is_some_and(is_id_key) => Some(("$integer", true)),
        _ => None,
    }
}

/// The received values seen so far that a later step may send back.
#[derive(Debug, Default)]
pub struct Inference {
    origins: HashMap<String, Origin>,
    /// Ids already captured into a variable: expected as `{{variable}}` from then on.
    captured: HashMap<String, String>,
}

impl Inference {
    /// `value` as an expectation. With `at` (the step index and the capture path of `value`
    /// itself), the ids replaced are remembered for [`Inference::origin`].
    pub fn expected(&mut self, value: &Value, at: Option<(usize, &str)>) -> Value {
        self.expected_at(None, value, at)
    }

    fn expected_at(
        &mut self,
        key: Option<&str>,
        value: &Value,
        at: Option<(usize, &str)>,
    ) -> Value {
        // Strings only: a captured uuid or socket id is unique, a number such as 42 is not.
        if value.is_string()
            && let Some(variable) = self.captured.get(&value.to_string())
        {
            return json!(format!("{{{{{variable}}}}}"));
        }
        if let Some((matcher, is_id)) = matcher_for(key, value) {
            if let (true, Some((step, path))) = (is_id, at) {
                self.origins.entry(value.to_string()).or_insert(Origin {
                    step,
                    path: path.to_owned(),
                    key: key.map(str::to_owned),
                });
            }
            return json!(matcher);
        }
        let join = |path: &str, part: &str| {
            if path.is_empty() {
                part.to_owned()
            } else {
                format!("{path}.{part}")
            }
        };
        match value {
            // A literal leading `$` would be read as a matcher: `$$` escapes it.
            Value::String(text) if text.starts_with('$') => json!(format!("${text}")),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let path = at.map(|(step, path)| (step, join(path, &i.to_string())));
                        self.expected_at(key, item, path.as_ref().map(|(s, p)| (*s, p.as_str())))
                    })
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, item)| {
                        let path = at.map(|(step, path)| (step, join(path, k)));
                        let expected = self.expected_at(
                            Some(k),
                            item,
                            path.as_ref().map(|(s, p)| (*s, p.as_str())),
                        );
                        (k.clone(), expected)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// From now on, `value` is expected as the `variable` it was captured into.
    pub fn captured_as(&mut self, value: &Value, variable: &str) {
        self.captured.insert(value.to_string(), variable.to_owned());
    }

    /// Where `value` was received first, if it is a run-dependent id.
    pub fn origin(&self, value: &Value) -> Option<&Origin> {
        self.origins.get(&value.to_string())
    }

    /// The remembered ids that occur inside `text` (a URL path), with where they came from.
    pub fn origins_in<'a>(
        &'a self,
        text: &'a str,
    ) -> impl Iterator<Item = (String, &'a Origin)> + 'a {
        self.origins
            .iter()
            .filter_map(move |(json, origin)| match serde_json::from_str(json) {
                Ok(Value::String(id)) if id.len() >= 8 && text.contains(&id) => Some((id, origin)),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dependent_values_become_matchers_and_ids_are_remembered() {
        let mut inference = Inference::default();
        let received = json!([{
            "id": "3f0c3a4e-9a51-4c1e-8f7a-2b8d1c0e9a77",
            "createdAt": "2026-11-27T22:00:00.000Z",
            "sentAt": 1_795_000_000_000_i64,
            "count": 3,
            "userId": "user-1",
            "price": "$5",
            "rowId": 42,
        }]);
        let expected = inference.expected(&received, Some((4, "")));
        assert_eq!(
            expected,
            json!([{
                "id": "$uuid",
                "createdAt": "$time",
                "sentAt": "$number",
                "count": 3,
                "userId": "user-1",
                "price": "$$5",
                "rowId": "$integer",
            }])
        );
        let origin = inference
            .origin(&json!("3f0c3a4e-9a51-4c1e-8f7a-2b8d1c0e9a77"))
            .expect("the uuid is remembered");
        assert_eq!((origin.step, origin.path.as_str()), (4, "0.id"));
        assert_eq!(
            inference.origin(&json!(42)).map(|o| o.path.as_str()),
            Some("0.rowId")
        );
        assert!(inference.origin(&json!("user-1")).is_none());
        let in_path: Vec<_> = inference
            .origins_in("/api/v1/notifications/3f0c3a4e-9a51-4c1e-8f7a-2b8d1c0e9a77/read")
            .map(|(id, _)| id)
            .collect();
        assert_eq!(in_path, ["3f0c3a4e-9a51-4c1e-8f7a-2b8d1c0e9a77"]);

        let id = json!("3f0c3a4e-9a51-4c1e-8f7a-2b8d1c0e9a77");
        inference.captured_as(&id, "id");
        inference.captured_as(&json!(42), "rowId");
        let echoed = inference.expected(&json!({"note": id, "rowId": 42, "count": 42}), None);
        assert_eq!(
            echoed,
            json!({"note": "{{id}}", "rowId": "$integer", "count": 42})
        );
    }
}
