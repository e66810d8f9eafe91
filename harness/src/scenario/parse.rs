//! From YAML text to checked scenarios. Every error names the file, line and column and quotes
//! the offending line, whether the YAML is malformed, a key is unknown, or a step makes no sense
//! (an `expect` with nothing to expect, a client used before it is connected).

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_saphyr::Spanned;

use super::ast::{Document, ExpectStep, Scenario, ScenarioFile, Step};

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
    let scenarios = scenarios_of(file, source, document)?;
    let mut names = BTreeSet::new();
    for scenario in &scenarios {
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
fn serde_message(display: &str) -> String {
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
        let problem = match &token.http {
            Some(_) if token.mints() => Some(format!(
                "token {name:?}: `http` fetches a token from the app; it takes no other key"
            )),
            Some(request) if !request.path.starts_with('/') => Some(format!(
                "token {name:?}: `path` must start with '/': {:?}",
                request.path
            )),
            _ => None,
        };
        if let Some(message) = problem {
            let (line, column) = key_position(source, name).unwrap_or((scenario.line, 1));
            return Err(ParseError::at(file, source, line, column, message));
        }
    }
    let mut clients: BTreeSet<&str> = BTreeSet::new();
    for step in &scenario.steps {
        let error = |message: String| {
            ParseError::at(
                file,
                source,
                step.referenced.line(),
                step.referenced.column(),
                message,
            )
        };
        let mut uses: Vec<&str> = Vec::new();
        match &step.value {
            Step::Connect(connect) => {
                if connect.node.is_some() && connect.via.is_some() {
                    return Err(error("`connect` takes `node` or `via`, not both".into()));
                }
                if let Some(node) = &connect.node {
                    check_node_name(node).map_err(error)?;
                }
                if clients.contains(connect.client.as_str())
                    && (connect.node.is_some() || connect.via.is_some())
                {
                    return Err(error(format!(
                        "{:?} is connected already: `node` and `via` go on a client's first `connect` (use `move` to fail it over)",
                        connect.client
                    )));
                }
                clients.insert(&connect.client);
            }
            Step::Emit(emit) => uses.push(&emit.client),
            Step::Expect(expect) => {
                check_expect(expect).map_err(|m| error(m.to_owned()))?;
                uses.extend(expect.client.as_deref());
                uses.extend(expect.clients.iter().map(String::as_str));
            }
            Step::ExpectNone(none) => {
                if none.client.is_some() != none.clients.is_empty() {
                    return Err(error(
                        "`expect_none` names either `client` or `clients`".into(),
                    ));
                }
                uses.extend(none.client.as_deref());
                uses.extend(none.clients.iter().map(String::as_str));
            }
            Step::Ack(ack) => uses.push(&ack.client),
            Step::Http(http) => {
                if http.body.is_some() && http.raw_body.is_some() {
                    return Err(error("`http` takes `body` or `raw_body`, not both".into()));
                }
                if let Some(node) = &http.node {
                    check_node_name(node).map_err(error)?;
                }
                if http.node.is_some() && http.service.is_some() {
                    return Err(error("`http` takes `node` or `service`, not both".into()));
                }
                if !http.path.starts_with('/') {
                    return Err(error(format!(
                        "`path` must start with '/': {:?}",
                        http.path
                    )));
                }
            }
            Step::Cut(cut) => uses.push(&cut.client),
            Step::Restore(restore) => uses.push(&restore.client),
            Step::Disconnect(disconnect) => uses.push(&disconnect.client),
            Step::Raw(raw) => {
                if raw.text.is_some() == raw.binary.is_some() {
                    return Err(error(
                        "`raw` takes exactly one of `text` and `binary`".into(),
                    ));
                }
                uses.push(&raw.client);
            }
            Step::Server(server) => {
                if let Some(node) = &server.node {
                    check_node_name(node).map_err(error)?;
                }
            }
            Step::Move(step) => {
                if step.client.is_some() != step.clients.is_empty() {
                    return Err(error("`move` names either `client` or `clients`".into()));
                }
                check_node_name(&step.node).map_err(error)?;
                uses.extend(step.client.as_deref());
                uses.extend(step.clients.iter().map(String::as_str));
            }
            Step::Network(network) => {
                if network.reset && network.shapes() {
                    return Err(error(
                        "`network` with `reset: true` takes no latency, jitter, bandwidth or loss"
                            .into(),
                    ));
                }
                uses.push(&network.client);
            }
            Step::Redis(_) | Step::Cluster(_) | Step::Sleep(_) => {}
        }
        if let Some(unknown) = uses.into_iter().find(|c| !clients.contains(c)) {
            return Err(error(format!(
                "client {unknown:?} is not connected by an earlier step (known: {})",
                if clients.is_empty() {
                    "none".to_owned()
                } else {
                    clients.iter().copied().collect::<Vec<_>>().join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// A node name, in a scenario or a launch spec: lowercase letters, digits, `-` and `_`.
pub fn check_node_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a node name: lowercase letters, digits, '-' and '_', at most 32"
        ))
    }
}

fn check_expect(expect: &ExpectStep) -> Result<(), &'static str> {
    if expect.client.is_some() != expect.clients.is_empty() {
        return Err("`expect` names either `client` or `clients`");
    }
    let kinds = [
        expect.event.is_some(),
        expect.events.is_some(),
        expect.connect.is_some(),
        expect.connect_error.is_some(),
        expect.disconnect.is_some(),
        expect.reconnect.is_some(),
        expect.reconnect_failed.is_some(),
    ];
    match kinds.iter().filter(|k| **k).count() {
        1 => {}
        0 => {
            return Err(
                "`expect` needs one of: event, events, connect, connect_error, disconnect, reconnect, reconnect_failed",
            );
        }
        _ => {
            return Err(
                "`expect` takes only one of: event, events, connect, connect_error, disconnect, reconnect, reconnect_failed",
            );
        }
    }
    if expect.event.is_none()
        && (expect.args.is_some()
            || expect.partial
            || !expect.capture.is_empty()
            || expect.count.is_some())
    {
        return Err("`args`, `partial`, `capture` and `count` go with `event`");
    }
    if expect.events.as_ref().is_some_and(Vec::is_empty) {
        return Err("`events` is empty");
    }
    Ok(())
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
