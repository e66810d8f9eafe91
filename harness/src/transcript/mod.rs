//! Transcripts: what each client saw and did, and the HTTP calls made, as stable text.
//!
//! A transcript depends only on what the server did and on the scenario, never on when the
//! client's task happened to run relative to its socket. Each client has two ordered streams:
//! what it received (in the order the server sent it, which the transport keeps) and what its
//! steps made it do (in step order). They are merged by causal facts only: a receipt that a step
//! took is listed after every command sent before it was taken, and before every command sent
//! after (it had arrived by then); a receipt no step took is listed with the next one a step
//! took (or at the end), so an answer never precedes the emit that caused it; what the client
//! does by itself in answer to a receipt (`on_connect` emits) follows that receipt. Where two
//! streams raced (a push that arrived while the client was emitting) the transcript does not say
//! which came first.
//!
//! Values that differ between runs are replaced by placeholders numbered in order of first
//! appearance within one transcript, so the same value keeps the same placeholder: socket and
//! Engine.IO session ids (`<session:1>`, `<sid:1>`) and UUIDs (`<uuid:1>`). RFC 3339 times all
//! become `<time>`. A value a step matched with a matcher is written as the matcher, and the
//! scenario's and the target's [`Redaction`]s apply ([`redact`]). Reconnect attempt counts
//! depend on timing and are left out unless a scenario asks for them.
//!
//! Reports also want to know *when* each line happened (a timeline): [`render_timed`] gives the
//! same lines, with the same placeholders, each with its time since the scenario started, on the
//! side: the transcript text itself never carries a time.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

mod redact;

use crate::client::{Observation, Observed, Taken};
pub use redact::Redaction;
use redact::{Redactor, Site};

/// One HTTP exchange of a scenario.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    pub method: String,
    pub path: String,
    /// What the request sent: a JSON body, or a raw body as a string unless it is JSON.
    pub request_body: Option<Value>,
    pub status: u16,
    pub body: Value,
    /// What the step expected of the body (`expect_body`), matchers and all.
    pub expected_body: Option<Value>,
    /// When the request was sent, since the scenario started (reports only).
    pub at: Duration,
}

/// One client's part of a recording.
#[derive(Debug, Clone, Default)]
pub struct ClientRecording {
    pub name: String,
    pub observations: Vec<Observation>,
    /// What the steps took, in order ([`crate::client::Client::taken`]).
    pub taken: Vec<Taken>,
    /// What a step matched an observation against, by its index in `observations` (an event's or
    /// an ack's arguments, a connect error's `{message, data}`): written with its matchers.
    pub matched: HashMap<usize, Value>,
    /// Commands the steps sent; the runner's own closing commands are numbered from here.
    pub step_commands: u64,
    /// When the client started, since the scenario started: its observations' times count
    /// from here.
    pub started: Duration,
    /// Observations a `deliveries` step counted (indices into `observations`): what a
    /// broadcaster's traffic did depends on timing, so the count stands for them.
    pub left_out: HashSet<usize>,
}

impl ClientRecording {
    /// The indices into `observations` in transcript order (see the module's documentation).
    pub fn ordered(&self) -> Vec<usize> {
        // Units: a commanded observation alone, or a receipt with the reactive sends after it.
        struct Unit {
            first: usize,
            len: usize,
            anchor: Option<u64>,
        }
        let reactive = |o: &Observation| {
            o.command.is_none()
                && matches!(o.what, Observed::Emit { .. } | Observed::AckSent { .. })
        };
        let mut commanded: Vec<(u64, usize)> = Vec::new();
        let mut receipts: Vec<Unit> = Vec::new();
        for (index, observation) in self.observations.iter().enumerate() {
            match (observation.command, receipts.last_mut()) {
                (Some(number), _) => commanded.push((number, index)),
                (None, Some(unit)) if reactive(observation) && unit.first + unit.len == index => {
                    unit.len += 1;
                }
                (None, _) => receipts.push(Unit {
                    first: index,
                    len: 1,
                    anchor: None,
                }),
            }
        }
        let taken_at: HashMap<usize, u64> = self
            .taken
            .iter()
            .map(|t| (t.index, t.commands_sent))
            .collect();
        let mut latest = 0;
        for unit in &mut receipts {
            if let Some(&sent) = taken_at.get(&unit.first) {
                latest = latest.max(sent);
                unit.anchor = Some(latest);
            }
        }
        let mut next = self.step_commands.max(latest);
        for unit in receipts.iter_mut().rev() {
            next = *unit.anchor.get_or_insert(next);
        }
        // Buffered emits reach the wire after later commands; their number says when they were asked.
        commanded.sort_by_key(|&(number, index)| (number, index));
        let mut ordered = Vec::with_capacity(self.observations.len());
        let mut pending = receipts.iter().peekable();
        for (number, index) in commanded {
            while let Some(unit) = pending.next_if(|u| u.anchor.unwrap_or(0) <= number) {
                ordered.extend(unit.first..unit.first + unit.len);
            }
            ordered.push(index);
        }
        for unit in pending {
            ordered.extend(unit.first..unit.first + unit.len);
        }
        ordered
    }
}

/// Everything a scenario run recorded, before rendering.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Clients in the order the scenario first connected them.
    pub clients: Vec<ClientRecording>,
    pub http: Vec<HttpExchange>,
    /// What `deliveries` steps checked, one line each, in step order.
    pub summaries: Vec<String>,
    pub record_reconnect_attempts: bool,
    pub merge_transport_reasons: bool,
    /// The scenario file's and the target's redactions.
    pub redactions: Vec<Redaction>,
}

/// Which way a timed line went, seen from the client (or the scenario's HTTP caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The client sent it to the server (an emit, an ack, an HTTP request).
    ToServer,
    /// It came from the server (a handshake, an event, an ack, a disconnect).
    FromServer,
    /// The client's own doing, without a packet (reconnect bookkeeping).
    Local,
}

/// One transcript line with when it happened, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedLine {
    /// The client's name; `None` for the scenario's HTTP calls.
    pub client: Option<String>,
    /// Since the scenario started.
    pub at: Duration,
    pub flow: Flow,
    /// The line as the transcript has it (same placeholders).
    pub text: String,
}

/// Renders a recording as transcript text.
pub fn render(recording: &Recording) -> String {
    render_timed(recording).0
}

/// The transcript text, and the same lines in the order they happened, with their times.
pub fn render_timed(recording: &Recording) -> (String, Vec<TimedLine>) {
    let known_ids = recording
        .clients
        .iter()
        .flat_map(|client| &client.observations)
        .filter_map(|o| match &o.what {
            Observed::Connect { sid, .. } => Some(sid.clone()),
            _ => None,
        })
        .collect();
    let mut redactor = Redactor::new(known_ids, recording.redactions.clone());
    let mut out = String::new();
    let mut timed = Vec::new();
    for client in &recording.clients {
        let _ = writeln!(out, "client {}", client.name);
        // The event each ack answers, for redactions by path (`order.ack.0.at`).
        let mut acked: HashMap<(&str, u64), &str> = HashMap::new();
        for index in client.ordered() {
            let Some(observation) = client.observations.get(index) else {
                continue;
            };
            if client.left_out.contains(&index) {
                continue;
            }
            if let Observed::Emit {
                nsp,
                event,
                ack_id: Some(id),
                ..
            } = &observation.what
            {
                acked.insert((nsp, *id), event);
            }
            let shape = client.matched.get(&index);
            if let Some(line) = line(&mut redactor, &observation.what, shape, &acked, recording) {
                let line = redactor.line(line);
                let _ = writeln!(out, "  {line}");
                timed.push(TimedLine {
                    client: Some(client.name.clone()),
                    at: client.started + observation.at,
                    flow: flow(&observation.what),
                    text: line,
                });
            }
        }
    }
    if !recording.http.is_empty() {
        let _ = writeln!(out, "http");
        for exchange in &recording.http {
            let sent = exchange
                .request_body
                .as_ref()
                .map(|body| format!(" {}", redactor.request_body(body)))
                .unwrap_or_default();
            let body = redactor.by_path(Site::HttpBody, exchange.body.clone());
            let body = redactor.shaped(&body, exchange.expected_body.as_ref());
            let line = redactor.line(format!(
                "{} {}{sent} -> {} {}",
                exchange.method, exchange.path, exchange.status, body
            ));
            let _ = writeln!(out, "  {line}");
            timed.push(TimedLine {
                client: None,
                at: exchange.at,
                flow: Flow::ToServer,
                text: line,
            });
        }
    }
    if !recording.summaries.is_empty() {
        let _ = writeln!(out, "deliveries");
        for summary in &recording.summaries {
            let _ = writeln!(out, "  {summary}");
        }
    }
    // Stable: lines of one client with the same time keep their transcript order.
    timed.sort_by_key(|line| line.at);
    (out, timed)
}

fn flow(what: &Observed) -> Flow {
    match what {
        Observed::Emit { .. } | Observed::AckSent { .. } => Flow::ToServer,
        Observed::Open { .. }
        | Observed::Connect { .. }
        | Observed::ConnectError { .. }
        | Observed::Event { .. }
        | Observed::Ack { .. }
        | Observed::Ping
        | Observed::Pong => Flow::FromServer,
        Observed::Disconnect { reason, .. } if reason == "io server disconnect" => Flow::FromServer,
        Observed::Disconnect { .. }
        | Observed::AckError { .. }
        | Observed::ReconnectAttempt { .. }
        | Observed::ReconnectError { .. }
        | Observed::Reconnect { .. }
        | Observed::ReconnectFailed => Flow::Local,
    }
}

/// One observation's transcript line; `shape` is what a step matched it against, `acked` the
/// event each of the client's acks answers.
fn line(
    redactor: &mut Redactor,
    what: &Observed,
    shape: Option<&Value>,
    acked: &HashMap<(&str, u64), &str>,
    recording: &Recording,
) -> Option<String> {
    let attempts = recording.record_reconnect_attempts;
    Some(match what {
        Observed::Open {
            transport,
            sid,
            ping_interval,
            ping_timeout,
            max_payload,
        } => {
            let transport = serde_json::to_value(transport).ok()?.as_str()?.to_owned();
            // Its own kind: socketioxide reuses the session id as the socket id, Node does not.
            let sid = redactor.placeholder("session", sid);
            format!(
                "open {transport} sid={sid} pingInterval={ping_interval} pingTimeout={ping_timeout} maxPayload={max_payload}"
            )
        }
        Observed::Connect { nsp, sid } => {
            format!("connect {nsp} sid={}", redactor.placeholder("sid", sid))
        }
        Observed::ConnectError { nsp, message, data } => {
            let mut payload = serde_json::json!({ "message": message });
            if let (Some(data), Some(map)) = (data, payload.as_object_mut()) {
                map.insert("data".into(), data.clone());
            }
            format!("connect_error {nsp} {}", redactor.shaped(&payload, shape))
        }
        Observed::Event {
            nsp,
            event,
            args,
            ack_id,
        } => {
            format!(
                "event {nsp} {event} {}{}",
                redactor.args(Site::Args(event), args, shape),
                ack_suffix(*ack_id)
            )
        }
        Observed::Emit {
            nsp,
            event,
            args,
            ack_id,
        } => {
            format!(
                "emit {nsp} {event} {}{}",
                redactor.args(Site::Args(event), args, shape),
                ack_suffix(*ack_id)
            )
        }
        Observed::Ack { nsp, id, args } => {
            let event = acked.get(&(nsp.as_str(), *id)).copied().unwrap_or_default();
            let args = redactor.args(Site::Ack(event), args, shape);
            format!("ack {nsp} {id} {args}")
        }
        Observed::AckSent { nsp, id, args } => {
            format!(
                "ack_sent {nsp} {id} {}",
                redactor.json(&Value::Array(args.clone()))
            )
        }
        Observed::AckError { nsp, id, message } => format!("ack_error {nsp} {id} {message}"),
        Observed::Disconnect { nsp, reason, .. }
            if recording.merge_transport_reasons
                && (reason == "transport close" || reason == "transport error") =>
        {
            format!("disconnect {nsp} transport lost")
        }
        Observed::Disconnect { nsp, reason, .. } => format!("disconnect {nsp} {reason}"),
        Observed::ReconnectAttempt { attempt } if attempts => {
            format!("reconnect_attempt {attempt}")
        }
        Observed::ReconnectError { attempt, message } if attempts => {
            format!("reconnect_error {attempt} {message}")
        }
        Observed::Reconnect { attempt } if attempts => format!("reconnect {attempt}"),
        Observed::Reconnect { .. } => "reconnect".to_owned(),
        Observed::ReconnectFailed => "reconnect_failed".to_owned(),
        Observed::ReconnectAttempt { .. }
        | Observed::ReconnectError { .. }
        | Observed::Ping
        | Observed::Pong => {
            return None;
        }
    })
}

fn ack_suffix(id: Option<u64>) -> String {
    id.map(|id| format!(" ack={id}")).unwrap_or_default()
}

/// One observation as a readable line, unredacted (failure messages).
pub fn describe(observed: &Observed) -> String {
    let everything = Recording {
        record_reconnect_attempts: true,
        ..Recording::default()
    };
    line(
        &mut Redactor::default(),
        observed,
        None,
        &HashMap::new(),
        &everything,
    )
    .unwrap_or_else(|| format!("{observed:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn at(what: Observed) -> Observation {
        Observation {
            at: Duration::ZERO,
            command: None,
            what,
        }
    }

    fn event(name: &str) -> Observed {
        Observed::Event {
            nsp: "/".into(),
            event: name.into(),
            args: vec![],
            ack_id: None,
        }
    }

    fn emit(name: &str, command: Option<u64>) -> Observation {
        Observation {
            command,
            ..at(Observed::Emit {
                nsp: "/".into(),
                event: name.into(),
                args: vec![],
                ack_id: None,
            })
        }
    }

    /// Renders one client whose stream is `observations`, with `taken` as (index, commands sent).
    fn client(observations: Vec<Observation>, taken: &[(usize, u64)], steps: u64) -> String {
        render(&Recording {
            clients: vec![ClientRecording {
                name: "c".into(),
                observations,
                taken: taken
                    .iter()
                    .map(|&(index, commands_sent)| Taken {
                        index,
                        commands_sent,
                    })
                    .collect(),
                step_commands: steps,
                ..ClientRecording::default()
            }],
            ..Recording::default()
        })
    }

    #[test]
    fn where_the_client_s_emits_landed_among_receipts_does_not_matter() {
        // connect (reactive subscribe), then emit flood ×2 and status (commands 0..3); the
        // server answers error, error, status:current; a step took the first error and the
        // status after all three commands. Two schedules of the same run:
        let connect = at(Observed::Connect {
            nsp: "/".into(),
            sid: "s".into(),
        });
        let early = vec![
            connect.clone(),
            emit("on-connect", None),
            emit("flood", Some(0)),
            at(event("error")),
            emit("flood", Some(1)),
            at(event("error")),
            emit("status", Some(2)),
            at(event("status:current")),
        ];
        let late = vec![
            connect,
            emit("on-connect", None),
            emit("flood", Some(0)),
            emit("flood", Some(1)),
            emit("status", Some(2)),
            at(event("error")),
            at(event("error")),
            at(event("status:current")),
        ];
        let first = client(early, &[(0, 0), (3, 3), (7, 3)], 3);
        let second = client(late, &[(0, 0), (5, 3), (7, 3)], 3);
        assert_eq!(first, second);
        assert_eq!(
            first,
            "client c\n  connect / sid=<sid:1>\n  emit / on-connect []\n  emit / flood []\n  emit / flood []\n  emit / status []\n  event / error []\n  event / error []\n  event / status:current []\n"
        );
    }

    #[test]
    fn a_receipt_taken_between_commands_stays_between_them_and_unclaimed_ones_wait_for_the_next() {
        // emit a (command 0), a step takes its answer; then emit b (command 1), whose answer no
        // step takes, then emit c (command 2) whose answer a step takes.
        let stream = vec![
            emit("a", Some(0)),
            at(event("answer-a")),
            at(event("push")),
            emit("b", Some(1)),
            emit("c", Some(2)),
            at(event("answer-b")),
            at(event("answer-c")),
        ];
        let text = client(stream, &[(1, 1), (6, 3)], 3);
        assert_eq!(
            text,
            "client c\n  emit / a []\n  event / answer-a []\n  emit / b []\n  emit / c []\n  event / push []\n  event / answer-b []\n  event / answer-c []\n"
        );
    }

    #[test]
    fn timed_lines_are_the_transcript_s_lines_in_the_order_they_happened() {
        let at = |ms: u64, what: Observed| Observation {
            at: Duration::from_millis(ms),
            command: None,
            what,
        };
        let connect = |sid: &str| Observed::Connect {
            nsp: "/".into(),
            sid: sid.into(),
        };
        let recording = Recording {
            clients: vec![
                ClientRecording {
                    name: "alice".into(),
                    observations: vec![at(1, connect("a")), at(30, event("late"))],
                    ..ClientRecording::default()
                },
                ClientRecording {
                    name: "bob".into(),
                    observations: vec![at(2, connect("b"))],
                    started: Duration::from_millis(10),
                    ..ClientRecording::default()
                },
            ],
            http: vec![HttpExchange {
                method: "GET".into(),
                path: "/x".into(),
                request_body: None,
                status: 200,
                body: json!({}),
                expected_body: None,
                at: Duration::from_millis(20),
            }],
            ..Recording::default()
        };
        let (text, timed) = render_timed(&recording);
        assert_eq!(text, render(&recording));
        let summary: Vec<(Option<&str>, u128, Flow, &str)> = timed
            .iter()
            .map(|l| {
                (
                    l.client.as_deref(),
                    l.at.as_millis(),
                    l.flow,
                    l.text.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Some("alice"), 1, Flow::FromServer, "connect / sid=<sid:1>"),
                (Some("bob"), 12, Flow::FromServer, "connect / sid=<sid:2>"),
                (None, 20, Flow::ToServer, "GET /x -> 200 {}"),
                (Some("alice"), 30, Flow::FromServer, "event / late []"),
            ]
        );
        // The times are on the side: the text has none.
        assert!(!text.contains("12") && !text.contains("30"), "{text}");
    }

    #[test]
    fn what_steps_matched_with_matchers_and_what_the_rules_name_are_stable() {
        let rules: Vec<Redaction> = serde_json::from_value(json!([
            {"path": "welcome.args.0.serverTime", "with": "<ms>"},
            {"path": "order.ack.0.at"},
        ]))
        .expect("rules");
        let run = |stamp: u64| {
            let emit = Observation {
                command: Some(0),
                ..at(Observed::Emit {
                    nsp: "/market".into(),
                    event: "order".into(),
                    args: vec![json!({"qty": 1})],
                    ack_id: Some(0),
                })
            };
            let observations = vec![
                at(Observed::Event {
                    nsp: "/market".into(),
                    event: "welcome".into(),
                    args: vec![json!({"serverTime": stamp})],
                    ack_id: None,
                }),
                at(Observed::Event {
                    nsp: "/market".into(),
                    event: "quote".into(),
                    args: vec![json!({"at": stamp + 1, "price": 101.5})],
                    ack_id: None,
                }),
                emit,
                at(Observed::Ack {
                    nsp: "/market".into(),
                    id: 0,
                    args: vec![json!({"at": stamp + 2, "ok": true})],
                }),
            ];
            render(&Recording {
                clients: vec![ClientRecording {
                    name: "alice".into(),
                    observations,
                    taken: vec![Taken {
                        index: 1,
                        commands_sent: 0,
                    }],
                    matched: HashMap::from([(1, json!([{"at": "$integer", "price": 101.5}]))]),
                    step_commands: 1,
                    ..ClientRecording::default()
                }],
                http: vec![HttpExchange {
                    method: "GET".into(),
                    path: "/clock".into(),
                    request_body: None,
                    status: 200,
                    body: json!({"now": stamp}),
                    expected_body: Some(json!({"now": "$number"})),
                    at: Duration::ZERO,
                }],
                redactions: rules.clone(),
                ..Recording::default()
            })
        };
        let text = run(1_796_581_393_775);
        assert_eq!(text, run(1_796_581_399_999));
        assert_eq!(
            text,
            "client alice\n  event /market welcome [{\"serverTime\":\"<ms>\"}]\n  event /market quote [{\"at\":\"$integer\",\"price\":101.5}]\n  emit /market order [{\"qty\":1}] ack=0\n  ack /market 0 [{\"at\":\"<redacted>\",\"ok\":true}]\nhttp\n  GET /clock -> 200 {\"now\":\"$number\"}\n"
        );
    }

    #[test]
    fn same_values_get_the_same_placeholder() {
        let uuid = "0b9e1f3c-7d1a-4c55-9a53-0f1e2d3c4b5a";
        let recording = Recording {
            clients: vec![ClientRecording {
                name: "alice".into(),
                observations: vec![
                    at(Observed::Connect {
                        nsp: "/".into(),
                        sid: "abc".into(),
                    }),
                    at(Observed::Event {
                        nsp: "/".into(),
                        event: "n".into(),
                        args: vec![
                            json!({"id": uuid, "at": "2026-11-25T22:34:57.123Z", "again": uuid}),
                        ],
                        ack_id: None,
                    }),
                    at(Observed::ReconnectAttempt { attempt: 1 }),
                    at(Observed::Reconnect { attempt: 3 }),
                ],
                ..ClientRecording::default()
            }],
            http: vec![HttpExchange {
                method: "GET".into(),
                path: "/x".into(),
                request_body: None,
                status: 200,
                body: json!([uuid]),
                expected_body: None,
                at: Duration::ZERO,
            }],
            ..Recording::default()
        };
        assert_eq!(
            render(&recording),
            "client alice\n  connect / sid=<sid:1>\n  event / n [{\"again\":\"<uuid:1>\",\"at\":\"<time>\",\"id\":\"<uuid:1>\"}]\n  reconnect\nhttp\n  GET /x -> 200 [\"<uuid:1>\"]\n"
        );
    }

    #[test]
    fn request_bodies_are_shown_with_their_secrets_out() {
        let uuid = "0b9e1f3c-7d1a-4c55-9a53-0f1e2d3c4b5a";
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln";
        let exchange = |request_body: Option<Value>, status| HttpExchange {
            method: "POST".into(),
            path: "/api/login".into(),
            request_body,
            status,
            body: json!({"error": "bad request"}),
            expected_body: None,
            at: Duration::ZERO,
        };
        let recording = Recording {
            http: vec![
                exchange(Some(json!({"user": "alice", "password": "hunter2"})), 400),
                exchange(
                    Some(json!({"user": "alice", "apiKey": 7, "note": jwt, "id": uuid})),
                    400,
                ),
                exchange(Some(Value::String("{\"user\":".into())), 400),
                exchange(None, 400),
            ],
            ..Recording::default()
        };
        let text = render(&recording);
        assert_eq!(
            text,
            "http\n  POST /api/login {\"password\":\"<secret>\",\"user\":\"alice\"} -> 400 {\"error\":\"bad request\"}\n  POST /api/login {\"apiKey\":\"<secret>\",\"id\":\"<uuid:1>\",\"note\":\"<jwt>\",\"user\":\"alice\"} -> 400 {\"error\":\"bad request\"}\n  POST /api/login \"{\\\"user\\\":\" -> 400 {\"error\":\"bad request\"}\n  POST /api/login -> 400 {\"error\":\"bad request\"}\n"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("c2ln"),
            "{text}"
        );
    }
}
