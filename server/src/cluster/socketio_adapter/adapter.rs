//! [`SocketIoAdapter`]: socketioxide's adapter trait over the Node adapter's protocol.
//!
//! Local delivery comes first and never waits on Redis; what other nodes must see is handed to
//! the [`ResilientDriver`], which never blocks. Requests this node makes (fetch_sockets, rooms)
//! count the nodes with `PUBSUB NUMSUB` on the request channel, as Node does, and wait for one
//! answer from each other node, up to [`REQUESTS_TIMEOUT`].

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream::FusedStream};
use rmpv::Value as Msg;
use serde_json::{Value as Json, json};
use socketioxide::adapter::Emitter;
use socketioxide_core::adapter::errors::{AdapterError, BroadcastError};
use socketioxide_core::adapter::{
    AckStreamItem, BroadcastFlags, BroadcastOptions, CoreAdapter, CoreLocalAdapter, DefinedAdapter,
    RemoteSocketData, Room, RoomParam, SocketEmitter,
};
use socketioxide_core::packet::Packet;
use socketioxide_core::{Sid, Uid, Value};
use socketioxide_redis::drivers::Driver;
use tokio::sync::mpsc;

use super::protocol::{self, Channels, Request, kind};
use super::wire::{
    self, WireError, decode_msgpack, encode_msgpack, event_packet, field, local_options, map,
    room_list, wire_options, wire_packet,
};
use crate::cluster::adapter::AdapterInit;
use crate::cluster::driver::ResilientDriver;

/// The Node adapter's default `requestsTimeout`.
pub const REQUESTS_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages a subscription holds before the driver waits (backpressure, not loss).
const STREAM_BUFFER: usize = 1024;
/// Ids of other nodes' sockets this node remembers (see [`SocketIoAdapter::foreign_ids`]).
const FOREIGN_IDS: usize = 65_536;

type LocalAckStream = <Emitter as SocketEmitter>::AckStream;
type AckError = <Emitter as SocketEmitter>::AckError;

/// What builds each namespace's [`SocketIoAdapter`].
#[derive(Clone)]
pub struct SocketIoAdapterCtr {
    driver: ResilientDriver,
}

impl SocketIoAdapterCtr {
    pub fn new(driver: ResilientDriver) -> Self {
        Self { driver }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("timeout reached while waiting for {what} responses: {got} of {expected}")]
    Timeout {
        what: &'static str,
        got: usize,
        expected: usize,
    },
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        AdapterError::from(Box::new(error) as Box<dyn std::error::Error + Send>)
    }
}

pub struct SocketIoAdapter {
    local: CoreLocalAdapter<Emitter>,
    driver: ResilientDriver,
    /// This node's uid in this namespace, as Node nodes know it.
    uid: String,
    /// The server id socketioxide sees on sockets of other nodes (responses do not say which
    /// node sent them).
    elsewhere: Uid,
    channels: Channels,
    /// Answers awaited, by request id.
    pending: Pending,
    /// socket.io's ids (20 characters) do not fit socketioxide's 16-character [`Sid`]: a Node
    /// socket fetched here gets a made-up one, remembered so that acting on it (disconnect,
    /// join, emit) reaches the real socket. Bounded: forgotten all at once past [`FOREIGN_IDS`].
    foreign_ids: Mutex<ForeignIds>,
}

impl DefinedAdapter for SocketIoAdapter {}

impl CoreAdapter<Emitter> for SocketIoAdapter {
    type Error = Error;
    type State = SocketIoAdapterCtr;
    type AckStream = futures_util::stream::Select<LocalAckStream, RemoteAcks>;
    type InitRes = AdapterInit;

    fn new(state: &Self::State, local: CoreLocalAdapter<Emitter>) -> Self {
        let uid = protocol::short_id();
        let channels = Channels::new(local.path(), &uid);
        Self {
            local,
            driver: state.driver.clone(),
            uid,
            elsewhere: Uid::new(),
            channels,
            pending: Pending::default(),
            foreign_ids: Mutex::new(ForeignIds::default()),
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) -> Self::InitRes {
        AdapterInit::new(async move {
            let driver = &self.driver;
            let broadcasts =
                driver.subscribe_pattern(self.channels.broadcast_pattern.clone(), STREAM_BUFFER);
            let Ok(requests) = driver
                .subscribe(self.channels.request.clone(), STREAM_BUFFER)
                .await;
            let Ok(responses) = driver
                .subscribe(self.channels.response.clone(), STREAM_BUFFER)
                .await;
            let Ok(own_responses) = driver
                .subscribe(self.channels.own_response.clone(), STREAM_BUFFER)
                .await;
            let adapter = self.clone();
            tokio::spawn(async move {
                let mut broadcasts = broadcasts;
                while let Some((channel, payload)) = broadcasts.next().await {
                    adapter.on_broadcast(&channel, &payload);
                }
            });
            let adapter = self.clone();
            tokio::spawn(async move {
                let mut requests = requests;
                while let Some((_, payload)) = requests.next().await {
                    adapter.on_request(&payload).await;
                }
            });
            let adapter = self;
            tokio::spawn(async move {
                let mut responses = futures_util::stream::select(responses, own_responses);
                while let Some((_, payload)) = responses.next().await {
                    adapter.on_response(&payload);
                }
            });
            on_success();
            Ok(())
        })
    }

    async fn close(&self) -> Result<(), Self::Error> {
        let driver = &self.driver;
        driver.unsubscribe_pattern(self.channels.broadcast_pattern.clone());
        for channel in [
            &self.channels.request,
            &self.channels.response,
            &self.channels.own_response,
        ] {
            let Ok(()) = driver.unsubscribe(channel.clone()).await;
        }
        Ok(())
    }

    async fn server_count(&self) -> Result<u16, Self::Error> {
        let Ok(count) = self.driver.num_serv(&self.channels.request).await;
        Ok(count)
    }

    async fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<(), BroadcastError> {
        let local = if self.reaches_here(&opts) {
            self.local.broadcast(packet.clone(), opts.clone())
        } else {
            Ok(())
        };
        if self.reaches_elsewhere(&opts) {
            let wire_opts = self.outgoing(&opts, None);
            match wire_packet(&packet) {
                Ok(wire_packet) => {
                    let channel = self
                        .channels
                        .broadcast_to(&room_list(field(&wire_opts, "rooms")));
                    let message =
                        Msg::Array(vec![Msg::from(self.uid.as_str()), wire_packet, wire_opts]);
                    let Ok(()) = self.driver.publish(channel, encode_msgpack(&message)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "broadcast not sent to the other nodes");
                    return Err(BroadcastError::Adapter(Error::from(error).into()));
                }
            }
        }
        local.map_err(BroadcastError::from)
    }

    async fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    ) -> Result<Self::AckStream, Self::Error> {
        let timeout = timeout.unwrap_or_else(|| self.local.ack_timeout());
        let (local, _) = if self.reaches_here(&opts) {
            self.local
                .broadcast_with_ack(packet.clone(), opts.clone(), Some(timeout))
        } else {
            self.local.broadcast_with_ack(
                packet.clone(),
                BroadcastOptions::default(),
                Some(timeout),
            )
        };
        if !self.reaches_elsewhere(&opts) {
            return Ok(futures_util::stream::select(local, RemoteAcks::none()));
        }
        let (request_id, received, entry) = self.pending.open();
        let message = map([
            ("uid", Msg::from(self.uid.as_str())),
            ("requestId", Msg::from(request_id.as_str())),
            ("type", Msg::from(kind::BROADCAST)),
            ("packet", wire_packet(&packet)?),
            (
                "opts",
                self.outgoing(&opts, Some(timeout.as_millis() as u64)),
            ),
        ]);
        let Ok(()) = self
            .driver
            .publish(self.channels.request.clone(), encode_msgpack(&message))
            .await;
        let others = usize::from(self.server_count().await?.saturating_sub(1));
        let remote = RemoteAcks::gather(entry, received, others, timeout);
        Ok(futures_util::stream::select(local, remote))
    }

    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), Self::Error> {
        self.change_rooms(RoomChange::Join, opts, rooms.into_room_iter().collect())
            .await;
        Ok(())
    }

    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), Self::Error> {
        self.change_rooms(RoomChange::Leave, opts, rooms.into_room_iter().collect())
            .await;
        Ok(())
    }

    async fn disconnect_socket(&self, opts: BroadcastOptions) -> Result<(), BroadcastError> {
        let local = if self.reaches_here(&opts) {
            self.local.disconnect_socket(opts.clone())
        } else {
            Ok(())
        };
        if self.reaches_elsewhere(&opts) {
            let fields =
                json!({ "opts": msgpack_json(&self.outgoing(&opts, None)), "close": false });
            self.publish_request(kind::REMOTE_DISCONNECT, None, fields)
                .await;
        }
        local.map_err(BroadcastError::Socket)
    }

    async fn rooms(&self, opts: BroadcastOptions) -> Result<Vec<Room>, Self::Error> {
        let mut rooms: HashSet<Room> = self.local.rooms(opts.clone());
        if self.reaches_elsewhere(&opts) {
            for socket in self.fetch_remote(&opts).await? {
                rooms.extend(room_list(field(&socket, "rooms")));
            }
        }
        Ok(rooms.into_iter().collect())
    }

    async fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<RemoteSocketData>, Self::Error> {
        let mut sockets = if self.reaches_here(&opts) {
            self.local.fetch_sockets(opts.clone())
        } else {
            Vec::new()
        };
        if self.reaches_elsewhere(&opts) {
            for socket in self.fetch_remote(&opts).await? {
                if let Some(id) = field(&socket, "id").and_then(Msg::as_str) {
                    sockets.push(RemoteSocketData {
                        id: self.foreign_sid(id),
                        server_id: self.elsewhere,
                        ns: self.local.path().clone(),
                    });
                }
            }
        }
        Ok(sockets)
    }

    fn get_local(&self) -> &CoreLocalAdapter<Emitter> {
        &self.local
    }
}

impl SocketIoAdapter {
    /// Whether `opts` can match sockets of this node: not when it names one socket of another.
    fn reaches_here(&self, opts: &BroadcastOptions) -> bool {
        !(targets_one_socket(opts) && opts.server_id != Some(self.local.server_id()))
    }

    /// Whether `opts` can match sockets of other nodes.
    fn reaches_elsewhere(&self, opts: &BroadcastOptions) -> bool {
        !opts.is_local(self.local.server_id())
    }

    /// The Node adapter's `opts` for `opts`, with a made-up id turned back into the real one.
    fn outgoing(&self, opts: &BroadcastOptions, timeout_ms: Option<u64>) -> Msg {
        if targets_one_socket(opts)
            && let Some(sid) = opts.sid
            && let Some(real) = lock(&self.foreign_ids).real.get(&sid).cloned()
        {
            let mut opts = opts.clone();
            opts.sid = None;
            opts.rooms.push(real.into());
            return wire_options(&opts, timeout_ms);
        }
        wire_options(opts, timeout_ms)
    }

    /// socketioxide's id for a socket of another node: its own when it is one (a Rust node's),
    /// else a made-up one (see [`Self::foreign_ids`]).
    fn foreign_sid(&self, id: &str) -> Sid {
        if let Ok(sid) = Sid::from_str(id) {
            return sid;
        }
        let mut ids = lock(&self.foreign_ids);
        if let Some(sid) = ids.made_up.get(id) {
            return *sid;
        }
        if ids.real.len() >= FOREIGN_IDS {
            *ids = ForeignIds::default();
        }
        let sid = Sid::new();
        ids.real.insert(sid, id.to_owned());
        ids.made_up.insert(id.to_owned(), sid);
        sid
    }

    /// Joins or leaves here at once, and tells the other nodes (type 2 or 3).
    async fn change_rooms(&self, change: RoomChange, opts: BroadcastOptions, rooms: Vec<Room>) {
        if self.reaches_elsewhere(&opts) {
            let fields =
                json!({ "opts": msgpack_json(&self.outgoing(&opts, None)), "rooms": rooms });
            let kind = match change {
                RoomChange::Join => kind::REMOTE_JOIN,
                RoomChange::Leave => kind::REMOTE_LEAVE,
            };
            self.publish_request(kind, None, fields).await;
        }
        if self.reaches_here(&opts) {
            match change {
                RoomChange::Join => self.local.add_sockets(opts, rooms),
                RoomChange::Leave => self.local.del_sockets(opts, rooms),
            }
        }
    }

    async fn publish_request(&self, kind: u64, request_id: Option<&str>, fields: Json) {
        let message = protocol::request(&self.uid, request_id, kind, fields);
        let Ok(()) = self
            .driver
            .publish(self.channels.request.clone(), message)
            .await;
    }

    async fn respond(&self, response: Json) {
        let Ok(()) = self
            .driver
            .publish(
                self.channels.response.clone(),
                response.to_string().into_bytes(),
            )
            .await;
    }

    /// The sockets other nodes hold that match `opts` (a type 5 request), one answer per node.
    async fn fetch_remote(&self, opts: &BroadcastOptions) -> Result<Vec<Msg>, Error> {
        let others = usize::from(self.server_count().await?.saturating_sub(1));
        if others == 0 {
            return Ok(Vec::new());
        }
        let (request_id, mut received, _entry) = self.pending.open();
        let fields = json!({ "opts": msgpack_json(&self.outgoing(opts, None)) });
        self.publish_request(kind::REMOTE_FETCH, Some(&request_id), fields)
            .await;
        let mut sockets = Vec::new();
        let mut got = 0;
        let gathering = async {
            while got < others {
                match received.recv().await {
                    Some(answer) => {
                        got += 1;
                        if let Some(Msg::Array(found)) = field(&answer, "sockets") {
                            sockets.extend(found.iter().cloned());
                        }
                    }
                    None => break,
                }
            }
        };
        if tokio::time::timeout(REQUESTS_TIMEOUT, gathering)
            .await
            .is_err()
        {
            return Err(Error::Timeout {
                what: "fetchSockets",
                got,
                expected: others,
            });
        }
        Ok(sockets)
    }

    /// A broadcast from another node, on `socket.io#<nsp>#` or a room's channel. Filtered as
    /// Node does: a room nobody here is in is dropped before decoding, then our own messages
    /// and other namespaces'. Bad input is logged and dropped.
    fn on_broadcast(&self, channel: &str, payload: &[u8]) {
        if let Some(room) = self.channels.room_of(channel)
            && !self.has_room(room)
        {
            return;
        }
        let result = decode_msgpack(payload).and_then(|message| {
            let [uid, packet, opts] = message.as_array().map(Vec::as_slice).unwrap_or_default()
            else {
                return Err(WireError::Shape("a broadcast is [uid, packet, opts]"));
            };
            // Options that are not a map would otherwise read as "every socket".
            if !packet.is_map() || !opts.is_map() {
                return Err(WireError::Shape("a broadcast's packet and opts are maps"));
            }
            if uid.as_str() == Some(self.uid.as_str()) {
                return Ok(());
            }
            let nsp = field(packet, "nsp").and_then(Msg::as_str).unwrap_or("/");
            if nsp != self.local.path().as_str() {
                return Ok(());
            }
            let data = field(packet, "data").ok_or(WireError::Shape("packet without data"))?;
            let packet = event_packet(nsp, data)?;
            // A socket closed meanwhile is no loss to report.
            let _ = self.local.broadcast(packet, local_options(Some(opts)));
            Ok(())
        });
        if let Err(error) = result {
            tracing::warn!(%error, channel, "ignored a malformed broadcast from Redis");
        }
    }

    fn has_room(&self, room: &str) -> bool {
        let mut opts = BroadcastOptions::default();
        opts.rooms.push(room.to_owned().into());
        !self.local.sockets(opts).is_empty()
    }

    /// A request from any node (our own come back too and are skipped: this node acts on its
    /// own requests when it makes them).
    async fn on_request(&self, payload: &[u8]) {
        let request = match Request::decode(payload) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(%error, "ignored a malformed request from Redis");
                return;
            }
        };
        if request.uid == self.uid {
            return;
        }
        let opts = request.field("opts").map(|opts| local_options(Some(opts)));
        let request_id = request.request_id.clone();
        match request.kind {
            kind::SOCKETS => {
                let mut opts = local_options(None);
                opts.rooms = room_list(request.field("rooms")).into_iter().collect();
                let sockets: Vec<String> = self
                    .local
                    .sockets(opts)
                    .iter()
                    .map(Sid::to_string)
                    .collect();
                self.respond(json!({ "requestId": request_id, "sockets": sockets }))
                    .await;
            }
            kind::ALL_ROOMS => {
                let rooms: Vec<Room> = self.local.rooms(local_options(None)).into_iter().collect();
                self.respond(json!({ "requestId": request_id, "rooms": rooms }))
                    .await;
            }
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE => {
                let join = request.kind == kind::REMOTE_JOIN;
                let (opts, rooms) = match opts {
                    Some(opts) => (opts, room_list(request.field("rooms"))),
                    // The form 7.x sent: one socket, one room, and an answer from its node.
                    None => match self.local_socket(&request) {
                        Some(sid) => (BroadcastOptions::new(sid), room_list(request.field("room"))),
                        None => return,
                    },
                };
                if join {
                    self.local.add_sockets(opts, rooms);
                } else {
                    self.local.del_sockets(opts, rooms);
                }
                if request.field("opts").is_none() {
                    self.respond(json!({ "requestId": request_id })).await;
                }
            }
            kind::REMOTE_DISCONNECT => {
                let opts = match opts {
                    Some(opts) => opts,
                    None => match self.local_socket(&request) {
                        Some(sid) => BroadcastOptions::new(sid),
                        None => return,
                    },
                };
                // socket.io's `close` also closes the connection under the namespace; with one
                // namespace, leaving it is what the client sees either way.
                let _ = self.local.disconnect_socket(opts);
                if request.field("opts").is_none() {
                    self.respond(json!({ "requestId": request_id })).await;
                }
            }
            kind::REMOTE_FETCH => {
                let sids = self
                    .local
                    .sockets(opts.unwrap_or_else(|| local_options(None)));
                let sockets: Vec<Json> = sids
                    .into_iter()
                    .map(|sid| {
                        let rooms: Vec<String> = self
                            .local
                            .socket_rooms(sid)
                            .into_iter()
                            .map(|room| room.into_owned())
                            .collect();
                        protocol::fetched_socket(sid.as_str(), &rooms)
                    })
                    .collect();
                self.respond(json!({ "requestId": request_id, "sockets": sockets }))
                    .await;
            }
            kind::BROADCAST => {
                if let Some(request_id) = request_id {
                    self.answer_broadcast_with_ack(&request, request_id).await;
                }
            }
            // socketioxide has no server-side event listeners: like a Node node without a
            // listener, nothing is answered (docs/protocol.md).
            kind::SERVER_SIDE_EMIT => {}
            other => tracing::debug!(kind = other, "ignored an unknown request type"),
        }
    }

    /// The socket a legacy (7.x) request names by `sid`, if it is here.
    fn local_socket(&self, request: &Request) -> Option<Sid> {
        let sid = Sid::from_str(request.field("sid")?.as_str()?).ok()?;
        (!self.local.socket_rooms(sid).is_empty()).then_some(sid)
    }

    /// Type 7: delivers to the matching sockets with an ack id, tells the requester how many
    /// acks to expect (type 8, even 0), then sends each ack's first argument (type 9).
    async fn answer_broadcast_with_ack(&self, request: &Request, request_id: String) {
        let opts = request.field("opts");
        let timeout = opts
            .and_then(|opts| field(opts, "flags"))
            .and_then(|flags| field(flags, "timeout"))
            .and_then(Msg::as_u64)
            .map(Duration::from_millis);
        let packet = request
            .field("packet")
            .and_then(|packet| field(packet, "data"))
            .ok_or(WireError::Shape("type 7 without packet.data"))
            .and_then(|data| event_packet(self.local.path(), data));
        let packet = match packet {
            Ok(packet) => packet,
            Err(error) => {
                tracing::warn!(%error, "ignored a malformed broadcast with acks");
                return;
            }
        };
        let (acks, count) = self
            .local
            .broadcast_with_ack(packet, local_options(opts), timeout);
        self.respond(json!({
            "type": kind::BROADCAST_CLIENT_COUNT,
            "requestId": request_id,
            "clientCount": count,
        }))
        .await;
        let driver = self.driver.clone();
        let channel = self.channels.response.clone();
        tokio::spawn(async move {
            let mut acks = std::pin::pin!(acks);
            while let Some((_, ack)) = acks.next().await {
                let Ok(value) = ack else { continue };
                let Ok(args) = wire::to_msgpack(&value) else {
                    continue;
                };
                // Node's ack callback takes one argument; the adapter sends only the first.
                let first = match args {
                    Msg::Array(mut args) if !args.is_empty() => args.swap_remove(0),
                    Msg::Array(_) => Msg::Nil,
                    other => other,
                };
                let message = map([
                    ("type", Msg::from(kind::BROADCAST_ACK)),
                    ("requestId", Msg::from(request_id.as_str())),
                    ("packet", first),
                ]);
                let Ok(()) = driver
                    .publish(channel.clone(), encode_msgpack(&message))
                    .await;
            }
        });
    }

    /// An answer to some node's request: ours are handed to whoever waits, others ignored.
    fn on_response(&self, payload: &[u8]) {
        let Ok(answer) = wire::decode_any(payload) else {
            tracing::warn!("ignored a malformed response from Redis");
            return;
        };
        let Some(request_id) = field(&answer, "requestId").and_then(Msg::as_str) else {
            return;
        };
        let waiting = lock(&self.pending.0).get(request_id).cloned();
        if let Some(waiting) = waiting {
            let _ = waiting.send(answer);
        }
    }
}

/// Made-up ids of other nodes' sockets, both ways.
#[derive(Default)]
struct ForeignIds {
    real: HashMap<Sid, String>,
    made_up: HashMap<String, Sid>,
}

enum RoomChange {
    Join,
    Leave,
}

/// Node's `opts` as JSON, for requests sent as JSON.
fn msgpack_json(opts: &Msg) -> Json {
    json!({
        "rooms": room_list(field(opts, "rooms")),
        "except": room_list(field(opts, "except")),
    })
}

/// socketioxide's way of naming one socket (a remote socket's operations): its id, no room,
/// not a broadcast.
fn targets_one_socket(opts: &BroadcastOptions) -> bool {
    opts.sid.is_some() && opts.rooms.is_empty() && !opts.has_flag(BroadcastFlags::Broadcast)
}

/// The requests this node waits on answers for, by request id.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Msg>>>>);

impl Pending {
    /// A new request id, where its answers arrive, and the entry that forgets it when dropped
    /// (however the wait ends).
    fn open(&self) -> (String, mpsc::UnboundedReceiver<Msg>, PendingEntry) {
        let request_id = protocol::short_id();
        let (answers, received) = mpsc::unbounded_channel();
        lock(&self.0).insert(request_id.clone(), answers);
        let entry = PendingEntry {
            pending: self.clone(),
            request_id: request_id.clone(),
        };
        (request_id, received, entry)
    }
}

struct PendingEntry {
    pending: Pending,
    request_id: String,
}

impl Drop for PendingEntry {
    fn drop(&mut self) {
        lock(&self.pending.0).remove(&self.request_id);
    }
}

/// The acks other nodes' sockets send for a broadcast made here (type 7): each node first says
/// how many to expect (type 8), then sends them (type 9). Ends when every counted node has
/// answered and every expected ack arrived, or at the timeout. Node's acks name no socket, so
/// they carry [`Sid::ZERO`].
pub struct RemoteAcks(Option<Gathering>);

struct Gathering {
    received: mpsc::UnboundedReceiver<Msg>,
    nodes_left: usize,
    acks_left: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _entry: PendingEntry,
}

impl RemoteAcks {
    fn none() -> Self {
        Self(None)
    }

    fn gather(
        entry: PendingEntry,
        received: mpsc::UnboundedReceiver<Msg>,
        nodes: usize,
        timeout: Duration,
    ) -> Self {
        Self(Some(Gathering {
            received,
            nodes_left: nodes,
            acks_left: 0,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            _entry: entry,
        }))
    }
}

impl Stream for RemoteAcks {
    type Item = AckStreamItem<AckError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(gathering) = &mut self.0 else {
                return Poll::Ready(None);
            };
            if (gathering.nodes_left == 0 && gathering.acks_left == 0)
                || gathering.deadline.as_mut().poll(cx).is_ready()
            {
                self.0 = None;
                return Poll::Ready(None);
            }
            let answer = match gathering.received.poll_recv(cx) {
                Poll::Ready(Some(answer)) => answer,
                Poll::Ready(None) => {
                    self.0 = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            };
            match field(&answer, "type").and_then(Msg::as_u64) {
                Some(kind::BROADCAST_CLIENT_COUNT) => {
                    gathering.nodes_left = gathering.nodes_left.saturating_sub(1);
                    let count = field(&answer, "clientCount").and_then(Msg::as_u64);
                    gathering.acks_left += count.unwrap_or(0);
                }
                Some(kind::BROADCAST_ACK) => {
                    gathering.acks_left = gathering.acks_left.saturating_sub(1);
                    let first = field(&answer, "packet").cloned().unwrap_or(Msg::Nil);
                    let value: Value = wire::from_msgpack(&Msg::Array(vec![first]));
                    return Poll::Ready(Some((Sid::ZERO, Ok(value))));
                }
                _ => {}
            }
        }
    }
}

impl FusedStream for RemoteAcks {
    fn is_terminated(&self) -> bool {
        self.0.is_none()
    }
}

// A panic while the lock is held cannot leave these maps half-written (each write is one
// insert, remove or clear), so a poisoned lock is still safe to use.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
