//! The one scenario writer: a [`Draft`] (a scenario's name, tokens, settings and steps, each
//! step the same AST the parser gives) becomes YAML that parses back to it. `record`, the fuzz
//! reproducer and differential shrinking all write through it; each step family says how it is
//! written (its `Serialize`, defaults left out), this file only lays the document out: comment
//! lines on top, the scenario's keys, then `steps:` with one block per step, a step's comment
//! lines above it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Step, TokenSpec};

/// A scenario to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    /// Written as `# ` comment lines at the top of the file, one per line of this text.
    pub header: String,
    pub name: String,
    pub description: Option<String>,
    pub tokens: BTreeMap<String, TokenSpec>,
    pub merge_transport_reasons: bool,
    pub steps: Vec<DraftStep>,
}

/// A step and the comment written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftStep {
    /// `# ` comment lines above the step, one per line of this text; empty for none.
    pub comment: String,
    pub step: Step,
}

impl From<Step> for DraftStep {
    fn from(step: Step) -> Self {
        Self {
            comment: String::new(),
            step,
        }
    }
}

/// A draft the YAML serializer refused (a value YAML cannot hold).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct WriteError(#[from] serde_saphyr::SerializeError);

/// The scenario's own keys, in the order they are written.
#[derive(Serialize)]
struct Head<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tokens: &'a BTreeMap<String, TokenSpec>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    merge_transport_reasons: bool,
}

impl Draft {
    /// The scenario as YAML.
    pub fn write(&self) -> Result<String, WriteError> {
        let mut yaml = comment_lines(&self.header);
        yaml.push_str(&serde_saphyr::to_string(&Head {
            name: &self.name,
            description: self.description.as_deref(),
            tokens: &self.tokens,
            merge_transport_reasons: self.merge_transport_reasons,
        })?);
        yaml.push_str("steps:\n");
        let mut steps: Vec<Step> = self.steps.iter().map(|s| s.step.clone()).collect();
        super::defaults::elide(&mut steps);
        for (step, draft) in steps.iter().zip(&self.steps) {
            yaml.push_str(&comment_lines(&draft.comment));
            // A one-item list lays the step out as it would be inside the whole `steps` list.
            yaml.push_str(&serde_saphyr::to_string(&[step])?);
        }
        Ok(yaml)
    }
}

/// `text` as `# ` lines; a character a YAML comment may not hold, or that YAML reads as a line
/// break, becomes a space, so the comment cannot end early or spoil the file.
fn comment_lines(text: &str) -> String {
    let printable = |c: char| match c {
        '\u{2028}' | '\u{2029}' | '\u{feff}' => false,
        '\t' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' => true,
        c => c >= '\u{10000}',
    };
    text.lines()
        .map(|line| {
            let line: String = line
                .chars()
                .map(|c| if printable(c) { c } else { ' ' })
                .collect();
            format!("# {line}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::scenario::{
        AckExpectation, AckStep, Bandwidth, ClientRef, ClusterStep, ConnectOutcome, ConnectStep,
        CutMode, CutStep, DatabaseAction, DisconnectStep, EmitSpec, EmitStep, EventMatch,
        ExpectNoneStep, ExpectStep, HttpStep, LinkDelay, Loss, Millis, MoveStep, NetworkStep,
        Order, RawStep, Reconnection, ReconnectionPolicy, RedisAction, ServerAction, ServerStep,
        SignedMillis, Via, parse_str,
    };
    use crate::transport::TransportKind;

    fn ms(ms: u64) -> Millis {
        Millis(Duration::from_millis(ms))
    }

    /// Every step family, most keys set, and a token with every kind of value.
    fn every_family() -> Vec<Step> {
        let c = || "c".to_owned();
        vec![
            Step::Connect(ConnectStep {
                node: Some("b".into()),
                namespace: "/admin".into(),
                transport: Some(TransportKind::Upgrade),
                query: [("room".into(), "lobby".into())].into(),
                headers: [("x-a".into(), "1".into())].into(),
                auth: Some(json!({"token": "{{alice}}", "n": 1.5, "none": null})),
                path: Some("/io/".into()),
                reconnection: Some(Reconnection::Policy(ReconnectionPolicy {
                    attempts: Some(3),
                    delay: Some(ms(100)),
                    delay_max: Some(ms(2000)),
                    randomization: Some(0.5),
                })),
                on_connect: vec![EmitSpec {
                    event: "subscribe:status".into(),
                    args: vec![json!([1, "two"])],
                    ack: Some(AckExpectation {
                        timeout: Some(ms(500)),
                        args: Some(vec![json!({"ok": true})]),
                    }),
                }],
                expect: ConnectOutcome::ConnectError,
                timeout: Some(ms(1500)),
                ..ConnectStep::new(c())
            }),
            Step::Connect(ConnectStep {
                reconnection: Some(Reconnection::Enabled(false)),
                expect: ConnectOutcome::Nothing,
                ..ConnectStep::new("d")
            }),
            Step::Emit(EmitStep {
                repeat: Some(3),
                ack: Some(AckExpectation {
                    timeout: Some(ms(250)),
                    args: Some(vec![json!({"ok": true})]),
                }),
                ..EmitStep::new(c(), "notification:read", vec![json!("n-1"), json!(42)])
            }),
            Step::Expect(ExpectStep {
                args: Some(vec![json!({"id": "$uuid"})]),
                partial: true,
                count: Some(2),
                capture: [("id".into(), "0.id".into())].into(),
                timeout: Some(ms(60_000)),
                ..ExpectStep::event(c(), "notification:new")
            }),
            Step::Expect(ExpectStep {
                client: None,
                clients: vec![c(), "d".into()],
                events: Some(vec![EventMatch {
                    event: "a".into(),
                    args: None,
                    partial: false,
                    capture: Default::default(),
                }]),
                order: Order::Any,
                ..ExpectStep::of(String::new())
            }),
            Step::ExpectNone(ExpectNoneStep {
                client: Some(c()),
                clients: Vec::new(),
                events: vec!["x".into()],
                window: ms(300),
            }),
            Step::Ack(AckStep {
                client: c(),
                namespace: "/".into(),
                id: json!("{{ack}}"),
                args: vec![json!(null)],
            }),
            Step::Http(HttpStep {
                node: Some("b".into()),
                token: Some("{{admin}}".into()),
                headers: [("x-b".into(), "2".into())].into(),
                raw_body: Some("{\"userId\": ".into()),
                status: Some(400),
                expect_body: Some(json!({"error": "$string"})),
                partial: true,
                within: Some(ms(5000)),
                capture: [("e".into(), "body.error".into())].into(),
                ..HttpStep::new("PUT", "/api/v1/status/plex")
            }),
            Step::Http(HttpStep {
                via: Some(Via::Haproxy),
                status: Some(503),
                expect_headers: [("retry-after".into(), "1".into())].into(),
                ..HttpStep::new("GET", "/socket.io/?EIO=4&transport=polling")
            }),
            Step::Cut(CutStep {
                client: c(),
                mode: CutMode::Blackhole,
            }),
            Step::Restore(ClientRef { client: c() }),
            Step::Server(ServerStep {
                action: ServerAction::Kill,
                node: Some("b".into()),
                start_as: None,
            }),
            Step::Server(ServerStep {
                action: ServerAction::Start,
                node: Some("b".into()),
                start_as: Some("rust".into()),
            }),
            Step::Server(ServerStep {
                action: ServerAction::Restart,
                node: None,
                start_as: None,
            }),
            Step::Redis(RedisAction::Freeze),
            Step::Database(DatabaseAction::Stop),
            Step::Database(DatabaseAction::Start),
            Step::Move(MoveStep {
                client: Some(c()),
                clients: Vec::new(),
                node: "a".into(),
            }),
            Step::Network(NetworkStep {
                client: c(),
                latency: Some(LinkDelay(Duration::from_millis(150))),
                jitter: Some(LinkDelay(Duration::from_secs(1))),
                bandwidth: Some(Bandwidth(256_000)),
                loss: Some(Loss(5_000)),
                reset: false,
                seed: Some(7),
            }),
            Step::Cluster(ClusterStep { timeout: None }),
            Step::Cluster(ClusterStep {
                timeout: Some(ms(5000)),
            }),
            Step::Disconnect(DisconnectStep {
                client: c(),
                namespace: Some("/admin".into()),
            }),
            Step::Sleep(ms(250)),
            Step::Raw(RawStep {
                repeat_text: Some(3),
                prefix: Some("42[".into()),
                suffix: Some("]".into()),
                ..RawStep::text(c(), "\"x\",")
            }),
            Step::Raw(RawStep::binary(c(), "AAEC")),
        ]
    }

    fn round_trip(draft: &Draft) -> (String, Vec<Step>) {
        let yaml = draft.write().expect("writes");
        let file = parse_str("written.yaml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let steps = file.scenarios[0]
            .steps
            .iter()
            .map(|s| s.value.clone())
            .collect();
        (yaml, steps)
    }

    #[test]
    fn every_step_family_reads_back_as_it_was_written() {
        let draft = Draft {
            header: "line one\nline two".into(),
            name: "every family".into(),
            description: Some("all of them".into()),
            tokens: [(
                "alice".to_owned(),
                TokenSpec {
                    user: Some("user-1".into()),
                    claims: [("role".to_owned(), json!("admin"))].into(),
                    expires_in: Some(SignedMillis(-3_600_000)),
                    issued_at: None,
                    alg: "none".into(),
                    ..TokenSpec::default()
                },
            )]
            .into(),
            merge_transport_reasons: true,
            steps: every_family().into_iter().map(DraftStep::from).collect(),
        };
        let (yaml, steps) = round_trip(&draft);
        assert!(
            yaml.starts_with("# line one\n# line two\nname: every family\n"),
            "{yaml}"
        );
        let written: Vec<Step> = draft.steps.iter().map(|s| s.step.clone()).collect();
        assert_eq!(steps, written, "{yaml}");
        let file = parse_str("written.yaml", &yaml).expect("parses");
        let scenario = &file.scenarios[0];
        assert_eq!(scenario.tokens, draft.tokens);
        assert!(scenario.merge_transport_reasons);
        assert_eq!(scenario.description.as_deref(), Some("all of them"));
    }

    #[test]
    fn any_text_survives_the_round_trip_and_comments_stay_comments() {
        let texts = [
            "plain",
            "a\"b\\c",
            "\x1e\x1f\n\r\0",
            "\u{7f}\u{85}\u{feff}\u{fffe}\u{2028}é😀",
            "",
            "{{x}}",
            "- a: b",
            "# not a comment",
            "  lead and trail  ",
            "null",
            "true",
            "12",
            "0x1F",
            "~",
        ];
        let mut steps = vec![DraftStep::from(Step::Connect(ConnectStep::new("c")))];
        steps.extend(texts.iter().map(|text| DraftStep {
            comment: format!("before {text}\u{85}after"),
            step: Step::Raw(RawStep::text("c", *text)),
        }));
        let draft = Draft {
            header: "reason: \u{2028}\r".into(),
            name: "texts".into(),
            steps,
            ..Draft::default()
        };
        let (yaml, steps) = round_trip(&draft);
        let written: Vec<Step> = draft.steps.iter().map(|s| s.step.clone()).collect();
        assert_eq!(steps, written, "{yaml}");
    }
}
