//! A Socket.IO v4 client that reports everything it sees and does as typed [`Observation`]s.
//!
//! [`Client::connect`] spawns a driver task that owns the Engine.IO [`Link`]: it answers pings,
//! notices a dead server after `pingInterval + pingTimeout`, connects namespaces with their auth,
//! tracks acks in both directions with timeouts, and reconnects with the official client's
//! back-off, re-joining every namespace with the same auth. The caller sends [`Command`]s through
//! the handle and reads observations in order; a load generator runs the driver in its own task
//! with [`run_observed`] and is handed each observation as it happens. Disconnect reasons and
//! error messages are named as the official JavaScript client names them, so transcripts read
//! the same.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::codec::engine::{EnginePacket, Frame};
use crate::codec::socket::{Assembler, Packet, PacketKind};
use crate::transport::{self, EndpointOptions, Link, LinkEvent, TransportKind};

/// The official client's reconnection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    pub enabled: bool,
    /// `None` is unlimited, the official default.
    pub attempts: Option<u32>,
    pub delay: Duration,
    pub delay_max: Duration,
    pub randomization: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            attempts: None,
            delay: Duration::from_millis(1000),
            delay_max: Duration::from_millis(5000),
            randomization: 0.5,
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `attempt + 1`: `delay * 2^attempt`, jittered, capped at `delay_max`.
    pub fn delay_for(&self, attempt: u32, random: f64) -> Duration {
        let base = self.delay.as_millis() as f64 * 2f64.powi(attempt.min(62) as i32);
        let mut ms = base;
        if self.randomization > 0.0 {
            let deviation = (random * self.randomization * base).floor();
            ms = if ((random * 10.0).floor() as u64) & 1 == 0 {
                base - deviation
            } else {
                base + deviation
            };
        }
        Duration::from_millis(ms.min(self.delay_max.as_millis() as f64).max(0.0) as u64)
    }
}

/// A namespace to connect, with what to send on every (re)connect.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceOptions {
    pub nsp: String,
    pub auth: Option<Value>,
    /// Emitted, in order, each time the namespace connects (the browser client re-subscribes so).
    pub on_connect: Vec<(String, Vec<Value>)>,
}

impl NamespaceOptions {
    pub fn new(nsp: impl Into<String>) -> Self {
        Self {
            nsp: nsp.into(),
            auth: None,
            on_connect: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub endpoint: EndpointOptions,
    pub namespaces: Vec<NamespaceOptions>,
    pub reconnect: ReconnectPolicy,
    /// Report pings and pongs (off by default: servers differ in ping timing).
    pub observe_heartbeat: bool,
}

impl ClientOptions {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            endpoint: EndpointOptions::new(base_url),
            namespaces: vec![NamespaceOptions::new("/")],
            reconnect: ReconnectPolicy::default(),
            observe_heartbeat: false,
        }
    }
}

/// One thing a client saw or did, `at` from the client's creation (monotonic).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    #[serde(skip)]
    pub at: Duration,
    /// The command whose handling produced this observation, numbered from 0 in the order the
    /// handle sent them (see [`Client::commands_sent`]); `None` for what the server, the
    /// network or a timer caused, and for what the client did on its own in answer to it (the
    /// `on_connect` emits). Transcripts use it to place a client's own actions
    /// deterministically among what it received.
    #[serde(skip)]
    pub command: Option<u64>,
    #[serde(flatten)]
    pub what: Observed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Observed {
    /// An Engine.IO session opened (and, for `upgrade`, was upgraded).
    Open {
        transport: TransportKind,
        sid: String,
        ping_interval: u64,
        ping_timeout: u64,
        max_payload: u64,
    },
    Connect {
        nsp: String,
        sid: String,
    },
    ConnectError {
        nsp: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    /// An event from the server; `ack_id` when the server asks for an acknowledgement.
    Event {
        nsp: String,
        event: String,
        args: Vec<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ack_id: Option<u64>,
    },
    /// An event this client sent.
    Emit {
        nsp: String,
        event: String,
        args: Vec<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ack_id: Option<u64>,
    },
    /// The server acknowledged this client's event `id`.
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    /// This client acknowledged the server's event `id`.
    AckSent {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    /// An ack this client waited for will not come: `operation has timed out` or
    /// `socket has been disconnected`.
    AckError {
        nsp: String,
        id: u64,
        message: String,
    },
    Disconnect {
        nsp: String,
        reason: String,
    },
    ReconnectAttempt {
        attempt: u32,
    },
    ReconnectError {
        attempt: u32,
        message: String,
    },
    Reconnect {
        attempt: u32,
    },
    ReconnectFailed,
    Ping,
    Pong,
}

impl Observed {
    /// The namespace this observation belongs to, if any.
    pub fn nsp(&self) -> Option<&str> {
        match self {
            Observed::Connect { nsp, .. }
            | Observed::ConnectError { nsp, .. }
            | Observed::Event { nsp, .. }
            | Observed::Emit { nsp, .. }
            | Observed::Ack { nsp, .. }
            | Observed::AckSent { nsp, .. }
            | Observed::AckError { nsp, .. }
            | Observed::Disconnect { nsp, .. } => Some(nsp),
            _ => None,
        }
    }
}

/// What the handle asks of the driver.
#[derive(Debug)]
pub enum Command {
    Connect(NamespaceOptions),
    Emit {
        nsp: String,
        event: String,
        args: Vec<Value>,
        ack_timeout: Option<Duration>,
    },
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    DisconnectNamespace(String),
    Raw(Frame),
    /// `socket.disconnect()` on every namespace, then close; no reconnection.
    Close,
    /// Lose the connection as a network failure would (`transport error`), then reconnect
    /// according to the policy. For load tests.
    SimulateNetworkLoss,
}

/// Handle to a running client.
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    /// How many commands were handed to the driver; the driver numbers them the same way.
    commands_sent: AtomicU64,
    observations: mpsc::UnboundedReceiver<Observation>,
    /// When the driver started: `Observation::at` counts from here.
    started: Instant,
    /// Everything received so far, in order.
    history: Vec<Observation>,
    /// Indices into `history` not yet taken by [`Client::wait_for`].
    unconsumed: VecDeque<usize>,
    /// What [`Client::wait_for`] took, in the order it took it.
    taken: Vec<Taken>,
}

/// One observation taken by [`Client::wait_for`]: its index in the history, and how many
/// commands had been sent when it was taken (so it had arrived before the later ones were sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub index: usize,
    pub commands_sent: u64,
}

/// The driver is gone (the client was closed and every observation read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client is closed")]
pub struct ClientClosed;

impl Client {
    /// Starts the client: opens the transport and connects the configured namespaces.
    pub fn connect(options: ClientOptions) -> Self {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (observation_tx, observations) = mpsc::unbounded_channel();
        let observer = Box::new(move |observation| {
            // The handle may be gone; the driver then finishes when its commands end.
            let _ = observation_tx.send(observation);
        });
        let started = Instant::now();
        tokio::spawn(Driver::new(options, command_rx, observer, started).run());
        Self {
            commands,
            commands_sent: AtomicU64::new(0),
            observations,
            started,
            history: Vec::new(),
            unconsumed: VecDeque::new(),
            taken: Vec::new(),
        }
    }

    pub fn send(&self, command: Command) -> Result<(), ClientClosed> {
        self.commands.send(command).map_err(|_| ClientClosed)?;
        self.commands_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many commands this handle has sent; the next one gets this number.
    pub fn commands_sent(&self) -> u64 {
        self.commands_sent.load(Ordering::Relaxed)
    }

    /// When the client started: every `Observation::at` counts from this instant.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// What [`Client::wait_for`] took so far, in order.
    pub fn taken(&self) -> &[Taken] {
        &self.taken
    }

    pub fn emit(
        &self,
        nsp: &str,
        event: &str,
        args: Vec<Value>,
        ack_timeout: Option<Duration>,
    ) -> Result<(), ClientClosed> {
        self.send(Command::Emit {
            nsp: nsp.to_owned(),
            event: event.to_owned(),
            args,
            ack_timeout,
        })
    }

    pub fn ack(&self, nsp: &str, id: u64, args: Vec<Value>) -> Result<(), ClientClosed> {
        self.send(Command::Ack {
            nsp: nsp.to_owned(),
            id,
            args,
        })
    }

    pub fn close(&self) {
        let _ = self.send(Command::Close);
    }

    /// Everything observed so far (only what has been pulled by `next` or `wait_for`).
    pub fn history(&self) -> &[Observation] {
        &self.history
    }

    /// Observations received but not yet taken by a matching `wait_for`.
    pub fn unconsumed(&self) -> impl Iterator<Item = &Observation> {
        self.unconsumed.iter().filter_map(|&i| self.history.get(i))
    }

    fn record(&mut self, observation: Observation) {
        self.unconsumed.push_back(self.history.len());
        self.history.push(observation);
    }

    /// Pulls whatever has already arrived, without waiting.
    pub fn drain(&mut self) {
        while let Ok(observation) = self.observations.try_recv() {
            self.record(observation);
        }
    }

    /// Pulls observations for `window`; returns false if the driver is gone.
    pub async fn pump_for(&mut self, window: Duration) -> bool {
        let deadline = Instant::now() + window;
        loop {
            match tokio::time::timeout_at(deadline, self.observations.recv()).await {
                Ok(Some(observation)) => self.record(observation),
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    /// Takes the first unconsumed observation matching `wanted`, waiting up to `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&Observed) -> bool,
    ) -> Option<Observation> {
        let deadline = Instant::now() + timeout;
        self.drain();
        let mut checked = 0;
        loop {
            let position = self
                .unconsumed
                .iter()
                .skip(checked)
                .position(|&i| self.history.get(i).is_some_and(|o| wanted(&o.what)));
            if let Some(offset) = position {
                let index = self.unconsumed.remove(checked + offset)?;
                self.taken.push(Taken {
                    index,
                    commands_sent: self.commands_sent(),
                });
                return self.history.get(index).cloned();
            }
            checked = self.unconsumed.len();
            match tokio::time::timeout_at(deadline, self.observations.recv()).await {
                Ok(Some(observation)) => self.record(observation),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Takes the next unconsumed observation, whatever it is.
    pub async fn next(&mut self, timeout: Duration) -> Option<Observation> {
        self.wait_for(timeout, |_| true).await
    }
}

#[derive(Debug, Clone, PartialEq)]
enum NsState {
    Connecting,
    Connected,
    /// Not connected; reconnects with the client while `active`.
    Down,
}

struct Namespace {
    options: NamespaceOptions,
    state: NsState,
    /// False once the server or the user disconnected it, or it was refused: no reconnection.
    active: bool,
    next_ack: u64,
    pending_acks: HashMap<u64, Instant>,
    /// Emits waiting for the namespace to connect.
    buffered: Vec<BufferedEmit>,
}

/// An emit asked for while its namespace was not connected.
struct BufferedEmit {
    event: String,
    args: Vec<Value>,
    ack_timeout: Option<Duration>,
    /// The number of the command that asked for it.
    asked_by: Option<u64>,
}

enum SessionEnd {
    /// The user closed the client, or no namespace is left to serve.
    Finished,
    Lost(&'static str),
}

/// Where a driver's observations go, in order.
type Observer = Box<dyn Fn(Observation) + Send + Sync>;

/// Runs a client in the calling task until it finishes (closed, its command senders gone, or
/// out of reconnection attempts), handing every observation to `observer` as it happens. A load
/// generator with thousands of clients uses this: no handle task, no queue, no history.
pub async fn run_observed(
    options: ClientOptions,
    commands: mpsc::UnboundedReceiver<Command>,
    observer: impl Fn(Observation) + Send + Sync + 'static,
) {
    Driver::new(options, commands, Box::new(observer), Instant::now())
        .run()
        .await;
}

struct Driver {
    options: ClientOptions,
    started: Instant,
    commands: mpsc::UnboundedReceiver<Command>,
    observer: Observer,
    namespaces: Vec<Namespace>,
    /// The session is ending by [`Command::SimulateNetworkLoss`]: drop it without a goodbye.
    network_lost: bool,
    /// How many commands have been received (the next one's number).
    commands_received: u64,
    /// The command being handled: observations made meanwhile are its doing.
    cause: Option<u64>,
}

impl Driver {
    fn new(
        options: ClientOptions,
        commands: mpsc::UnboundedReceiver<Command>,
        observer: Observer,
        started: Instant,
    ) -> Self {
        let namespaces = options
            .namespaces
            .iter()
            .cloned()
            .map(Namespace::new)
            .collect();
        Self {
            options,
            started,
            commands,
            observer,
            namespaces,
            network_lost: false,
            commands_received: 0,
            cause: None,
        }
    }

    fn observe(&self, what: Observed) {
        (self.observer)(Observation {
            at: self.started.elapsed(),
            command: self.cause,
            what,
        });
    }

    /// Numbers a command just received, as the handle numbered it when sending.
    fn received(&mut self, command: &Option<Command>) -> Option<u64> {
        command.as_ref()?;
        let number = self.commands_received;
        self.commands_received += 1;
        Some(number)
    }

    fn any_active(&self) -> bool {
        self.namespaces.iter().any(|ns| ns.active)
    }

    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            match transport::open(&self.options.endpoint).await {
                Ok(link) => {
                    if attempt > 0 {
                        self.observe(Observed::Reconnect { attempt });
                    }
                    attempt = 0;
                    match self.session(link).await {
                        SessionEnd::Finished => return,
                        SessionEnd::Lost(reason) => self.mark_lost(reason),
                    }
                }
                Err(error) if attempt == 0 => {
                    let message = error.client_message();
                    for ns in self.namespaces.iter().filter(|ns| ns.active) {
                        self.observe(Observed::ConnectError {
                            nsp: ns.options.nsp.clone(),
                            message: message.clone(),
                            data: None,
                        });
                    }
                }
                Err(error) => self.observe(Observed::ReconnectError {
                    attempt,
                    message: error.client_message(),
                }),
            }
            let policy = self.options.reconnect.clone();
            if !policy.enabled || !self.any_active() {
                return;
            }
            if policy.attempts.is_some_and(|max| attempt >= max) {
                self.observe(Observed::ReconnectFailed);
                return;
            }
            let delay = policy.delay_for(attempt, rand::random::<f64>());
            attempt += 1;
            if !self.wait_offline(delay).await {
                return;
            }
            self.observe(Observed::ReconnectAttempt { attempt });
        }
    }

    /// The transport is gone: every namespace connected or connecting sees `reason` and waits
    /// to reconnect. A namespace whose CONNECT was not answered yet is told too, as the official
    /// client's `Socket.onclose` tells every socket of its Manager (socket.io-client 4.8): without
    /// it a session closed before the answer (a ping timeout, the server's connect timeout) left
    /// a client with reconnection off silent, which read as a connect never answered (issue 26).
    fn mark_lost(&mut self, reason: &str) {
        let mut lost = Vec::new();
        for ns in &mut self.namespaces {
            if ns.state != NsState::Down {
                lost.push(ns.options.nsp.clone());
            }
            ns.state = NsState::Down;
        }
        for nsp in lost {
            self.fail_acks(&nsp, "socket has been disconnected");
            self.observe(Observed::Disconnect {
                nsp,
                reason: reason.to_owned(),
            });
        }
    }

    /// Handles commands while disconnected, until `delay` passes. False if the user closed.
    async fn wait_offline(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return true,
                command = self.commands.recv() => match (self.received(&command), command) {
                    (_, None | Some(Command::Close)) => {
                        for ns in &mut self.namespaces { ns.active = false; }
                        return false;
                    }
                    (number, Some(Command::Emit { nsp, event, args, ack_timeout })) => {
                        if let Some(ns) = self.namespace_mut(&nsp) { ns.buffered.push(BufferedEmit { event, args, ack_timeout, asked_by: number }); }
                    }
                    (_, Some(Command::Connect(options))) => self.add_namespace(options),
                    (_, Some(Command::DisconnectNamespace(nsp))) => {
                        if let Some(ns) = self.namespace_mut(&nsp) { ns.active = false; }
                        if !self.any_active() { return false; }
                    }
                    (_, Some(Command::Ack { .. } | Command::Raw(_) | Command::SimulateNetworkLoss)) => {}
                },
            }
        }
    }

    fn namespace_mut(&mut self, nsp: &str) -> Option<&mut Namespace> {
        self.namespaces.iter_mut().find(|ns| ns.options.nsp == nsp)
    }

    fn add_namespace(&mut self, options: NamespaceOptions) {
        match self.namespace_mut(&options.nsp) {
            Some(ns) => {
                ns.options = options;
                ns.active = true;
            }
            None => self.namespaces.push(Namespace::new(options)),
        }
    }

    fn heartbeat_deadline(link: &Link) -> Instant {
        Instant::now()
            + Duration::from_millis(link.handshake.ping_interval + link.handshake.ping_timeout)
    }

    async fn session(&mut self, mut link: Link) -> SessionEnd {
        self.observe(Observed::Open {
            transport: link.transport,
            sid: link.handshake.sid.clone(),
            ping_interval: link.handshake.ping_interval,
            ping_timeout: link.handshake.ping_timeout,
            max_payload: link.handshake.max_payload,
        });
        // One timer for the session, moved on each ping rather than made anew on every packet.
        let heartbeat = tokio::time::sleep_until(Self::heartbeat_deadline(&link));
        tokio::pin!(heartbeat);
        let to_connect: Vec<usize> = (0..self.namespaces.len())
            .filter(|&i| self.namespaces[i].active)
            .collect();
        for i in to_connect {
            self.send_connect(&mut link, i);
        }
        let mut assembler = Assembler::default();
        let end = loop {
            let ack_deadline = self.next_ack_deadline();
            // Commands first: what the user did before a reply arrived is recorded before it.
            tokio::select! {
                biased;
                command = self.commands.recv() => {
                    self.cause = self.received(&command);
                    let end = self.on_command(&mut link, command);
                    self.cause = None;
                    if let Some(end) = end { break end; }
                }
                event = link.next_event() => {
                    match event {
                        LinkEvent::Packet(EnginePacket::Ping(data)) => {
                            heartbeat.as_mut().reset(Self::heartbeat_deadline(&link));
                            if self.options.observe_heartbeat { self.observe(Observed::Ping); }
                            link.send(EnginePacket::Pong(data));
                        }
                        LinkEvent::Packet(packet) => {
                            if let Some(end) = self.on_engine_packet(&mut link, &mut assembler, packet) { break end; }
                        }
                        LinkEvent::Malformed(_) => break SessionEnd::Lost("parse error"),
                        LinkEvent::Closed { reason, .. } => break SessionEnd::Lost(reason),
                    }
                }
                () = &mut heartbeat => break SessionEnd::Lost("ping timeout"),
                () = sleep_until_option(ack_deadline) => self.expire_acks(),
            }
        };
        match end {
            SessionEnd::Lost("transport error") if self.network_lost => link.abort(),
            _ => link.close(),
        }
        self.network_lost = false;
        end
    }

    fn send_connect(&mut self, link: &mut Link, index: usize) {
        if let Some(ns) = self.namespaces.get_mut(index) {
            ns.state = NsState::Connecting;
            send_packet(
                link,
                &Packet::connect(&ns.options.nsp, ns.options.auth.clone()),
            );
        }
    }

    fn on_command(&mut self, link: &mut Link, command: Option<Command>) -> Option<SessionEnd> {
        match command {
            None | Some(Command::Close) => {
                let connected: Vec<String> = self
                    .namespaces
                    .iter()
                    .filter(|ns| ns.state == NsState::Connected)
                    .map(|ns| ns.options.nsp.clone())
                    .collect();
                for nsp in connected {
                    send_packet(link, &Packet::disconnect(&nsp));
                    self.fail_acks(&nsp, "socket has been disconnected");
                    self.observe(Observed::Disconnect {
                        nsp,
                        reason: "io client disconnect".into(),
                    });
                }
                for ns in &mut self.namespaces {
                    ns.active = false;
                    ns.state = NsState::Down;
                }
                Some(SessionEnd::Finished)
            }
            Some(Command::Emit {
                nsp,
                event,
                args,
                ack_timeout,
            }) => {
                let Some(index) = self.namespaces.iter().position(|ns| ns.options.nsp == nsp)
                else {
                    tracing::warn!(%nsp, %event, "emit on a namespace this client never connected");
                    return None;
                };
                if self.namespaces[index].state == NsState::Connected {
                    self.send_event(link, index, event, args, ack_timeout);
                } else {
                    self.namespaces[index].buffered.push(BufferedEmit {
                        event,
                        args,
                        ack_timeout,
                        asked_by: self.cause,
                    });
                }
                None
            }
            Some(Command::Ack { nsp, id, args }) => {
                match Packet::ack(&nsp, id, &args) {
                    Ok(packet) => {
                        send_packet(link, &packet);
                        self.observe(Observed::AckSent { nsp, id, args });
                    }
                    Err(error) => tracing::warn!(%error, "ack arguments could not be encoded"),
                }
                None
            }
            Some(Command::Connect(options)) => {
                let nsp = options.nsp.clone();
                self.add_namespace(options);
                if let Some(index) = self.namespaces.iter().position(|ns| ns.options.nsp == nsp) {
                    self.send_connect(link, index);
                }
                None
            }
            Some(Command::DisconnectNamespace(nsp)) => {
                let was_connected = self.namespace_mut(&nsp).map(|ns| {
                    ns.active = false;
                    std::mem::replace(&mut ns.state, NsState::Down) == NsState::Connected
                });
                if was_connected == Some(true) {
                    send_packet(link, &Packet::disconnect(&nsp));
                    self.fail_acks(&nsp, "socket has been disconnected");
                    self.observe(Observed::Disconnect {
                        nsp,
                        reason: "io client disconnect".into(),
                    });
                }
                (!self.any_active()).then_some(SessionEnd::Finished)
            }
            Some(Command::Raw(frame)) => {
                link.send_raw(frame);
                None
            }
            Some(Command::SimulateNetworkLoss) => {
                self.network_lost = true;
                Some(SessionEnd::Lost("transport error"))
            }
        }
    }

    fn send_event(
        &mut self,
        link: &mut Link,
        index: usize,
        event: String,
        args: Vec<Value>,
        ack_timeout: Option<Duration>,
    ) {
        let Some(ns) = self.namespaces.get_mut(index) else {
            return;
        };
        let ack_id = ack_timeout.map(|timeout| {
            let id = ns.next_ack;
            ns.next_ack += 1;
            ns.pending_acks.insert(id, Instant::now() + timeout);
            id
        });
        let nsp = ns.options.nsp.clone();
        match Packet::event(&nsp, &event, &args, ack_id) {
            Ok(packet) => {
                send_packet(link, &packet);
                self.observe(Observed::Emit {
                    nsp,
                    event,
                    args,
                    ack_id,
                });
            }
            Err(error) => tracing::warn!(%error, %event, "event arguments could not be encoded"),
        }
    }

    fn on_engine_packet(
        &mut self,
        link: &mut Link,
        assembler: &mut Assembler,
        packet: EnginePacket,
    ) -> Option<SessionEnd> {
        let decoded = match packet {
            EnginePacket::Message(text) => assembler.text(&text),
            EnginePacket::Binary(bytes) => assembler.binary(bytes),
            EnginePacket::Close => return Some(SessionEnd::Lost("transport close")),
            EnginePacket::Pong(_) => {
                if self.options.observe_heartbeat {
                    self.observe(Observed::Pong);
                }
                return None;
            }
            EnginePacket::Open(_)
            | EnginePacket::Ping(_)
            | EnginePacket::Upgrade
            | EnginePacket::Noop => return None,
        };
        match decoded {
            Ok(Some(packet)) => self.on_socket_packet(link, packet),
            Ok(None) => None,
            Err(_) => Some(SessionEnd::Lost("parse error")),
        }
    }

    fn on_socket_packet(&mut self, link: &mut Link, packet: Packet) -> Option<SessionEnd> {
        let index = self
            .namespaces
            .iter()
            .position(|ns| ns.options.nsp == packet.nsp)?;
        let nsp = packet.nsp.clone();
        match packet.kind {
            PacketKind::Connect => {
                let sid = packet
                    .data
                    .as_ref()
                    .and_then(|d| d.get("sid"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let ns = &mut self.namespaces[index];
                ns.state = NsState::Connected;
                let buffered = std::mem::take(&mut ns.buffered);
                let on_connect = ns.options.on_connect.clone();
                self.observe(Observed::Connect { nsp, sid });
                for emit in buffered {
                    self.cause = emit.asked_by;
                    self.send_event(link, index, emit.event, emit.args, emit.ack_timeout);
                }
                self.cause = None;
                for (event, args) in on_connect {
                    self.send_event(link, index, event, args, None);
                }
                None
            }
            PacketKind::ConnectError => {
                let (message, data) = match packet.data {
                    Some(Value::String(message)) => (message, None),
                    Some(Value::Object(mut map)) => (
                        map.remove("message")
                            .and_then(|m| m.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        map.remove("data"),
                    ),
                    _ => (String::new(), None),
                };
                let ns = &mut self.namespaces[index];
                ns.active = false;
                ns.state = NsState::Down;
                self.observe(Observed::ConnectError { nsp, message, data });
                (!self.any_active()).then_some(SessionEnd::Finished)
            }
            PacketKind::Disconnect => {
                let ns = &mut self.namespaces[index];
                ns.active = false;
                ns.state = NsState::Down;
                self.fail_acks(&nsp, "socket has been disconnected");
                self.observe(Observed::Disconnect {
                    nsp,
                    reason: "io server disconnect".into(),
                });
                (!self.any_active()).then_some(SessionEnd::Finished)
            }
            PacketKind::Event | PacketKind::BinaryEvent => {
                if let Some((event, args)) = packet.event_parts() {
                    self.observe(Observed::Event {
                        nsp,
                        event,
                        args,
                        ack_id: packet.id,
                    });
                }
                None
            }
            PacketKind::Ack | PacketKind::BinaryAck => {
                let id = packet.id?;
                if self.namespaces[index].pending_acks.remove(&id).is_some() {
                    let args = match packet.resolved_data() {
                        Some(Value::Array(args)) => args,
                        _ => Vec::new(),
                    };
                    self.observe(Observed::Ack { nsp, id, args });
                }
                None
            }
        }
    }

    fn next_ack_deadline(&self) -> Option<Instant> {
        self.namespaces
            .iter()
            .flat_map(|ns| ns.pending_acks.values().copied())
            .min()
    }

    fn expire_acks(&mut self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        for ns in &mut self.namespaces {
            let mut ids: Vec<u64> = ns
                .pending_acks
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            for id in ids {
                ns.pending_acks.remove(&id);
                expired.push((ns.options.nsp.clone(), id));
            }
        }
        for (nsp, id) in expired {
            self.observe(Observed::AckError {
                nsp,
                id,
                message: "operation has timed out".into(),
            });
        }
    }

    fn fail_acks(&mut self, nsp: &str, message: &str) {
        let Some(ns) = self.namespace_mut(nsp) else {
            return;
        };
        let mut ids: Vec<u64> = ns.pending_acks.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        for id in ids {
            self.observe(Observed::AckError {
                nsp: nsp.to_owned(),
                id,
                message: message.to_owned(),
            });
        }
    }
}

impl Namespace {
    fn new(options: NamespaceOptions) -> Self {
        Self {
            options,
            state: NsState::Down,
            active: true,
            next_ack: 0,
            pending_acks: HashMap::new(),
            buffered: Vec::new(),
        }
    }
}

fn send_packet(link: &mut Link, packet: &Packet) {
    link.send(EnginePacket::Message(packet.encode()));
    for attachment in &packet.attachments {
        link.send(EnginePacket::Binary(attachment.clone()));
    }
}

async fn sleep_until_option(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_matches_the_official_formula() {
        let policy = ReconnectPolicy::default();
        // random = 0.0: even branch, no deviation.
        assert_eq!(policy.delay_for(0, 0.0), Duration::from_millis(1000));
        assert_eq!(policy.delay_for(1, 0.0), Duration::from_millis(2000));
        assert_eq!(policy.delay_for(3, 0.0), Duration::from_millis(5000));
        // random = 0.15: floor(1.5) = 1 is odd, so the deviation is added.
        assert_eq!(policy.delay_for(0, 0.15), Duration::from_millis(1075));
        // random = 0.25: floor(2.5) = 2 is even, so it is subtracted.
        assert_eq!(policy.delay_for(0, 0.25), Duration::from_millis(875));
        let fixed = ReconnectPolicy {
            randomization: 0.0,
            ..ReconnectPolicy::default()
        };
        assert_eq!(fixed.delay_for(1, 0.9), Duration::from_millis(2000));
    }
}
