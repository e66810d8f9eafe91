//! The connection task: one [`Driver`] owns a client's Engine.IO link and its namespaces. It
//! answers pings and notices a dead server, connects namespaces with their auth, tracks acks
//! both ways with their timeouts, buffers emits until their namespace connects, and reconnects
//! with the policy's back-off, re-joining every namespace; what it sees and does goes to its
//! observer as [`Observation`]s, each tagged with the command that caused it.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{ClientOptions, Command, NamespaceOptions, Observation, Observed};
use crate::codec::engine::EnginePacket;
use crate::codec::socket::{Assembler, Packet, PacketKind};
use crate::transport::{self, Link, LinkEvent};

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
    /// The transport is gone; `closed_by_server` as in [`Observed::Disconnect`].
    Lost {
        reason: &'static str,
        closed_by_server: bool,
    },
}

impl SessionEnd {
    /// Lost without the server saying so.
    fn lost(reason: &'static str) -> Self {
        SessionEnd::Lost {
            reason,
            closed_by_server: false,
        }
    }
}

/// Where a driver's observations go, in order.
pub(super) type Observer = Box<dyn Fn(Observation) + Send + Sync>;

pub(super) struct Driver {
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
    pub(super) fn new(
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

    pub(super) async fn run(mut self) {
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
                        SessionEnd::Lost {
                            reason,
                            closed_by_server,
                        } => self.mark_lost(reason, closed_by_server),
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
    fn mark_lost(&mut self, reason: &str, closed_by_server: bool) {
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
                closed_by_server,
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
                        LinkEvent::Malformed(_) => break SessionEnd::lost("parse error"),
                        LinkEvent::Closed { reason, handshake, .. } => break SessionEnd::Lost { reason, closed_by_server: handshake },
                    }
                }
                () = &mut heartbeat => break SessionEnd::lost("ping timeout"),
                () = sleep_until_option(ack_deadline) => self.expire_acks(),
            }
        };
        match end {
            SessionEnd::Lost {
                reason: "transport error",
                ..
            } if self.network_lost => link.abort(),
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
                        closed_by_server: false,
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
                        closed_by_server: false,
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
                Some(SessionEnd::lost("transport error"))
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
            EnginePacket::Close => {
                return Some(SessionEnd::Lost {
                    reason: "transport close",
                    closed_by_server: true,
                });
            }
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
            Err(_) => Some(SessionEnd::lost("parse error")),
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
                for (event, args, ack_timeout) in on_connect {
                    self.send_event(link, index, event, args, ack_timeout);
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
                    closed_by_server: false,
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
