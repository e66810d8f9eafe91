//! What `check` refuses beyond parsing, because the file alone shows it would fail at run time:
//! a `{{variable}}` that nothing defines (not the scenario's `vars` or `tokens`, a capture of an
//! earlier step, a built-in such as `{{run.id}}`, a broadcaster's `{{tick}}` in its own steps,
//! nor a `--var`), an unknown matcher in an
//! expectation (`$strng`, with the nearest known one suggested), and an `emit`, `ack` or
//! `expect` on a namespace its client never connected. Each error points at the line and column
//! of the mistake, as the parser's do.
//!
//! Steps are read through their YAML/JSON form (the same form the writer uses), so a new field
//! holding templates or expectations is covered without a change here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::matcher;
use crate::scenario::{ParseError, Scenario, ScenarioFile};

/// Variables every scenario has, set by the runner.
const BUILT_INS: &[&str] = &["run"];

/// Every mistake in `file`, in order; `extra_vars` are names given with `--var`.
pub fn check_file(file: &ScenarioFile, extra_vars: &BTreeSet<String>) -> Vec<ParseError> {
    let mut errors = Vec::new();
    for scenario in &file.scenarios {
        check_scenario(file, scenario, extra_vars, &mut errors);
    }
    errors
}

fn check_scenario(
    file: &ScenarioFile,
    scenario: &Scenario,
    extra_vars: &BTreeSet<String>,
    errors: &mut Vec<ParseError>,
) {
    let mut defined: BTreeSet<String> = BUILT_INS.iter().map(|b| (*b).to_owned()).collect();
    defined.extend(extra_vars.iter().cloned());
    defined.extend(scenario.vars.keys().cloned());
    defined.extend(scenario.tokens.keys().cloned());
    let mut namespaces: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for step in &scenario.steps {
        let Ok(Value::Object(tagged)) = serde_json::to_value(&step.value) else {
            continue;
        };
        let Some((keyword, body)) = tagged.into_iter().next() else {
            continue;
        };
        let at = Position {
            file,
            line: step.referenced.line(),
            column: step.referenced.column(),
        };
        // `{{tick}}` is a broadcaster's own: each request's number, and what `deliveries` looks for.
        let own = matches!(keyword.as_str(), "broadcaster" | "deliveries").then_some("tick");
        for name in template_names(&body) {
            if !defined.contains(head(&name)) && own != Some(head(&name)) {
                errors.push(at.find(
                    &format!("{{{{{name}"),
                    format!(
                        "undefined variable {{{{{name}}}}}: no `vars`, `tokens`, earlier `capture` or --var defines {:?} (built in: {})",
                        head(&name),
                        BUILT_INS.join(", ")
                    ),
                ));
            }
        }
        for expected in expectations(&keyword, &body) {
            for unknown in unknown_matchers(expected) {
                let hint = nearest(&unknown)
                    .map(|known| format!("; did you mean {known}?"))
                    .unwrap_or_default();
                errors.push(at.find(
                    &unknown,
                    format!(
                        "unknown matcher {unknown} (known: {}, $regex:PATTERN; $$ for a literal $){hint}",
                        matcher::NAMES.join(", ")
                    ),
                ));
            }
        }
        if let Some(error) = namespace_error(&keyword, &body, &mut namespaces) {
            errors.push(at.find("namespace", error));
        }
        defined.extend(capture_names(&body));
    }
}

/// Where a step starts, to point into it.
struct Position<'a> {
    file: &'a ScenarioFile,
    line: u64,
    column: u64,
}

impl Position<'_> {
    /// An error at the first `needle` from the step's start on (within the step's lines, up to
    /// the next step), else at the step.
    fn find(&self, needle: &str, message: String) -> ParseError {
        let source = &self.file.source;
        let start = usize::try_from(self.line.saturating_sub(1)).unwrap_or(0);
        let found = source
            .lines()
            .enumerate()
            .skip(start)
            .take_while(|(index, line)| *index == start || !line.trim_start().starts_with("- "))
            .find_map(|(index, line)| {
                let skip = if index == start {
                    usize::try_from(self.column.saturating_sub(1)).unwrap_or(0)
                } else {
                    0
                };
                let column = line.get(skip..)?.find(needle)? + skip;
                Some((index as u64 + 1, column as u64 + 1))
            });
        let (line, column) = found.unwrap_or((self.line, self.column));
        ParseError::at(&self.file.path, source, line, column, message)
    }
}

/// The first segment of a dotted name: `note` of `note.id`.
fn head(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Every `{{name}}` in the strings (and keys) of `value`.
fn template_names(value: &Value) -> Vec<String> {
    let mut names = Vec::new();
    walk_strings(value, &mut |text| {
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            names.push(after[..end].trim().to_owned());
            rest = &after[end + 2..];
        }
    });
    names
}

fn walk_strings(value: &Value, visit: &mut impl FnMut(&str)) {
    match value {
        Value::String(text) => visit(text),
        Value::Array(items) => items.iter().for_each(|item| walk_strings(item, visit)),
        Value::Object(map) => {
            for (key, item) in map {
                visit(key);
                walk_strings(item, visit);
            }
        }
        _ => {}
    }
}

/// The parts of a step that are matched against what arrives (where `$...` is a matcher; in
/// what a step sends, a `$` string is sent as it is).
fn expectations<'a>(keyword: &str, body: &'a Value) -> Vec<&'a Value> {
    let field = |name: &str| body.get(name);
    let parts = match keyword {
        "expect" => {
            let mut parts = vec![field("args"), field("connect_error")];
            if let Some(Value::Array(events)) = field("events") {
                parts.extend(events.iter().map(|e| e.get("args")));
            }
            parts
        }
        "emit" => vec![field("ack").and_then(|ack| ack.get("args"))],
        "http" => vec![field("expect_body")],
        "connect" => vec![field("expect")],
        _ => Vec::new(),
    };
    parts.into_iter().flatten().collect()
}

/// The `$...` strings in `expected` that no matcher takes.
fn unknown_matchers(expected: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    walk_strings(expected, &mut |text| {
        if text.starts_with('$')
            && !text.starts_with("$$")
            && matcher::check(&Value::String(text.to_owned()), &Value::Null, true)
                .is_err_and(|m| m.message.starts_with("unknown matcher"))
        {
            unknown.push(text.to_owned());
        }
    });
    unknown
}

/// The known matcher nearest to `unknown` by edit distance, if it is a likely misspelling.
fn nearest(unknown: &str) -> Option<&'static str> {
    matcher::NAMES
        .iter()
        .map(|known| (edit_distance(unknown, known), *known))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let replace = previous[j] + usize::from(ca != *cb);
            current.push(replace.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Records a `connect`'s namespace; for an `emit`, `ack` or `expect`, an error when its client
/// connected other namespaces but not this one.
fn namespace_error(
    keyword: &str,
    body: &Value,
    connected: &mut BTreeMap<String, BTreeSet<String>>,
) -> Option<String> {
    let namespace = body.get("namespace").and_then(Value::as_str).unwrap_or("/");
    let clients: Vec<&str> = match body.get("clients") {
        Some(Value::Array(list)) if !list.is_empty() => {
            list.iter().filter_map(Value::as_str).collect()
        }
        _ => body
            .get("client")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
    };
    if keyword == "connect" {
        for client in clients {
            connected
                .entry(client.to_owned())
                .or_default()
                .insert(namespace.to_owned());
        }
        return None;
    }
    if !matches!(keyword, "emit" | "ack" | "expect") {
        return None;
    }
    clients.into_iter().find_map(|client| {
        let known = connected.get(client)?;
        (!known.contains(namespace)).then(|| {
            format!(
                "{keyword} on namespace {namespace}, which {client:?} never connected (it connected {}); add `namespace:` or connect it first",
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    })
}

/// Names an `expect` or `http` step captures into, for the steps after it.
fn capture_names(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut take = |capture: Option<&Value>| {
        if let Some(Value::Object(map)) = capture {
            names.extend(map.keys().cloned());
        }
    };
    take(body.get("capture"));
    if let Some(Value::Array(events)) = body.get("events") {
        events.iter().for_each(|event| take(event.get("capture")));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_matcher_is_one_the_matcher_takes() {
        for name in matcher::NAMES {
            assert!(
                unknown_matchers(&Value::String((*name).to_owned())).is_empty(),
                "{name}"
            );
        }
        assert_eq!(
            unknown_matchers(&serde_json::json!(["$regex:^a", "$$x", "$nope"])),
            ["$nope"]
        );
    }

    #[test]
    fn a_misspelt_matcher_gets_the_nearest_known_one() {
        assert_eq!(nearest("$strng"), Some("$string"));
        assert_eq!(nearest("$interger"), Some("$integer"));
        assert_eq!(nearest("$whatever"), None);
    }
}
