//! Matching observed JSON against expected JSON: exact or partial, with type matchers.
//!
//! An expected string that starts with `$` is a matcher: `$any`, `$string`, `$number`,
//! `$integer`, `$bool`, `$null`, `$object`, `$array`, `$time` (RFC 3339), `$uuid`, or
//! `$regex:<pattern>`. Write `$$` for a literal leading `$`.

use serde_json::Value;

/// The matchers by name (besides `$regex:<pattern>`), for messages and suggestions.
pub const NAMES: &[&str] = &[
    "$any", "$string", "$number", "$integer", "$bool", "$null", "$object", "$array", "$time",
    "$uuid",
];

/// Where and why a value did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {path}: {message}")]
pub struct Mismatch {
    pub path: String,
    pub message: String,
}

/// Checks `actual` against `expected`; with `partial`, objects may have extra keys.
pub fn check(expected: &Value, actual: &Value, partial: bool) -> Result<(), Mismatch> {
    check_at("$", expected, actual, partial)
}

fn fail(path: &str, message: String) -> Result<(), Mismatch> {
    Err(Mismatch {
        path: path.to_owned(),
        message,
    })
}

fn check_at(path: &str, expected: &Value, actual: &Value, partial: bool) -> Result<(), Mismatch> {
    match (expected, actual) {
        (Value::String(pattern), _) if is_matcher(pattern) => check_matcher(path, pattern, actual),
        (Value::String(literal), Value::String(got)) if literal.starts_with("$$") => {
            if literal[1..] == *got {
                Ok(())
            } else {
                fail(path, format!("expected {:?}, got {got:?}", &literal[1..]))
            }
        }
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                match got.get(key) {
                    Some(actual) => check_at(&format!("{path}.{key}"), value, actual, partial)?,
                    None => return fail(path, format!("missing key {key:?}")),
                }
            }
            if !partial && let Some(extra) = got.keys().find(|k| !want.contains_key(*k)) {
                return fail(path, format!("unexpected key {extra:?}"));
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                return fail(
                    path,
                    format!("expected {} items, got {}", want.len(), got.len()),
                );
            }
            want.iter()
                .zip(got)
                .enumerate()
                .try_for_each(|(i, (w, g))| check_at(&format!("{path}[{i}]"), w, g, partial))
        }
        (Value::Number(want), Value::Number(got)) if want.as_f64() == got.as_f64() => Ok(()),
        _ if expected == actual => Ok(()),
        _ => fail(path, format!("expected {expected}, got {actual}")),
    }
}

fn check_matcher(path: &str, pattern: &str, actual: &Value) -> Result<(), Mismatch> {
    let ok = match pattern {
        "$any" => true,
        "$string" => actual.is_string(),
        "$number" => actual.is_number(),
        "$integer" => actual.is_i64() || actual.is_u64(),
        "$bool" => actual.is_boolean(),
        "$null" => actual.is_null(),
        "$object" => actual.is_object(),
        "$array" => actual.is_array(),
        "$time" => actual.as_str().is_some_and(is_rfc3339),
        "$uuid" => actual.as_str().is_some_and(is_uuid),
        _ => match pattern.strip_prefix("$regex:") {
            Some(re) => {
                let regex = regex::Regex::new(re).map_err(|e| Mismatch {
                    path: path.to_owned(),
                    message: format!("bad regex {re:?}: {e}"),
                })?;
                actual.as_str().is_some_and(|s| regex.is_match(s))
            }
            None => {
                return fail(
                    path,
                    format!("unknown matcher {pattern:?} (write $$ for a literal $)"),
                );
            }
        },
    };
    if ok {
        Ok(())
    } else {
        fail(path, format!("expected {pattern}, got {actual}"))
    }
}

/// Whether an expected string is a matcher (`$integer`, `$regex:...`) rather than a literal.
pub fn is_matcher(expected: &str) -> bool {
    expected.starts_with('$') && !expected.starts_with("$$")
}

pub fn is_rfc3339(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

pub fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Follows a dotted path (`0.id`, `body.items.2`) into a value.
pub fn select<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(value, |current, segment| match current {
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            Value::Object(map) => map.get(segment),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_and_partial_objects() {
        let actual = json!({"id": "n1", "error": "x"});
        assert!(check(&json!({"id": "n1", "error": "x"}), &actual, false).is_ok());
        assert!(check(&json!({"id": "n1"}), &actual, false).is_err());
        assert!(check(&json!({"id": "n1"}), &actual, true).is_ok());
        let error = check(&json!({"id": "n2"}), &actual, true).expect_err("differs");
        assert_eq!(error.path, "$.id");
    }

    #[test]
    fn matchers() {
        assert!(check(&json!("$time"), &json!("2026-01-01T00:00:00.000Z"), false).is_ok());
        assert!(check(&json!("$time"), &json!("yesterday"), false).is_err());
        assert!(
            check(
                &json!("$uuid"),
                &json!("0b9e1f3c-7d1a-4c55-9a53-0f1e2d3c4b5a"),
                false
            )
            .is_ok()
        );
        assert!(check(&json!("$regex:^n-"), &json!("n-alice-1"), false).is_ok());
        assert!(check(&json!("$integer"), &json!(1.5), false).is_err());
        assert!(check(&json!("$$literal"), &json!("$literal"), false).is_ok());
        assert!(check(&json!("$nonsense"), &json!(1), false).is_err());
        assert!(check(&json!([1, "$any"]), &json!([1.0, {"x": 1}]), false).is_ok());
        assert!(check(&json!([1]), &json!([1, 2]), true).is_err());
    }

    #[test]
    fn select_paths() {
        let value = json!([{"id": "n1", "tags": ["a", "b"]}]);
        assert_eq!(select(&value, "0.id"), Some(&json!("n1")));
        assert_eq!(select(&value, "0.tags.1"), Some(&json!("b")));
        assert_eq!(select(&value, "1.id"), None);
    }
}
