//! From YAML text to checked scenarios. Every error names the file, line and column and quotes
//! the offending line, whether the YAML is malformed, a key is unknown, or a step makes no sense
//! (an `expect` with nothing to expect, a client used before it is connected: each step family's
//! file holds its own checks, [`Clients`] the clients earlier steps connected).

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde_saphyr::{Location, Spanned};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{Defaults, Millis, Scenario, ScenarioFile, Step, TokenSpec, defaults};
use crate::transcript::Redaction;

/// A scenario file: one scenario inline, or a list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sio-harness scenario file")]
struct Document {
    #[serde(default)]
    #[schemars(with = "Option<Vec<Scenario>>")]
    scenarios: Option<Vec<Spanned<Scenario>>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, Value>,
    #[serde(default)]
    tokens: BTreeMap<String, TokenSpec>,
    #[serde(default)]
    timeout: Option<Millis>,
    #[serde(default)]
    record_reconnect_attempts: bool,
    #[serde(default)]
    merge_transport_reasons: bool,
    #[serde(default)]
    #[schemars(with = "Vec<Redaction>")]
    redact: Vec<Spanned<Redaction>>,
    /// `namespace`, `path` and `transport` for every `connect` that does not say.
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    #[schemars(with = "Option<Vec<Step>>")]
    steps: Option<Vec<Spanned<Step>>>,
}

/// A mistake in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
    /// The source line the error points at (empty when unknown).
    pub source_line: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        write!(f, "  --> {}:{}:{}", self.file, self.line, self.column)?;
        if !self.source_line.is_empty() {
            let gutter = self.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret = " ".repeat(self.column.saturating_sub(1) as usize);
            write!(
                f,
                "\n{pad} |\n{gutter} | {}\n{pad} | {caret}^",
                self.source_line
            )?;
        }
        Ok(())
    }
}

impl ParseError {
    pub fn at(
        file: &str,
        source: &str,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> Self {
        let source_line = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|l| source.lines().nth(l))
            .unwrap_or_default()
            .to_owned();
        Self {
            file: file.to_owned(),
            line,
            column,
            message: message.into(),
            source_line,
        }
    }
}

/// The JSON Schema of a scenario file, generated from the types this parser reads (editors
/// validate and complete with it; `harness/schema/scenario.schema.json` is this, committed).
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Document)
}

/// Reads and parses a scenario file.
pub fn load_file(path: &Path) -> Result<ScenarioFile, ParseError> {
    let label = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| ParseError::at(&label, "", 0, 0, format!("cannot read the file: {e}")))?;
    parse_str(&label, &source)
}

/// Parses scenario text; `file` names it in errors.
pub fn parse_str(file: &str, source: &str) -> Result<ScenarioFile, ParseError> {
    let document: Document = serde_saphyr::from_str(source).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        ParseError::at(file, source, line, column, serde_message(&e.to_string()))
    })?;
    let file_defaults = document.defaults.clone();
    let mut scenarios = scenarios_of(file, source, document)?;
    let mut names = BTreeSet::new();
    for scenario in &mut scenarios {
        let steps = scenario.steps.iter_mut().map(|s| &mut s.value);
        defaults::apply(steps, &file_defaults).map_err(|(index, message)| {
            let (line, column) = scenario.steps.get(index).map_or((scenario.line, 1), |s| {
                (s.referenced.line(), s.referenced.column())
            });
            ParseError::at(file, source, line, column, message)
        })?;
        if !names.insert(scenario.name.clone()) {
            return Err(ParseError::at(
                file,
                source,
                scenario.line,
                1,
                format!("two scenarios are named {:?}", scenario.name),
            ));
        }
        check_scenario(file, source, scenario)?;
    }
    Ok(ScenarioFile {
        path: file.to_owned(),
        source: source.to_owned(),
        scenarios,
    })
}

/// serde-saphyr's message without its own location prefix and snippet (we render those).
pub(crate) fn serde_message(display: &str) -> String {
    let first = display.lines().next().unwrap_or(display);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.split_once(": ") {
        Some((location, rest)) if location.starts_with("line ") => rest.to_owned(),
        _ => first.to_owned(),
    }
}

fn scenarios_of(file: &str, source: &str, document: Document) -> Result<Vec<Scenario>, ParseError> {
    match (document.scenarios, document.steps) {
        (Some(list), None) if document.name.is_none() => {
            if list.is_empty() {
                return Err(ParseError::at(file, source, 1, 1, "`scenarios` is empty"));
            }
            // File-level vars, tokens and settings apply to every scenario that does not set its own.
            Ok(list
                .into_iter()
                .map(
                    |Spanned {
                         value: mut scenario,
                         referenced,
                         ..
                     }| {
                        scenario.line = referenced.line();
                        for (name, value) in &document.vars {
                            scenario
                                .vars
                                .entry(name.clone())
                                .or_insert_with(|| value.clone());
                        }
                        for (name, token) in &document.tokens {
                            scenario
                                .tokens
                                .entry(name.clone())
                                .or_insert_with(|| token.clone());
                        }
                        scenario.timeout = scenario.timeout.or(document.timeout);
                        scenario.record_reconnect_attempts |= document.record_reconnect_attempts;
                        scenario.merge_transport_reasons |= document.merge_transport_reasons;
                        scenario.redact.extend(document.redact.iter().cloned());
                        scenario
                    },
                )
                .collect())
        }
        (None, Some(steps)) => {
            let name = document
                .name
                .ok_or_else(|| ParseError::at(file, source, 1, 1, "a scenario needs a `name`"))?;
            Ok(vec![Scenario {
                name,
                description: document.description,
                vars: document.vars,
                tokens: document.tokens,
                timeout: document.timeout,
                record_reconnect_attempts: document.record_reconnect_attempts,
                merge_transport_reasons: document.merge_transport_reasons,
                redact: document.redact,
                steps,
                line: 1,
            }])
        }
        (Some(_), _) => Err(ParseError::at(
            file,
            source,
            1,
            1,
            "a file has either `scenarios: [...]` or one scenario's `name` and `steps`, not both",
        )),
        (None, None) => Err(ParseError::at(
            file,
            source,
            1,
            1,
            "no `steps` and no `scenarios`: nothing to run",
        )),
    }
}

fn check_scenario(file: &str, source: &str, scenario: &Scenario) -> Result<(), ParseError> {
    if scenario.steps.is_empty() {
        return Err(ParseError::at(
            file,
            source,
            scenario.line,
            1,
            format!("scenario {:?} has no steps", scenario.name),
        ));
    }
    for (name, token) in &scenario.tokens {
        if let Err(message) = token.check(name) {
            let (line, column) = key_position(source, name).unwrap_or((scenario.line, 1));
            return Err(ParseError::at(file, source, line, column, message));
        }
    }
    let at = |span: &Location, message| {
        ParseError::at(file, source, span.line(), span.column(), message)
    };
    for rule in &scenario.redact {
        rule.value
            .check()
            .map_err(|message| at(&rule.referenced, message))?;
    }
    let mut clients = Clients::default();
    for step in &scenario.steps {
        step.value
            .check(&mut clients)
            .map_err(|message| at(&step.referenced, message))?;
    }
    Ok(())
}

/// What the checks of one scenario know as they go through its steps: the clients that earlier
/// steps connected, and the broadcasters started and not yet stopped.
#[derive(Debug, Default)]
pub(crate) struct Clients<'a> {
    connected: BTreeSet<&'a str>,
    broadcasting: BTreeSet<&'a str>,
}

impl<'a> Clients<'a> {
    pub(crate) fn start_broadcaster(&mut self, name: &'a str) -> Result<(), String> {
        if self.broadcasting.insert(name) {
            Ok(())
        } else {
            Err(format!("broadcaster {name:?} is running already"))
        }
    }

    pub(crate) fn stop_broadcaster(&mut self, name: &str) -> Result<(), String> {
        if self.broadcasting.remove(name) {
            return Ok(());
        }
        Err(format!(
            "no broadcaster {name:?} is running here (running: {})",
            if self.broadcasting.is_empty() {
                "none".to_owned()
            } else {
                self.broadcasting
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    }

    pub(crate) fn connect(&mut self, name: &'a str) {
        self.connected.insert(name);
    }

    pub(crate) fn is_connected(&self, name: &str) -> bool {
        self.connected.contains(name)
    }

    /// An error for the first of `names` that no earlier step connected.
    pub(crate) fn uses<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Result<(), String> {
        let Some(unknown) = names.into_iter().find(|c| !self.connected.contains(c)) else {
            return Ok(());
        };
        Err(format!(
            "client {unknown:?} is not connected by an earlier step (known: {})",
            if self.connected.is_empty() {
                "none".to_owned()
            } else {
                self.connected
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    }
}

/// Where a map key `name:` first appears in `source` (tokens are not spanned one by one).
fn key_position(source: &str, name: &str) -> Option<(u64, u64)> {
    source.lines().enumerate().find_map(|(index, line)| {
        let trimmed = line.trim_start();
        let key = trimmed
            .strip_prefix(name)
            .or_else(|| trimmed.strip_prefix(&format!("{name:?}")))?;
        key.starts_with(':')
            .then(|| (index as u64 + 1, (line.len() - trimmed.len()) as u64 + 1))
    })
}
