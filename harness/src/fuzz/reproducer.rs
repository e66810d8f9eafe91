//! Reproducers: the cases that were in flight when a run failed, written as a scenario of `raw`
//! steps that `sio-harness run --target NAME FILE` replays, followed by the control client's
//! flow, which is what fails when the bug is back.
//!
//! Limits of the replay, said in the file's comments where they apply: a `raw` text step is
//! UTF-8, so a text frame that was not is sent as a binary frame; a case's steps stop after its
//! first mutated message, because a client whose connection the server dropped takes no more
//! steps; `EngineOnly` cases connect `/` without a token (the harness client always connects a
//! namespace). The seed and case numbers in the header replay the exact bytes with `fuzz`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::FuzzError;
use super::generate::{Case, CaseTransport, ConnectPlan, Payload};

/// What the reproducer needs to say about the run.
pub struct Failure<'a> {
    pub target: &'a str,
    pub seed: u64,
    pub reason: &'a str,
}

/// Writes the scenario for `cases` into `dir` (created if missing) and returns its path.
pub fn save(dir: &Path, failure: &Failure<'_>, cases: &[Case]) -> Result<PathBuf, FuzzError> {
    std::fs::create_dir_all(dir).map_err(|source| FuzzError::Save {
        path: dir.to_path_buf(),
        source,
    })?;
    let first = cases.first().map_or(0, |c| c.index);
    let last = cases.last().map_or(0, |c| c.index);
    let path = dir.join(format!(
        "fuzz-{}-seed{}-cases{first}-{last}.yaml",
        sanitize(failure.target),
        failure.seed
    ));
    std::fs::write(&path, scenario(failure, cases)).map_err(|source| FuzzError::Save {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The scenario text.
pub fn scenario(failure: &Failure<'_>, cases: &[Case]) -> String {
    let first = cases.first().map_or(0, |c| c.index);
    let last = cases.last().map_or(0, |c| c.index);
    let mut yaml = String::new();
    let _ = writeln!(
        yaml,
        "# Written by `sio-harness fuzz --target {} --seed {}`: {}.",
        failure.target,
        failure.seed,
        failure.reason.replace('\n', " ")
    );
    let _ = writeln!(
        yaml,
        "# The cases in flight then, {first} to {last}; replay with `sio-harness run --target NAME THIS_FILE`."
    );
    let _ = writeln!(
        yaml,
        "name: {}",
        quote(&format!("fuzz seed {} cases {first}-{last}", failure.seed))
    );
    yaml.push_str("tokens:\n  fuzz: { user: user-2 }\n  control: { user: user-1 }\n");
    yaml.push_str("merge_transport_reasons: true\nsteps:\n");
    for case in cases {
        let client = format!("case{}", case.index);
        let transport = match case.transport {
            CaseTransport::Websocket => "websocket",
            CaseTransport::Polling => "polling",
        };
        match case.connect {
            ConnectPlan::Authenticated => {
                let _ = writeln!(
                    yaml,
                    "  - connect: {{ client: {client}, transport: {transport}, auth: {{ token: \"{{{{fuzz}}}}\" }} }}"
                );
            }
            ConnectPlan::BadToken => {
                let _ = writeln!(
                    yaml,
                    "  - connect: {{ client: {client}, transport: {transport}, auth: {{ token: not.a.jwt }}, expect: connect_error }}"
                );
            }
            ConnectPlan::EngineOnly => {
                let _ = writeln!(
                    yaml,
                    "  # case {} sent its messages without a Socket.IO connect\n  - connect: {{ client: {client}, transport: {transport}, expect: connect_error }}",
                    case.index
                );
            }
        }
        for message in &case.messages {
            match &message.payload {
                Payload::Text(text) => {
                    let _ = writeln!(
                        yaml,
                        "  - raw: {{ client: {client}, text: {} }}",
                        quote(text)
                    );
                }
                Payload::Binary(bytes) => {
                    let _ = writeln!(
                        yaml,
                        "  - raw: {{ client: {client}, binary: \"{}\" }}",
                        BASE64.encode(bytes)
                    );
                }
                Payload::InvalidText(bytes) => {
                    let _ = writeln!(
                        yaml,
                        "  # a text frame that is not UTF-8, sent here as binary\n  - raw: {{ client: {client}, binary: \"{}\" }}",
                        BASE64.encode(bytes)
                    );
                }
            }
            if !message.class.is_valid() {
                break;
            }
        }
    }
    yaml.push_str(
        "  - sleep: 500ms\n  - connect: { client: control, auth: { token: \"{{control}}\" } }\n  - emit: { client: control, event: \"subscribe:status\" }\n  - expect: { client: control, event: \"status:current\" }\n",
    );
    yaml
}

/// A YAML double-quoted scalar: printable characters as they are, everything else (controls,
/// `\x1e`, DEL, C1, non-characters) escaped, so any string survives the round trip.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\t' | '\u{20}'..='\u{7e}' => quoted.push(c),
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'.. if c != '\u{feff}' => {
                quoted.push(c)
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(quoted, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(quoted, "\\U{:08x}", c as u32);
            }
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::generate::{DEFAULT_MAX_PAYLOAD, Generator};
    use crate::scenario::{Step, parse_str};

    #[test]
    fn quoted_strings_survive_yaml() {
        for text in [
            "plain",
            "a\"b\\c",
            "\x1e\x1f\n\r\0",
            "\u{7f}\u{85}\u{feff}\u{fffe}é😀",
            "",
        ] {
            let parsed: String = serde_saphyr::from_str(&quote(text)).expect("valid YAML");
            assert_eq!(parsed, text);
        }
    }

    #[test]
    fn reproducers_parse_as_scenarios() {
        let cases: Vec<Case> = Generator::new(9, 20_000, DEFAULT_MAX_PAYLOAD, 1)
            .skip(150)
            .take(60)
            .collect();
        let failure = Failure {
            target: "rust",
            seed: 9,
            reason: "server exited: signal 6",
        };
        let text = scenario(&failure, &cases);
        let file = parse_str("reproducer.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let raw_steps = file.scenarios[0]
            .steps
            .iter()
            .filter(|s| matches!(s.value, Step::Raw(_)))
            .count();
        assert!(raw_steps > cases.len(), "{raw_steps}");
    }
}
