//! Reproducers: the cases that were in flight when a run failed, written as a scenario of `raw`
//! steps that `sio-harness run --target NAME FILE` replays, signed in as the load profile's
//! client, followed by the profile's control flow, which is what fails when the bug is back.
//!
//! Limits of the replay, said in the file's comments where they apply: a `raw` text step is
//! UTF-8, so a text frame that was not is sent as a binary frame; a case's steps stop after its
//! first mutated message, because a client whose connection the server dropped takes no more
//! steps; `EngineOnly` cases connect `/` without a token (the harness client always connects a
//! namespace). The seed and case numbers in the header replay the exact bytes with `fuzz`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::FuzzError;
use super::generate::{Case, CaseTransport, ConnectPlan, Payload};
use crate::scenario::profile::{ControlStep, Profile, Ready};
use crate::scenario::{
    ConnectOutcome, ConnectStep, Draft, DraftStep, EmitSpec, EmitStep, EventMatch, ExpectStep,
    Millis, RawStep, Step, TokenSpec, WriteError,
};
use crate::template::Vars;
use crate::transport::TransportKind;

/// What the reproducer needs to say about the run.
pub struct Failure<'a> {
    pub target: &'a str,
    pub seed: u64,
    pub reason: &'a str,
    /// The load profile of the run: how the fuzz connections signed in and the control
    /// client's flow (`None` for `--show-case` without `--profile`: the cases alone).
    pub profile: Option<&'a Profile>,
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
    let fuzz = failure.profile.map(|p| as_client(p, "fuzz", 1, &[]));
    let mut steps: Vec<DraftStep> = Vec::new();
    for case in cases {
        let client = format!("case{}", case.index);
        let transport = match case.transport {
            CaseTransport::Websocket => TransportKind::Websocket,
            CaseTransport::Polling => TransportKind::Polling,
        };
        let (auth, expect, comment) = match case.connect {
            ConnectPlan::Authenticated => (
                fuzz.as_ref().and_then(|f| f.auth.clone()),
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
                namespace: fuzz
                    .as_ref()
                    .filter(|_| case.connect == ConnectPlan::Authenticated)
                    .map_or_else(|| "/".to_owned(), |f| f.namespace.clone()),
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
    let mut tokens = fuzz.map(|f| f.tokens).unwrap_or_default();
    // The control client's flow: what fails when the bug is back.
    if let Some(profile) = failure.profile
        && let Some(control) = &profile.control
    {
        let overrides: Vec<_> = control.value.tokens.iter().collect();
        let client = as_client(profile, "control", 0, &overrides);
        steps.push(Step::Sleep(Millis(std::time::Duration::from_millis(500))).into());
        steps.push(
            Step::Connect(ConnectStep {
                namespace: client.namespace.clone(),
                path: profile.client.value.path.clone(),
                auth: client.auth.clone(),
                on_connect: client.on_connect.clone(),
                ..ConnectStep::new("control")
            })
            .into(),
        );
        if let Ready::Event(event) = profile.ready() {
            steps.push(Step::Expect(expect_of(event, &client)).into());
        }
        for step in &control.value.steps {
            steps.push(
                match &step.value {
                    ControlStep::Emit(emit) => Step::Emit(EmitStep {
                        ack: emit.ack.clone(),
                        ..EmitStep::new("control", &emit.event, client.render_all(&emit.args))
                    }),
                    ControlStep::Expect(event) => Step::Expect(expect_of(event, &client)),
                }
                .into(),
            );
        }
        tokens.extend(client.tokens);
    }
    Draft {
        header,
        name: format!("fuzz seed {} cases {first}-{last}", failure.seed),
        tokens,
        merge_transport_reasons: true,
        steps,
        ..Draft::default()
    }
}

fn expect_of(event: &EventMatch, client: &ScenarioClient) -> ExpectStep {
    ExpectStep {
        event: Some(event.event.clone()),
        args: event.args.as_ref().map(|args| client.render_all(args)),
        partial: event.partial,
        ..ExpectStep::of("control")
    }
}

/// The profile's client `index` as a scenario client named `prefix`: its tokens under
/// `<prefix>-<name>` (minted again at replay, never written out) and its templates pointing at
/// them; `{{client.index}}` is filled in.
struct ScenarioClient {
    namespace: String,
    auth: Option<Value>,
    on_connect: Vec<EmitSpec>,
    tokens: BTreeMap<String, TokenSpec>,
    vars: Vars,
}

fn as_client(
    profile: &Profile,
    prefix: &str,
    index: usize,
    overrides: &[(&String, &TokenSpec)],
) -> ScenarioClient {
    let mut vars = Vars::default();
    for (name, value) in &profile.vars {
        vars.set(name.clone(), value.clone());
    }
    vars.set("client", json!({ "index": index }));
    let mut tokens = BTreeMap::new();
    let specs = profile
        .tokens
        .iter()
        .filter(|(name, _)| !overrides.iter().any(|(o, _)| o == name))
        .chain(overrides.iter().copied());
    for (name, spec) in specs {
        let renamed = format!("{prefix}-{name}");
        tokens.insert(
            renamed.clone(),
            spec.rendered(&vars).unwrap_or_else(|_| spec.clone()),
        );
        vars.set(name.clone(), Value::String(format!("{{{{{renamed}}}}}")));
    }
    let client = &profile.client.value;
    let mut scenario_client = ScenarioClient {
        namespace: client.namespace.clone(),
        auth: None,
        on_connect: Vec::new(),
        tokens,
        vars,
    };
    scenario_client.auth = client.auth.as_ref().map(|a| scenario_client.render(a));
    scenario_client.on_connect = client
        .on_connect
        .iter()
        .map(|emit| EmitSpec {
            args: scenario_client.render_all(&emit.args),
            ..emit.clone()
        })
        .collect();
    scenario_client
}

impl ScenarioClient {
    /// `value` with the profile's variables filled in and its tokens renamed (the profile was
    /// checked, so every name is known; a value that still fails is kept as written).
    fn render(&self, value: &Value) -> Value {
        self.vars.value(value).unwrap_or_else(|_| value.clone())
    }

    fn render_all(&self, values: &[Value]) -> Vec<Value> {
        values.iter().map(|v| self.render(v)).collect()
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
        let profile = crate::scenario::profile::load_profile(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../benches/dashboard.profile.yaml"),
        )
        .expect("the dashboard profile");
        let failure = Failure {
            target: "rust",
            seed: 9,
            reason: "server exited: signal 6",
            profile: Some(&profile.profile),
        };
        let text = scenario(&failure, &cases).expect("writes");
        let file = parse_str("reproducer.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // The fuzz connections' and the control client's tokens, each under its own name.
        let tokens = &file.scenarios[0].tokens;
        assert_eq!(
            tokens["fuzz-token"].user.as_deref(),
            Some("load-1"),
            "{text}"
        );
        assert_eq!(
            tokens["control-token"].user.as_deref(),
            Some("user-1"),
            "{text}"
        );
        assert!(
            text.contains("token: '{{fuzz-token}}'") || text.contains("token: \"{{fuzz-token}}\""),
            "{text}"
        );
        assert!(text.contains("notification:read:success"), "{text}");
        let raw_steps = file.scenarios[0]
            .steps
            .iter()
            .filter(|s| matches!(s.value, Step::Raw(_)))
            .count();
        assert!(raw_steps > cases.len(), "{raw_steps}");
    }
}
