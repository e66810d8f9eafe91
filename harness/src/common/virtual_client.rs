//! A load profile ([`crate::scenario::profile`]) made runnable: what every virtual client shares
//! (the [`Conversation`]: namespace, path, transport, what marks it ready, what a fan-out
//! delivery is) and what each one has of its own (its [`ClientPlan`]: auth, headers, query and
//! on-connect emits with its tokens minted), rendered once per client before the run, so the
//! load itself renders nothing and allocates nothing per observation beyond a delivery's label.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{ClientOptions, NamespaceOptions, Observed};
use crate::load::reports::Milestone;
use crate::matcher;
use crate::scenario::profile::{
    ControlStep, Delivery, Profile, ProfileFile, Ready, Trigger, VirtualClient,
};
use crate::scenario::{EmitSpec, EventMatch, TokenSpec};
use crate::template::Vars;
use crate::transport::{EndpointOptions, TransportKind};

/// How long a load token stays valid when the profile does not say: longer than any run.
const TOKEN_LIFETIME_MS: i64 = 6 * 3600 * 1000;

/// A profile ready to render clients, with the target's JWT secret.
#[derive(Debug, Clone)]
pub struct VirtualClients {
    pub path: String,
    pub profile: Profile,
    secret: Option<String>,
    /// Where a token's `key` file is looked up: beside the profile.
    key_dir: PathBuf,
}

/// What every client of a run shares: how it connects, what marks it ready, and what a
/// fan-out delivery looks like.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Conversation {
    pub namespace: String,
    pub path: String,
    pub transport: TransportKind,
    pub ready: ReadySignal,
    pub delivery: Option<Delivery>,
}

/// [`Ready`] as the clients check it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum ReadySignal {
    Connected,
    /// This many acks of on-connect emits, each matching one of `expected` (`None`: any).
    Acks {
        count: usize,
        expected: Vec<Option<Vec<Value>>>,
    },
    Event(EventMatch),
}

/// One client's own values, rendered once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientPlan {
    pub auth: Option<Value>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// Event, arguments, and the ack timeout in milliseconds when an ack is asked for.
    pub on_connect: Vec<(String, Vec<Value>, Option<u64>)>,
}

/// The fan-out trigger with its tokens minted, rendered per message with `{{seq}}`.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    pub trigger: Trigger,
    /// The trigger's variables: the profile's `vars` and the fan-out's tokens.
    pub vars: Vars,
    /// For an `emit` trigger, the client it is sent from.
    pub broadcaster: ClientPlan,
    pub delivery: Delivery,
}

/// The control client's flow with its tokens minted.
#[derive(Debug, Clone)]
pub struct ControlPlan {
    pub client: ClientPlan,
    pub steps: Vec<ControlStep>,
    pub interval: Duration,
}

impl VirtualClients {
    pub fn new(file: ProfileFile, secret: Option<String>) -> Self {
        let key_dir = Path::new(&file.path)
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Self {
            path: file.path,
            profile: file.profile,
            secret,
            key_dir,
        }
    }

    /// What every client shares, the expected arguments rendered from the profile's `vars`.
    pub fn conversation(&self) -> Result<Conversation, String> {
        let client = &self.profile.client.value;
        let vars = self.vars();
        let render = |args: &Option<Vec<Value>>| -> Result<Option<Vec<Value>>, String> {
            args.as_ref()
                .map(|args| render_all(args, &vars))
                .transpose()
        };
        Ok(Conversation {
            namespace: client.namespace.clone(),
            path: client.path.clone().unwrap_or_else(|| "/socket.io/".into()),
            transport: client.transport.unwrap_or(TransportKind::Websocket),
            ready: match self.profile.ready() {
                Ready::Connected => ReadySignal::Connected,
                Ready::Ack => {
                    let expected: Vec<_> = client
                        .on_connect
                        .iter()
                        .filter_map(|emit| emit.ack.as_ref().map(|ack| render(&ack.args)))
                        .collect::<Result<_, _>>()?;
                    ReadySignal::Acks {
                        count: expected.len(),
                        expected,
                    }
                }
                Ready::Event(event) => ReadySignal::Event(EventMatch {
                    args: render(&event.args)?,
                    ..event.clone()
                }),
            },
            delivery: self
                .profile
                .fanout
                .as_ref()
                .map(|f| f.value.deliver.clone()),
        })
    }

    /// The plans of clients `indices` (the load clients are numbered from 1).
    pub fn clients(
        &self,
        indices: impl IntoIterator<Item = usize>,
    ) -> Result<Vec<ClientPlan>, String> {
        indices
            .into_iter()
            .map(|index| self.client(index, &self.profile.client.value, &[]))
            .collect()
    }

    /// Client `index` of `shape`, its tokens minted from the profile's specs with `overrides`
    /// replacing those of the same name.
    fn client(
        &self,
        index: usize,
        shape: &VirtualClient,
        overrides: &[(&String, &TokenSpec)],
    ) -> Result<ClientPlan, String> {
        let mut vars = self.vars();
        vars.set("client", json!({ "index": index }));
        let tokens = self
            .profile
            .tokens
            .iter()
            .filter(|(name, _)| !overrides.iter().any(|(o, _)| o == name))
            .chain(overrides.iter().copied());
        self.mint_into(&mut vars, tokens)?;
        let render = |value: &Value| vars.value(value).map_err(|e| e.to_string());
        let pairs = |map: &std::collections::BTreeMap<String, String>| {
            map.iter()
                .map(|(k, v)| Ok((k.clone(), vars.text(v).map_err(|e| e.to_string())?)))
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(ClientPlan {
            auth: shape.auth.as_ref().map(render).transpose()?,
            query: pairs(&shape.query)?,
            headers: pairs(&shape.headers)?,
            on_connect: shape
                .on_connect
                .iter()
                .map(|emit| emit_of(emit, &vars))
                .collect::<Result<_, _>>()?,
        })
    }

    fn vars(&self) -> Vars {
        let mut vars = Vars::default();
        for (name, value) in &self.profile.vars {
            vars.set(name.clone(), value.clone());
        }
        vars
    }

    fn mint_into<'a>(
        &self,
        vars: &mut Vars,
        tokens: impl Iterator<Item = (&'a String, &'a TokenSpec)>,
    ) -> Result<(), String> {
        for (name, spec) in tokens {
            let mut spec = spec.rendered(vars).map_err(|e| e.to_string())?;
            if spec.expires_in == TokenSpec::default().expires_in {
                // A scenario's default hour; a soak may run longer.
                spec.expires_in = Some(crate::scenario::SignedMillis(TOKEN_LIFETIME_MS));
            }
            let token = crate::jwt::mint_in(&spec, self.secret.as_deref(), &self.key_dir)
                .map_err(|e| format!("token {name:?}: {e}"))?;
            vars.set(name.clone(), Value::String(token));
        }
        Ok(())
    }

    /// `seed_sql` for a run of `clients`, when the profile has one.
    pub fn seed_sql(&self, clients: usize) -> Result<Option<String>, String> {
        let Some(sql) = &self.profile.seed_sql else {
            return Ok(None);
        };
        let mut vars = self.vars();
        vars.set("clients", json!(clients.max(1)));
        vars.text(sql).map(Some).map_err(|e| e.to_string())
    }

    /// The fan-out's trigger and broadcaster, or why this profile cannot fan out.
    pub fn fanout(&self) -> Result<FanoutPlan, String> {
        let fanout = self.profile.fanout.as_ref().ok_or_else(|| {
            format!(
                "profile {} has no `fanout` section: what triggers a broadcast and which event every subscriber receives",
                self.path
            )
        })?;
        let fanout = &fanout.value;
        let mut vars = self.vars();
        self.mint_into(&mut vars, fanout.tokens.iter())?;
        let shape = fanout
            .broadcaster
            .as_ref()
            .unwrap_or(&self.profile.client.value);
        let overrides: Vec<_> = fanout.tokens.iter().collect();
        Ok(FanoutPlan {
            trigger: fanout.trigger.clone(),
            vars,
            broadcaster: self.client(0, shape, &overrides)?,
            delivery: fanout.deliver.clone(),
        })
    }

    /// The control client's flow, or why this profile has none.
    pub fn control(&self) -> Result<ControlPlan, String> {
        let control = self.profile.control.as_ref().ok_or_else(|| {
            format!(
                "profile {} has no `control` section: the flow the control client runs and times",
                self.path
            )
        })?;
        let control = &control.value;
        let overrides: Vec<_> = control.tokens.iter().collect();
        let client = self.client(0, &self.profile.client.value, &overrides)?;
        let mut vars = self.vars();
        vars.set("client", json!({ "index": 0 }));
        self.mint_into(&mut vars, control.tokens.iter())?;
        let steps = control
            .steps
            .iter()
            .map(|step| {
                Ok(match &step.value {
                    ControlStep::Emit(emit) => ControlStep::Emit(EmitSpec {
                        args: render_all(&emit.args, &vars)?,
                        ..emit.clone()
                    }),
                    ControlStep::Expect(event) => ControlStep::Expect(EventMatch {
                        args: event
                            .args
                            .as_ref()
                            .map(|args| render_all(args, &vars))
                            .transpose()?,
                        ..event.clone()
                    }),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(ControlPlan {
            client,
            steps,
            interval: control.interval.map_or(Duration::from_millis(700), |i| i.0),
        })
    }
}

fn render_all(values: &[Value], vars: &Vars) -> Result<Vec<Value>, String> {
    values
        .iter()
        .map(|v| vars.value(v).map_err(|e| e.to_string()))
        .collect()
}

fn emit_of(emit: &EmitSpec, vars: &Vars) -> Result<(String, Vec<Value>, Option<u64>), String> {
    Ok((
        emit.event.clone(),
        render_all(&emit.args, vars)?,
        emit.ack.as_ref().map(|ack| {
            ack.timeout
                .map_or(ON_CONNECT_ACK_TIMEOUT, |t| t.0)
                .as_millis() as u64
        }),
    ))
}

/// How long an on-connect emit waits for its ack when the profile does not say.
const ON_CONNECT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

impl ClientPlan {
    /// Options for this client on `endpoint` (whose path and transport are set here), with no
    /// reconnection: callers set their own policy.
    pub fn options(
        &self,
        conversation: &Conversation,
        mut endpoint: EndpointOptions,
    ) -> ClientOptions {
        endpoint.path = conversation.path.clone();
        endpoint.transport = conversation.transport;
        endpoint.query.extend(self.query.iter().cloned());
        endpoint.headers.extend(self.headers.iter().cloned());
        ClientOptions {
            endpoint,
            namespaces: vec![NamespaceOptions {
                auth: self.auth.clone(),
                on_connect: self
                    .on_connect
                    .iter()
                    .map(|(event, args, ack)| {
                        (event.clone(), args.clone(), ack.map(Duration::from_millis))
                    })
                    .collect(),
                ..NamespaceOptions::new(&conversation.namespace)
            }],
            reconnect: crate::client::ReconnectPolicy {
                enabled: false,
                ..crate::client::ReconnectPolicy::default()
            },
            observe_heartbeat: false,
        }
    }

    /// The Socket.IO connect packet this client sends (`40/chat,{"username":"…"}`), for the
    /// fuzzer's raw connections.
    pub fn connect_packet(&self, conversation: &Conversation) -> String {
        let namespace = match conversation.namespace.as_str() {
            "/" => String::new(),
            other => format!("{other},"),
        };
        let auth = self.auth.as_ref().map(Value::to_string).unwrap_or_default();
        format!("40{namespace}{auth}")
    }
}

impl Conversation {
    /// What a client of this conversation is expected to do, for messages.
    pub fn describe(&self) -> String {
        let ready = match &self.ready {
            ReadySignal::Connected => "ready once connected".to_owned(),
            ReadySignal::Acks { count, .. } => {
                format!("ready once its {count} on-connect ack(s) arrive")
            }
            ReadySignal::Event(event) => format!("ready on `{}`", event.event),
        };
        format!(
            "Engine.IO path {}, namespace {}, {ready}",
            self.path, self.namespace
        )
    }

    /// The milestone `observed` marks for a client; `acks` counts its on-connect acks since its
    /// last connect (the one piece of state a client keeps).
    pub fn milestone(&self, observed: &Observed, acks: &AtomicUsize) -> Option<Milestone> {
        match observed {
            Observed::Connect { .. } => {
                acks.store(0, Ordering::Relaxed);
                Some(match self.ready {
                    ReadySignal::Connected => Milestone::Ready,
                    _ => Milestone::Connected,
                })
            }
            Observed::Event { event, args, .. } => {
                if let ReadySignal::Event(wanted) = &self.ready
                    && *event == wanted.event
                {
                    return wanted
                        .args
                        .as_ref()
                        .is_none_or(|expected| {
                            matcher::check(&json!(expected), &json!(args), wanted.partial).is_ok()
                        })
                        .then_some(Milestone::Ready);
                }
                let delivery = self.delivery.as_ref()?;
                (*event == delivery.event).then(|| {
                    Milestone::Message(delivery.sequence.as_ref().map(|path| {
                        match select_in(args, path) {
                            Some(Value::String(text)) => text.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        }
                    }))
                })
            }
            Observed::Ack { args, .. } => {
                let ReadySignal::Acks { count, expected } = &self.ready else {
                    return None;
                };
                let matched = expected.iter().any(|want| {
                    want.as_ref().is_none_or(|want| {
                        matcher::check(&json!(want), &json!(args), false).is_ok()
                    })
                });
                if !matched {
                    return Some(Milestone::Failure(
                        "an on-connect ack did not match `ack.args`".into(),
                    ));
                }
                (acks.fetch_add(1, Ordering::Relaxed) + 1 == *count).then_some(Milestone::Ready)
            }
            Observed::AckError { message, .. } => {
                Some(Milestone::Failure(format!("on-connect ack: {message}")))
            }
            Observed::Disconnect { .. } => Some(Milestone::Lost),
            Observed::ReconnectAttempt { .. } => Some(Milestone::Attempt),
            Observed::ConnectError { message, .. } | Observed::ReconnectError { message, .. } => {
                Some(Milestone::Failure(message.clone()))
            }
            Observed::ReconnectFailed => Some(Milestone::GaveUp),
            _ => None,
        }
    }
}

/// The value at `path` (`0.text`) in an event's arguments.
fn select_in<'a>(args: &'a [Value], path: &str) -> Option<&'a Value> {
    let (first, rest) = path.split_once('.').unwrap_or((path, ""));
    let item = args.get(first.parse::<usize>().ok()?)?;
    if rest.is_empty() {
        Some(item)
    } else {
        matcher::select(item, rest)
    }
}
