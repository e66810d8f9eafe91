//! From facts to a scenario file: one `connect` per client (its first namespace with its
//! transport, query, auth and the Engine.IO path when it is not `/socket.io/`; later namespaces as further `connect`s), `emit` with `ack`,
//! `expect` for every event received, `disconnect`, and `http` for API calls, in the order the
//! proxy saw them. The runner waits at each `expect`, so the order a client saw things in is the
//! order the replay checks, and no `sleep` is needed. Secrets go through [`Vault`], run-dependent
//! values through [`Inference`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::infer::Inference;
use super::secrets::{Vault, decode_jwt, identifier, unique};
use super::session::{Fact, Recording};
use super::tap::HttpCall;
use crate::scenario::{
    AckExpectation, ConnectOutcome, ConnectStep, DisconnectMatch, DisconnectStep, Draft, DraftStep,
    EmitStep, ExpectStep, HttpStep, Step, WriteError,
};
use crate::transport::TransportKind;

/// A written scenario and what its replay needs.
#[derive(Debug, Clone)]
pub struct Written {
    pub yaml: String,
    /// Variables the replay must be given with `--var` (secrets that are not JWTs).
    pub vars: BTreeSet<String>,
    pub clients: usize,
    pub steps: usize,
}

/// Writes `recording` as a scenario named `name`; `now` (seconds since the epoch) anchors the
/// tokens' relative times; `header` is the comment at the top of the file; `engine_path` is the
/// Engine.IO path the sessions used (`/socket.io/`, `/rt/`).
pub fn write(
    recording: &Recording,
    name: &str,
    now: i64,
    header: &str,
    engine_path: &str,
) -> Result<Written, WriteError> {
    let mut writer = Writer {
        recording,
        engine_path: connect_path(engine_path),
        vault: Vault::new(now),
        inference: Inference::default(),
        steps: Vec::new(),
        names: Vec::new(),
        connected: BTreeSet::new(),
        connects: BTreeMap::new(),
        emits: BTreeMap::new(),
        variables: BTreeSet::new(),
    };
    for fact in &recording.facts {
        writer.fact(fact);
    }
    let clients = writer.connected.len();
    let steps = writer.steps.len();
    let (tokens, vars) = writer.vault.finish();
    let draft = Draft {
        header: header.to_owned(),
        name: name.to_owned(),
        tokens,
        steps: writer.steps.into_iter().map(DraftStep::from).collect(),
        ..Draft::default()
    };
    Ok(Written {
        yaml: draft.write()?,
        vars,
        clients,
        steps,
    })
}

/// The `path:` of a client's first `connect`: `None` for the default `/socket.io/`; written with
/// a trailing slash, as the clients use it.
fn connect_path(engine_path: &str) -> Option<String> {
    let trimmed = engine_path.trim_end_matches('/');
    (trimmed != "/socket.io").then(|| format!("{trimmed}/"))
}

struct Writer<'a> {
    recording: &'a Recording,
    /// The `path:` of each client's first `connect`, when it is not the default.
    engine_path: Option<String>,
    vault: Vault,
    inference: Inference,
    steps: Vec<Step>,
    /// Client name per session, given at its first `connect`.
    names: Vec<Option<String>>,
    /// Sessions that have a `connect` step.
    connected: BTreeSet<usize>,
    /// The `connect` step of each (session, namespace), to mark a refusal.
    connects: BTreeMap<(usize, String), usize>,
    /// The `emit` step waiting for each (session, namespace, ack id).
    emits: BTreeMap<(usize, String, u64), usize>,
    /// Capture variables given out.
    variables: BTreeSet<String>,
}

impl Writer<'_> {
    fn fact(&mut self, fact: &Fact) {
        match fact {
            Fact::Connect { client, nsp, auth } => self.connect(*client, nsp, auth.as_ref()),
            Fact::ConnectError { client, nsp } => {
                if let Some(Step::Connect(connect)) = self
                    .connects
                    .get(&(*client, nsp.clone()))
                    .and_then(|i| self.steps.get_mut(*i))
                {
                    connect.expect = ConnectOutcome::ConnectError;
                }
            }
            Fact::Emit {
                client,
                nsp,
                event,
                args,
                ack,
            } => {
                let name = self.name(*client);
                let args = args
                    .iter()
                    .map(|a| self.sent(None, a, Some(&name)))
                    .collect();
                if let Some(id) = ack {
                    self.emits
                        .insert((*client, nsp.clone(), *id), self.steps.len());
                }
                self.steps.push(Step::Emit(EmitStep {
                    namespace: nsp.clone(),
                    ack: ack.map(|_| AckExpectation::default()),
                    ..EmitStep::new(name, event.clone(), args)
                }));
            }
            Fact::Acked {
                client,
                nsp,
                id,
                args,
            } => {
                let expected = self.inference.expected(&Value::Array(args.clone()), None);
                if let Some(Step::Emit(emit)) = self
                    .emits
                    .remove(&(*client, nsp.clone(), *id))
                    .and_then(|i| self.steps.get_mut(i))
                    && let Value::Array(args) = expected
                {
                    emit.ack = Some(AckExpectation {
                        args: Some(args),
                        ..AckExpectation::default()
                    });
                }
            }
            Fact::Received {
                client,
                nsp,
                event,
                args,
            } => {
                let at = self.steps.len();
                let expected = self
                    .inference
                    .expected(&Value::Array(args.clone()), Some((at, "")));
                let args = match expected {
                    Value::Array(args) => args,
                    other => vec![other],
                };
                let client = self.name(*client);
                self.steps.push(Step::Expect(ExpectStep {
                    namespace: nsp.clone(),
                    args: Some(args),
                    ..ExpectStep::event(client, event.clone())
                }));
            }
            Fact::ServerDisconnect { client, nsp } => {
                let client = self.name(*client);
                self.steps.push(Step::Expect(ExpectStep {
                    namespace: nsp.clone(),
                    disconnect: Some(DisconnectMatch {
                        reason: Some("io server disconnect".to_owned()),
                        closed_by_server: None,
                    }),
                    ..ExpectStep::of(client)
                }));
            }
            Fact::ClientDisconnect { client, nsp } => {
                let client = self.name(*client);
                self.steps.push(Step::Disconnect(DisconnectStep {
                    client,
                    namespace: nsp.clone(),
                }));
            }
            Fact::Http(call) => self.http(call),
        }
    }

    /// The client name of a session: its token's user, else `client-N`, made unique.
    fn name(&mut self, client: usize) -> String {
        if self.names.len() <= client {
            self.names.resize(client + 1, None);
        }
        if let Some(name) = &self.names[client] {
            return name.clone();
        }
        let user = self.recording.facts.iter().find_map(|fact| match fact {
            Fact::Connect {
                client: c,
                auth: Some(auth),
                ..
            } if *c == client => auth.as_object().and_then(|auth| {
                auth.values()
                    .filter_map(Value::as_str)
                    .filter_map(|text| decode_jwt(text.trim_start_matches("Bearer ")))
                    .find_map(|(_, claims)| {
                        claims
                            .get("userId")
                            .or_else(|| claims.get("sub"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
            }),
            _ => None,
        });
        let base = identifier(&user.unwrap_or_else(|| format!("client-{}", client + 1)));
        let names = &self.names;
        let name = unique(&base, |candidate| {
            names.iter().flatten().any(|taken| taken == candidate)
        });
        self.names[client] = Some(name.clone());
        name
    }

    fn connect(&mut self, client: usize, nsp: &str, auth: Option<&Value>) {
        let name = self.name(client);
        let first = self.connected.insert(client);
        let session = &self.recording.sessions[client];
        let auth = auth.map(|auth| self.sent(None, auth, Some(&name)));
        let (transport, query, headers) = if first {
            let transport = session.transport;
            let query = session
                .query
                .iter()
                .map(|(key, value)| {
                    let value = self.vault.scrub(Some(key), &json!(value), Some(&name));
                    (key.clone(), value.as_str().unwrap_or_default().to_owned())
                })
                .collect();
            let headers = session
                .authorization
                .iter()
                .map(|value| {
                    let value = self
                        .vault
                        .scrub(Some("authorization"), &json!(value), Some(&name));
                    (
                        "authorization".to_owned(),
                        value.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            (transport, query, headers)
        } else {
            (TransportKind::default(), BTreeMap::new(), BTreeMap::new())
        };
        self.connects
            .insert((client, nsp.to_owned()), self.steps.len());
        self.steps.push(Step::Connect(ConnectStep {
            namespace: nsp.to_owned(),
            transport: (transport != TransportKind::default()).then_some(transport),
            query,
            headers,
            auth,
            path: self.engine_path.clone().filter(|_| first),
            ..ConnectStep::new(name)
        }));
    }

    /// A value the client sent: secrets replaced, and ids it received earlier captured where they
    /// came from and sent back as `{{variable}}`.
    fn sent(&mut self, key: Option<&str>, value: &Value, preferred: Option<&str>) -> Value {
        if let Some(variable) = self.captured(value) {
            return json!(format!("{{{{{variable}}}}}"));
        }
        match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.sent(key, item, preferred))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, item)| (k.clone(), self.sent(Some(k), item, preferred)))
                    .collect(),
            ),
            scalar => self.vault.scrub(key, scalar, preferred),
        }
    }

    /// The variable holding `value` if it is an id received earlier, adding the `capture` to the
    /// step that received it.
    fn captured(&mut self, value: &Value) -> Option<String> {
        let origin = self.inference.origin(value)?.clone();
        let existing = self
            .steps
            .get_mut(origin.step)?
            .captures_mut()?
            .iter()
            .find(|(_, path)| **path == origin.path)
            .map(|(variable, _)| variable.clone());
        if let Some(variable) = existing {
            return Some(variable);
        }
        let base = identifier(origin.key.as_deref().unwrap_or("value"));
        let vault = &self.vault;
        let variables = &self.variables;
        let variable = unique(&base, |candidate| {
            variables.contains(candidate) || vault.has_token(candidate)
        });
        self.steps
            .get_mut(origin.step)?
            .captures_mut()?
            .insert(variable.clone(), origin.path);
        self.variables.insert(variable.clone());
        self.inference.captured_as(value, &variable);
        Some(variable)
    }

    /// API calls become `http` steps; page loads and assets (neither side JSON) are the
    /// browser's business, not the scenario's.
    fn http(&mut self, call: &HttpCall) {
        if call.request_json.is_none() && !call.response_is_json {
            return;
        }
        let token = call
            .authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|raw| self.vault.token(raw, None))
            .map(|name| format!("{{{{{name}}}}}"));
        let mut path = call.path_and_query.clone();
        let ids: Vec<(String, Value)> = self
            .inference
            .origins_in(&call.path_and_query)
            .map(|(id, _)| (id.clone(), json!(id)))
            .collect();
        for (id, value) in ids {
            if let Some(variable) = self.captured(&value) {
                path = path.replace(&id, &format!("{{{{{variable}}}}}"));
            }
        }
        let body = call
            .request_json
            .as_ref()
            .map(|body| self.sent(None, body, None));
        let at = self.steps.len();
        let expect_body = call
            .response_json
            .as_ref()
            .map(|body| self.inference.expected(body, Some((at, "body"))));
        self.steps.push(Step::Http(HttpStep {
            token,
            body,
            status: Some(call.status),
            expect_body,
            ..HttpStep::new(call.method.clone(), path)
        }));
    }
}

#[cfg(test)]
mod tests;
