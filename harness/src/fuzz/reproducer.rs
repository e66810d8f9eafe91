//! Reproducers: the cases that were in flight when a run failed, written as a scenario of `raw`
//! steps that `sio-harness run --target NAME FILE` replays, followed by the control client's
//! flow, which is what fails when the bug is back.
//!
//! Limits of the replay, said in the file's comments where they apply: a `raw` text step is
//! UTF-8, so a text frame that was not is sent as a binary frame; a case's steps stop after its
//! first mutated message, because a client whose connection the server dropped takes no more
//! steps; `EngineOnly` cases connect `/` without a token (the harness client always connects a
//! namespace). The seed and case numbers in the header replay the exact bytes with `fuzz`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;

use super::FuzzError;
use super::generate::{Case, CaseTransport, ConnectPlan, Payload};
use crate::scenario::{
    ConnectOutcome, ConnectStep, Draft, DraftStep, EmitStep, ExpectStep, Millis, RawStep, Step,
    TokenSpec, WriteError,
};
use crate::transport::TransportKind;

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
    scenario(failure, cases)
        .map_err(std::io::Error::other)
        .and_then(|text| std::fs::write(&path, text))
        .map_err(|source| FuzzError::Save {
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
pub fn scenario(failure: &Failure<'_>, cases: &[Case]) -> Result<String, WriteError> {
    draft(failure, cases).write()
}

fn draft(failure: &Failure<'_>, cases: &[Case]) -> Draft {
    let first = cases.first().map_or(0, |c| c.index);
    let last = cases.last().map_or(0, |c| c.index);
    let header = format!(
        "Written by `sio-harness fuzz --target {} --seed {}`: {}.\n\
         The cases in flight then, {first} to {last}; replay with `sio-harness run --target NAME THIS_FILE`.",
        failure.target,
        failure.seed,
        failure.reason.replace('\n', " ")
    );
    let user = |id: &str| TokenSpec {
        user: Some(id.to_owned()),
        ..TokenSpec::default()
    };
    let mut steps: Vec<DraftStep> = Vec::new();
    for case in cases {
        let client = format!("case{}", case.index);
        let transport = match case.transport {
            CaseTransport::Websocket => TransportKind::Websocket,
            CaseTransport::Polling => TransportKind::Polling,
        };
        let (auth, expect, comment) = match case.connect {
            ConnectPlan::Authenticated => (
                Some(json!({ "token": "{{fuzz}}" })),
                ConnectOutcome::Connect,
                String::new(),
            ),
            ConnectPlan::BadToken => (
                Some(json!({ "token": "not.a.jwt" })),
                ConnectOutcome::ConnectError,
                String::new(),
            ),
            ConnectPlan::EngineOnly => (
                None,
                ConnectOutcome::ConnectError,
                format!(
                    "case {} sent its messages without a Socket.IO connect",
                    case.index
                ),
            ),
        };
        steps.push(DraftStep {
            comment,
            step: Step::Connect(ConnectStep {
                transport: (transport != TransportKind::default()).then_some(transport),
                auth,
                expect,
                ..ConnectStep::new(&client)
            }),
        });
        for message in &case.messages {
            steps.push(match &message.payload {
                Payload::Text(text) => Step::Raw(RawStep::text(&client, text)).into(),
                Payload::Binary(bytes) => {
                    Step::Raw(RawStep::binary(&client, BASE64.encode(bytes))).into()
                }
                Payload::InvalidText(bytes) => DraftStep {
                    comment: "a text frame that is not UTF-8, sent here as binary".to_owned(),
                    step: Step::Raw(RawStep::binary(&client, BASE64.encode(bytes))),
                },
            });
            if !message.class.is_valid() {
                break;
            }
        }
    }
    // The control client's flow: what fails when the bug is back.
    let control = [
        Step::Sleep(Millis(std::time::Duration::from_millis(500))),
        Step::Connect(ConnectStep {
            auth: Some(json!({ "token": "{{control}}" })),
            ..ConnectStep::new("control")
        }),
        Step::Emit(EmitStep::new("control", "subscribe:status", Vec::new())),
        Step::Expect(ExpectStep::event("control", "status:current")),
    ];
    steps.extend(control.into_iter().map(DraftStep::from));
    Draft {
        header,
        name: format!("fuzz seed {} cases {first}-{last}", failure.seed),
        tokens: [
            ("fuzz".to_owned(), user("user-2")),
            ("control".to_owned(), user("user-1")),
        ]
        .into(),
        merge_transport_reasons: true,
        steps,
        ..Draft::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::generate::{DEFAULT_MAX_PAYLOAD, Generator};
    use crate::scenario::{Step, parse_str};

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
        let text = scenario(&failure, &cases).expect("writes");
        let file = parse_str("reproducer.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let raw_steps = file.scenarios[0]
            .steps
            .iter()
            .filter(|s| matches!(s.value, Step::Raw(_)))
            .count();
        assert!(raw_steps > cases.len(), "{raw_steps}");
    }
}
