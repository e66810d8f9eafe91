//! What the seed's server does with each action, as a scenario: the model follows every client
//! (signed in or refused, connected, cut or gone, which rooms it joined) and each user's
//! rate-limit allowance, and writes each action as its steps plus the steps that wait for its
//! answers. Every answer is waited for by an `expect` naming only the event (its arguments are
//! left to the transcript), and an emit that gets no answer (`unsubscribe:status`, joining the
//! notification room) is followed by a `notification:read` of an unknown id whose error is
//! waited for: events of one socket are handled in order, so the room change has happened before
//! the next HTTP push. A transcript then depends on the server only, and two servers that behave
//! the same give the same one.
//!
//! Actions that make no sense where they stand (a client used before it connects or after it is
//! gone, a restore without a cut, an event beyond the user's allowance) are left out, so any
//! subsequence of actions renders to a valid scenario. Each user sends each event at most
//! [`RATE_BUDGET`] times in a sequence, under the targets' limit (5 per 2 s), whatever the timing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

pub use super::namespace::{FIXTURE_NOTIFICATIONS, Namespace};
use super::vocabulary::{Action, BadRequest, Credential, InvalidId, Push, ReadTarget, Role, Room};
use crate::scenario::{
    ClientRef, ConnectOutcome, ConnectStep, CutMode, CutStep, DisconnectMatch, DisconnectStep,
    Draft, DraftStep, EmitStep, Empty, ExpectStep, HttpStep, Millis, Reconnection,
    ReconnectionPolicy, SignedMillis, Step, TokenSpec, WriteError,
};
use crate::transport::TransportKind;

/// Events a user may send of each kind in one sequence (the targets allow 5 per 2 s).
pub const RATE_BUDGET: u32 = 4;

const SERVICES: [&str; 3] = ["jellyfin", "plex", "sonarr"];
/// One uptime is a whole number: Node writes it `95`, Rust `95.0`, the same JSON number, which
/// transcripts write one way since this fuzzer found it.
const STATUSES: [(&str, i64, f64); 3] = [
    ("up", 40, 99.9),
    ("down", 0, 95.0),
    ("degraded", 900, 97.25),
];
const NOTIFICATION_TYPES: [&str; 3] = ["info", "warning", "success"];
/// The argument of a `notification:read` sent only to wait for the events before it.
const SYNC_ID: &str = "sync";

/// A sequence as a scenario.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub yaml: String,
    /// The actions the model kept, in order.
    pub kept: Vec<Action>,
    pub steps: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Up,
    Cut,
    Gone,
}

#[derive(Debug, Clone, Copy)]
struct ClientState {
    role: Role,
    link: Link,
    status: bool,
    notifications: bool,
}

/// The model's state while it renders one sequence.
struct Model<'a> {
    namespace: &'a Namespace,
    /// Every client name used so far, `None` for one whose handshake was refused.
    clients: BTreeMap<usize, Option<ClientState>>,
    sent: BTreeMap<(Role, &'static str), u32>,
    /// Owners of the notifications created over HTTP, in order (`{{note0}}` …).
    created: Vec<Role>,
    steps: Vec<Step>,
}

/// Renders `actions` on `namespace`'s users as the steps and tokens of `head` (whose header,
/// name and description are kept).
pub fn render(
    head: Draft,
    actions: &[Action],
    namespace: &Namespace,
) -> Result<Rendered, WriteError> {
    let mut model = Model {
        namespace,
        clients: BTreeMap::new(),
        sent: BTreeMap::new(),
        created: Vec::new(),
        steps: Vec::new(),
    };
    let kept: Vec<Action> = actions
        .iter()
        .copied()
        .filter(|action| model.apply(*action))
        .collect();
    if model.steps.is_empty() {
        // A scenario needs a step; a sequence the model kept nothing of checks the server is up.
        model.steps.push(Step::Http(HttpStep {
            status: Some(200),
            ..HttpStep::new("GET", "/health")
        }));
    }
    let steps = model.steps.len();
    let draft = Draft {
        tokens: model
            .tokens()
            .into_iter()
            .map(|(name, spec)| (name.to_owned(), spec))
            .collect(),
        steps: model.steps.into_iter().map(DraftStep::from).collect(),
        ..head
    };
    Ok(Rendered {
        yaml: draft.write()?,
        kept,
        steps,
    })
}

fn client_name(client: usize) -> String {
    format!("c{client}")
}

fn token_name(credential: Credential) -> &'static str {
    match credential {
        Credential::Valid(Role::Admin) => "admin",
        Credential::Valid(Role::Alice) => "alice",
        Credential::Valid(Role::Bob) => "bob",
        Credential::Valid(Role::Carol) => "carol_suspended",
        Credential::Expired => "alice_expired",
        Credential::WrongSecret => "alice_wrong_secret",
        Credential::Ghost => "ghost",
    }
}

impl Model<'_> {
    fn tokens(&self) -> Vec<(&'static str, TokenSpec)> {
        let user = |user: String| TokenSpec {
            user: Some(user),
            ..TokenSpec::default()
        };
        let role = |role| user(self.namespace.user_id(role));
        vec![
            (
                token_name(Credential::Valid(Role::Admin)),
                role(Role::Admin),
            ),
            (
                token_name(Credential::Valid(Role::Alice)),
                role(Role::Alice),
            ),
            (token_name(Credential::Valid(Role::Bob)), role(Role::Bob)),
            (
                token_name(Credential::Valid(Role::Carol)),
                role(Role::Carol),
            ),
            (
                token_name(Credential::Expired),
                TokenSpec {
                    expires_in: Some(SignedMillis(-3_600_000)),
                    ..role(Role::Alice)
                },
            ),
            (
                token_name(Credential::WrongSecret),
                TokenSpec {
                    secret: Some("not-the-server-secret-but-long-enough-0123".to_owned()),
                    ..role(Role::Alice)
                },
            ),
            (
                token_name(Credential::Ghost),
                user(format!("{}no-such-user", self.namespace.prefix)),
            ),
        ]
    }

    /// Up clients for which `pick` holds, by name.
    fn up_clients(&self, pick: impl Fn(&ClientState) -> bool) -> Vec<String> {
        self.clients
            .iter()
            .filter_map(|(client, state)| {
                let state = state.as_ref()?;
                (state.link == Link::Up && pick(state)).then(|| client_name(*client))
            })
            .collect()
    }

    fn up(&self, client: usize) -> Option<ClientState> {
        self.clients
            .get(&client)
            .copied()
            .flatten()
            .filter(|s| s.link == Link::Up)
    }

    fn state_mut(&mut self, client: usize) -> Option<&mut ClientState> {
        self.clients.get_mut(&client).and_then(Option::as_mut)
    }

    /// Takes one of `events` each from `role`'s allowance, if all of them are left.
    fn spend(&mut self, role: Role, events: &[&'static str]) -> bool {
        if events
            .iter()
            .any(|e| self.sent.get(&(role, *e)).copied().unwrap_or(0) >= RATE_BUDGET)
        {
            return false;
        }
        for event in events {
            *self.sent.entry((role, *event)).or_default() += 1;
        }
        true
    }

    fn expect_event(&mut self, clients: Vec<String>, event: &str) {
        let mut clients = clients.into_iter();
        let (Some(first), rest) = (clients.next(), clients.collect::<Vec<_>>()) else {
            return;
        };
        let expect = if rest.is_empty() {
            ExpectStep::event(first, event)
        } else {
            ExpectStep {
                client: None,
                clients: std::iter::once(first).chain(rest).collect(),
                ..ExpectStep::event(String::new(), event)
            }
        };
        self.steps.push(Step::Expect(expect));
    }

    fn emit(&mut self, client: &str, event: &str, args: Vec<Value>) {
        self.steps
            .push(Step::Emit(EmitStep::new(client, event, args)));
    }

    /// An emit with no answer, then a read of an unknown id whose answer is waited for.
    fn emit_then_sync(&mut self, client: usize, event: &str) {
        let name = client_name(client);
        self.emit(&name, event, Vec::new());
        self.emit(&name, "notification:read", vec![json!(SYNC_ID)]);
        self.expect_event(vec![name], "notification:read:error");
    }

    /// Adds `action`'s steps; `false` (and no step) if it makes no sense here.
    fn apply(&mut self, action: Action) -> bool {
        match action {
            Action::Connect {
                client,
                credential,
                polling,
            } => self.connect(client, credential, polling),
            Action::Subscribe { client, room } => self.subscribe(client, room),
            Action::Unsubscribe { client, room } => self.unsubscribe(client, room),
            Action::Read { client, target } => self.read(client, target),
            Action::Refresh { client } => self.refresh(client),
            Action::Push(push) => self.push(push),
            Action::SetStatus { service, status } => self.set_status(service, status),
            Action::BadRequest(request) => {
                self.bad_request(request);
                true
            }
            Action::Cut { client } => self.cut(client),
            Action::Restore { client } => self.restore(client),
            Action::Disconnect { client } => {
                let Some(state) = self.state_mut(client).filter(|s| s.link == Link::Up) else {
                    return false;
                };
                state.link = Link::Gone;
                self.steps.push(Step::Disconnect(DisconnectStep {
                    client: client_name(client),
                    namespace: None,
                }));
                true
            }
        }
    }

    fn connect(&mut self, client: usize, credential: Credential, polling: bool) -> bool {
        if self.clients.contains_key(&client) {
            return false;
        }
        let mut connect = ConnectStep {
            auth: Some(json!({"token": format!("{{{{{}}}}}", token_name(credential))})),
            transport: polling.then_some(TransportKind::Polling),
            ..ConnectStep::new(client_name(client))
        };
        let state = match credential {
            Credential::Valid(role) if role != Role::Carol => {
                connect.reconnection = Some(Reconnection::Policy(ReconnectionPolicy {
                    attempts: None,
                    delay: Some(Millis(Duration::from_millis(100))),
                    delay_max: Some(Millis(Duration::from_millis(200))),
                    randomization: Some(0.0),
                }));
                Some(ClientState {
                    role,
                    link: Link::Up,
                    status: false,
                    notifications: false,
                })
            }
            _ => {
                connect.expect = ConnectOutcome::ConnectError;
                None
            }
        };
        self.clients.insert(client, state);
        self.steps.push(Step::Connect(connect));
        true
    }

    fn subscribe(&mut self, client: usize, room: Room) -> bool {
        let Some(state) = self.up(client) else {
            return false;
        };
        match room {
            Room::Status => {
                if !self.spend(state.role, &["subscribe:status"]) {
                    return false;
                }
                let name = client_name(client);
                self.emit(&name, "subscribe:status", Vec::new());
                self.expect_event(vec![name], "status:current");
            }
            Room::Notifications => {
                if !self.spend(
                    state.role,
                    &["subscribe:notifications", "notification:read"],
                ) {
                    return false;
                }
                self.emit_then_sync(client, "subscribe:notifications");
            }
        }
        if let Some(state) = self.state_mut(client) {
            match room {
                Room::Status => state.status = true,
                Room::Notifications => state.notifications = true,
            }
        }
        true
    }

    fn unsubscribe(&mut self, client: usize, room: Room) -> bool {
        let Some(state) = self.up(client) else {
            return false;
        };
        // The seed has no `unsubscribe:notifications`: an event no handler takes, which must be
        // ignored alike (the room is kept).
        let event = match room {
            Room::Status => "unsubscribe:status",
            Room::Notifications => "unsubscribe:notifications",
        };
        if !self.spend(state.role, &[event, "notification:read"]) {
            return false;
        }
        self.emit_then_sync(client, event);
        if let (Room::Status, Some(state)) = (room, self.state_mut(client)) {
            state.status = false;
        }
        true
    }

    fn read(&mut self, client: usize, target: ReadTarget) -> bool {
        let Some(state) = self.up(client) else {
            return false;
        };
        let (args, owner) = match target {
            ReadTarget::Fixture(index) => {
                let (_, owner) = FIXTURE_NOTIFICATIONS[index % FIXTURE_NOTIFICATIONS.len()];
                (
                    vec![json!(self.namespace.notification_id(index))],
                    Some(owner),
                )
            }
            ReadTarget::Created(index) => {
                let Some(owner) = self.created.get(index).copied() else {
                    return false;
                };
                (vec![json!(format!("{{{{note{index}}}}}"))], Some(owner))
            }
            ReadTarget::Unknown => (vec![json!("no-such-notification")], None),
            ReadTarget::Invalid(InvalidId::Number) => (vec![json!(42)], None),
            ReadTarget::Invalid(InvalidId::Empty) => (vec![json!("")], None),
            ReadTarget::Invalid(InvalidId::Object) => {
                (vec![json!({"id": self.namespace.notification_id(0)})], None)
            }
            ReadTarget::Invalid(InvalidId::Missing) => (Vec::new(), None),
        };
        if !self.spend(state.role, &["notification:read"]) {
            return false;
        }
        let name = client_name(client);
        self.emit(&name, "notification:read", args);
        // Reading one's own notification succeeds, also when it was read before.
        let answer = if owner == Some(state.role) {
            "notification:read:success"
        } else {
            "notification:read:error"
        };
        self.expect_event(vec![name], answer);
        true
    }

    fn refresh(&mut self, client: usize) -> bool {
        let Some(state) = self.up(client) else {
            return false;
        };
        if !self.spend(state.role, &["admin:refresh-status"]) {
            return false;
        }
        let name = client_name(client);
        self.emit(&name, "admin:refresh-status", Vec::new());
        if state.role == Role::Admin {
            // Every status subscriber is told, the admin too if it is one.
            let subscribers = self.up_clients(|s| s.status);
            if !subscribers.contains(&name) {
                // Nothing comes back to the admin: wait for its event to be handled.
                if !self.spend(state.role, &["notification:read"]) {
                    self.steps.pop();
                    self.sent
                        .entry((state.role, "admin:refresh-status"))
                        .and_modify(|n| *n -= 1);
                    return false;
                }
                self.emit(&name, "notification:read", vec![json!(SYNC_ID)]);
                self.expect_event(vec![name], "notification:read:error");
            }
            self.expect_event(subscribers, "status:refreshing");
        } else {
            self.expect_event(vec![name], "error");
        }
        true
    }

    fn push(&mut self, push: Push) -> bool {
        let number = self.created.len();
        let (token, user, recipient) = match push {
            Push::ForUser(role) => ("admin", self.namespace.user_id(role), Some(role)),
            Push::ForGhost => (
                "admin",
                format!("{}no-such-user", self.namespace.prefix),
                None,
            ),
            Push::ByNonAdmin => ("alice", self.namespace.user_id(Role::Bob), None),
        };
        let mut http = HttpStep {
            token: Some(format!("{{{{{token}}}}}")),
            body: Some(json!({
                "userId": user,
                "title": format!("Fuzz {number}"),
                "message": "From the differential fuzzer.",
                "type": NOTIFICATION_TYPES[number % NOTIFICATION_TYPES.len()],
            })),
            ..HttpStep::new("POST", "/api/v1/notifications")
        };
        if let Some(role) = recipient {
            http.status = Some(201);
            http.capture = [(format!("note{number}"), "body.id".to_owned())].into();
            self.created.push(role);
        }
        self.steps.push(Step::Http(http));
        if let Some(role) = recipient {
            let reached = self.up_clients(|s| s.notifications && s.role == role);
            self.expect_event(reached, "notification:new");
        }
        true
    }

    fn set_status(&mut self, service: usize, status: usize) -> bool {
        let service = SERVICES[service % SERVICES.len()];
        let (status, response_time, uptime) = STATUSES[status % STATUSES.len()];
        self.steps.push(Step::Http(HttpStep {
            token: Some("{{admin}}".to_owned()),
            body: Some(json!({"status": status, "responseTime": response_time, "uptime": uptime})),
            status: Some(200),
            ..HttpStep::new("PUT", format!("/api/v1/status/{service}"))
        }));
        let subscribers = self.up_clients(|s| s.status);
        self.expect_event(subscribers, "service:status");
        true
    }

    /// A request refused with 400: its answer is recorded (the words too), nothing is pushed.
    fn bad_request(&mut self, request: BadRequest) {
        let user = self.namespace.user_id(Role::Alice);
        let notification = |body: Value| ("POST", "/api/v1/notifications".to_owned(), body);
        let status = |body: Value| ("PUT", "/api/v1/status/plex".to_owned(), body);
        let (method, path, body) = match request {
            BadRequest::EmptyTitle => {
                notification(json!({"userId": user, "title": "", "message": "m"}))
            }
            BadRequest::MalformedJson => {
                self.steps.push(Step::Http(HttpStep {
                    token: Some("{{admin}}".to_owned()),
                    raw_body: Some("{\"userId\": ".to_owned()),
                    status: Some(400),
                    ..HttpStep::new("POST", "/api/v1/notifications")
                }));
                return;
            }
            BadRequest::NegativeResponseTime => status(json!({"status": "up", "responseTime": -1})),
            BadRequest::UptimeOver100 => status(json!({"status": "up", "uptime": 100.5})),
            BadRequest::MissingMessage => notification(json!({"userId": user, "title": "t"})),
            BadRequest::UnknownField => notification(
                json!({"userId": user, "title": "t", "message": "m", "priority": "high"}),
            ),
        };
        self.steps.push(Step::Http(HttpStep {
            token: Some("{{admin}}".to_owned()),
            body: Some(body),
            status: Some(400),
            ..HttpStep::new(method, path)
        }));
    }

    fn cut(&mut self, client: usize) -> bool {
        let Some(state) = self.state_mut(client).filter(|s| s.link == Link::Up) else {
            return false;
        };
        state.link = Link::Cut;
        let name = client_name(client);
        self.steps.push(Step::Cut(CutStep {
            client: name.clone(),
            mode: CutMode::Reset,
        }));
        self.steps.push(Step::Expect(ExpectStep {
            disconnect: Some(DisconnectMatch::default()),
            ..ExpectStep::of(name)
        }));
        true
    }

    fn restore(&mut self, client: usize) -> bool {
        let Some(state) = self.state_mut(client).filter(|s| s.link == Link::Cut) else {
            return false;
        };
        // A new socket: the rooms of the old one are gone.
        *state = ClientState {
            link: Link::Up,
            status: false,
            notifications: false,
            ..*state
        };
        let name = client_name(client);
        self.steps.push(Step::Restore(ClientRef {
            client: name.clone(),
        }));
        self.steps.push(Step::Expect(ExpectStep {
            reconnect: Some(Empty {}),
            timeout: Some(Millis(Duration::from_secs(5))),
            ..ExpectStep::of(name.clone())
        }));
        self.steps.push(Step::Expect(ExpectStep {
            connect: Some(Empty {}),
            ..ExpectStep::of(name)
        }));
        true
    }
}

#[cfg(test)]
mod tests;
