//! The Redis link under socketioxide-redis: a [`Driver`] that outlives Redis restarts and freezes.
//!
//! socketioxide-redis's own drivers fail in ways a production cluster cannot accept (measured
//! with 0.4.4, `docs/protocol.md` has the list): a broadcast is published before local delivery
//! and an error there skips local delivery, the `redis` driver never reconnects after a restart,
//! `fred` reconnects without resubscribing, and both drop messages past a small buffer with only
//! a warning. This driver answers each:
//!
//! - [`Driver::publish`] never waits and never fails: the message goes to a bounded outbox that
//!   one task writes to Redis in pipelined batches, in order. Local delivery therefore never
//!   depends on Redis. While Redis is frozen (connected, not answering) the outbox holds
//!   messages, up to [`OUTBOX_MESSAGES`] and [`OUTBOX_BYTES`], and they arrive when it answers.
//!   While the connection is down, messages are dropped and counted at once rather than queued:
//!   sent after the reconnect they would arrive late, or reach nobody unnoticed if the other
//!   nodes had not resubscribed yet (the Node original does the same).
//! - Two connections, each owned by a task that reconnects with a short back-off
//!   ([`RETRY_FIRST`] doubling to [`RETRY_MAX`]): commands (PUBLISH, PUBSUB NUMSUB) on a
//!   multiplexed connection, and subscriptions on a dedicated RESP2 pub/sub connection, so a plain
//!   `redis://host:port[/db]` works. After a reconnect the subscriber subscribes to every channel
//!   the adapter asked for before it reports the link up.
//! - Received messages reach the adapter through a channel the subscriber waits on when full
//!   (backpressure), so a burst is delivered whole instead of overflowing a buffer.
//! - Every loss is counted ([`LinkHealth::lost`]) and logged once per episode, and so is every
//!   outage and recovery. What cannot be known is said in docs/protocol.md: messages other nodes
//!   published while this node's subscription was down are gone, as with any Redis pub/sub.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use redis::aio::{MultiplexedConnection, PubSubSink};
use serde::Serialize;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// Messages the outbox holds while Redis is slow or away; enough for a 20 000-event burst.
pub const OUTBOX_MESSAGES: usize = 65_536;
/// Bytes the outbox holds, so large payloads cannot exhaust memory during an outage.
pub const OUTBOX_BYTES: usize = 64 * 1024 * 1024;
/// Messages written to Redis in one pipeline.
const BATCH: usize = 256;
/// First wait before reconnecting; doubles up to [`RETRY_MAX`]. Small, so cross-node delivery
/// resumes well within 2 s of Redis coming back.
pub const RETRY_FIRST: Duration = Duration::from_millis(50);
pub const RETRY_MAX: Duration = Duration::from_millis(500);
/// How long a connection attempt may take; a frozen Redis accepts TCP but never answers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A command unanswered this long means the connection is dead (not merely frozen for a while):
/// it is replaced, and the batch it carried counted as lost.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// A batch unanswered this long is worth a warning: Redis is frozen or overloaded.
const STALL_WARNING: Duration = Duration::from_secs(2);
/// How often an idle command connection is checked.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Counting the other nodes must not hang a request while Redis is frozen.
const NUMSUB_TIMEOUT: Duration = Duration::from_secs(1);

/// The driver handed to socketioxide-redis; clones share one link.
#[derive(Clone)]
pub struct ResilientDriver {
    link: Arc<Link>,
}

/// What `/health` shows of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LinkHealth {
    pub kind: &'static str,
    pub state: LinkState,
    /// Cross-node messages dropped or possibly dropped since start.
    pub lost: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Both connections up and every subscription in place.
    Connected,
    /// At least one connection is down; local delivery goes on, cross-node delivery waits.
    Reconnecting,
}

struct Link {
    /// Where each subscribed channel's or pattern's messages go, as the adapter asked.
    handlers: RwLock<HashMap<Topic, mpsc::Sender<ChanItem>>>,
    outbox: mpsc::Sender<Outgoing>,
    outbox_bytes: AtomicUsize,
    subscriptions: mpsc::UnboundedSender<Subscription>,
    /// The live command connection, for PUBSUB NUMSUB; `None` while down.
    commands: Mutex<Option<MultiplexedConnection>>,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    lost: AtomicU64,
    /// Told by the subscriber when its connection drops, so the publisher checks its own.
    subscriber_lost: Notify,
    /// Set while the outbox refuses messages, so the loss is logged once, not per message.
    overflowing: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

struct Outgoing {
    channel: String,
    payload: Vec<u8>,
}

/// What a handler listens to: one channel (SUBSCRIBE), or every channel matching a glob
/// pattern (PSUBSCRIBE; the socket.io adapter's broadcasts use one per namespace).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Topic {
    Channel(String),
    Pattern(String),
}

enum Subscription {
    Add(Topic),
    Remove(Topic),
}

impl ResilientDriver {
    /// Starts the link's tasks. Never waits for Redis: a node starts while Redis is down and
    /// joins the cluster when it comes up.
    pub fn start(client: redis::Client) -> Self {
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_MESSAGES);
        let (subscriptions, subscriptions_rx) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            handlers: RwLock::new(HashMap::new()),
            outbox,
            outbox_bytes: AtomicUsize::new(0),
            subscriptions,
            commands: Mutex::new(None),
            publisher_up: AtomicBool::new(false),
            subscriber_up: AtomicBool::new(false),
            lost: AtomicU64::new(0),
            overflowing: AtomicBool::new(false),
            subscriber_lost: Notify::new(),
            tasks: Mutex::new(Vec::new()),
        });
        let publisher = tokio::spawn(publish_forever(link.clone(), client.clone(), outbox_rx));
        let subscriber = tokio::spawn(subscribe_forever(link.clone(), client, subscriptions_rx));
        lock(&link.tasks).extend([publisher, subscriber]);
        Self { link }
    }

    pub fn health(&self) -> LinkHealth {
        let link = &self.link;
        let up =
            link.publisher_up.load(Ordering::Acquire) && link.subscriber_up.load(Ordering::Acquire);
        LinkHealth {
            kind: "redis",
            state: if up {
                LinkState::Connected
            } else {
                LinkState::Reconnecting
            },
            lost: link.lost.load(Ordering::Relaxed),
        }
    }

    /// Like [`Driver::subscribe`] for every channel matching the glob `pattern`; each item
    /// names the channel the message came on. Kept across reconnects like channels are.
    pub fn subscribe_pattern(&self, pattern: String, size: usize) -> MessageStream<ChanItem> {
        self.listen(Topic::Pattern(pattern), size)
    }

    /// Stops what [`Self::subscribe_pattern`] started.
    pub fn unsubscribe_pattern(&self, pattern: String) {
        self.forget(Topic::Pattern(pattern));
    }

    fn listen(&self, topic: Topic, size: usize) -> MessageStream<ChanItem> {
        let (tx, rx) = mpsc::channel(size);
        write(&self.link.handlers).insert(topic.clone(), tx);
        // If the subscriber is reconnecting it subscribes to every handler's topic anyway;
        // a topic subscribed twice is harmless.
        let _ = self.link.subscriptions.send(Subscription::Add(topic));
        MessageStream::new(rx)
    }

    fn forget(&self, topic: Topic) {
        write(&self.link.handlers).remove(&topic);
        let _ = self.link.subscriptions.send(Subscription::Remove(topic));
    }

    /// Gives queued messages up to `grace` to reach Redis, then stops the link's tasks.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while self.link.outbox_bytes.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let queued = self.link.outbox.max_capacity() - self.link.outbox.capacity();
        if queued > 0 {
            self.link.count_lost(queued as u64);
            tracing::warn!(
                messages = queued,
                "shutting down with cross-node messages Redis never took; they are lost"
            );
        }
        for task in lock(&self.link.tasks).drain(..) {
            task.abort();
        }
    }
}

impl Link {
    fn count_lost(&self, messages: u64) {
        self.lost.fetch_add(messages, Ordering::Relaxed);
    }

    /// Marks the command connection down and drops what the outbox holds, counting it: see the
    /// module's doc for why nothing is queued across an outage.
    fn publisher_down(&self, outbox: &mut mpsc::Receiver<Outgoing>) {
        self.publisher_up.store(false, Ordering::Release);
        self.set_commands(None);
        while let Ok(message) = outbox.try_recv() {
            self.outbox_bytes
                .fetch_sub(message.payload.len(), Ordering::AcqRel);
            self.count_lost(1);
        }
    }

    fn set_commands(&self, connection: Option<MultiplexedConnection>) {
        *lock(&self.commands) = connection;
    }
}

impl Driver for ResilientDriver {
    /// Nothing this driver does can fail from the adapter's side: Redis's troubles are handled
    /// (and counted) inside.
    type Error = std::convert::Infallible;

    async fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), Self::Error> {
        let link = &self.link;
        if !link.publisher_up.load(Ordering::Acquire) {
            link.count_lost(1);
            return Ok(());
        }
        let size = payload.len();
        let over_budget = link.outbox_bytes.fetch_add(size, Ordering::AcqRel) + size > OUTBOX_BYTES;
        let queued = !over_budget && link.outbox.try_send(Outgoing { channel, payload }).is_ok();
        if queued {
            if link.overflowing.swap(false, Ordering::AcqRel) {
                tracing::info!(
                    lost_total = link.lost.load(Ordering::Relaxed),
                    "Redis outbox has room again; cross-node messages are queued again"
                );
            }
            return Ok(());
        }
        link.outbox_bytes.fetch_sub(size, Ordering::AcqRel);
        link.count_lost(1);
        if !link.overflowing.swap(true, Ordering::AcqRel) {
            tracing::error!(
                max_messages = OUTBOX_MESSAGES,
                max_bytes = OUTBOX_BYTES,
                "Redis outbox full: cross-node messages are being dropped (local delivery goes on); \
                 /health counts them as lost"
            );
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        channel: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        Ok(self.listen(Topic::Channel(channel), size))
    }

    async fn unsubscribe(&self, channel: String) -> Result<(), Self::Error> {
        self.forget(Topic::Channel(channel));
        Ok(())
    }

    /// The number of nodes subscribed to `channel`. While Redis cannot tell, this node counts
    /// only itself, so requests that gather answers from every node (fetch_sockets, rooms)
    /// return local answers at once instead of waiting out their timeout.
    async fn num_serv(&self, channel: &str) -> Result<u16, Self::Error> {
        let connection = lock(&self.link.commands).clone();
        let Some(mut connection) = connection else {
            return Ok(1);
        };
        let mut numsub = redis::cmd("PUBSUB");
        numsub.arg("NUMSUB").arg(channel);
        let query = numsub.query_async::<(String, u16)>(&mut connection);
        match tokio::time::timeout(NUMSUB_TIMEOUT, query).await {
            Ok(Ok((_, count))) => Ok(count.max(1)),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot count the cluster's nodes; answering for this node only");
                Ok(1)
            }
            Err(_) => {
                tracing::warn!(
                    "Redis did not say how many nodes there are within {NUMSUB_TIMEOUT:?}; \
                     answering for this node only"
                );
                Ok(1)
            }
        }
    }
}

/// Writes the outbox to Redis, in order, reconnecting whenever the connection fails.
async fn publish_forever(
    link: Arc<Link>,
    client: redis::Client,
    mut outbox: mpsc::Receiver<Outgoing>,
) {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let mut batch: Vec<Outgoing> = Vec::with_capacity(BATCH);
    let mut outage = Outage::new("commands");
    loop {
        let mut connection = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(connection) => connection,
            Err(error) => {
                outage.retry(&error.to_string()).await;
                continue;
            }
        };
        link.set_commands(Some(connection.clone()));
        link.publisher_up.store(true, Ordering::Release);
        outage.ended(&link);
        loop {
            if batch.is_empty() {
                let idle = tokio::select! {
                    message = outbox.recv() => match message {
                        Some(first) => {
                            batch.push(first);
                            None
                        }
                        None => return,
                    },
                    () = link.subscriber_lost.notified() => Some(()),
                    () = tokio::time::sleep(HEARTBEAT) => Some(()),
                };
                if idle.is_some() {
                    // An idle connection learns that Redis went away only when it is used; find
                    // out now, so /health does not say connected over a dead connection and the
                    // next message does not pay for the discovery.
                    if let Err(error) = redis::cmd("PING").query_async::<()>(&mut connection).await
                    {
                        link.publisher_down(&mut outbox);
                        outage.began(&error.to_string(), &link);
                        break;
                    }
                    continue;
                }
                while batch.len() < BATCH {
                    match outbox.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
            }
            let mut pipe = redis::pipe();
            for message in &batch {
                pipe.cmd("PUBLISH")
                    .arg(&message.channel)
                    .arg(&message.payload)
                    .ignore();
            }
            match warn_if_stalled(pipe.query_async::<()>(&mut connection), batch.len()).await {
                Ok(()) => {
                    let bytes = batch.iter().map(|m| m.payload.len()).sum();
                    link.outbox_bytes.fetch_sub(bytes, Ordering::AcqRel);
                    batch.clear();
                }
                Err(error) => {
                    // Redis may or may not have taken part of the batch before the connection
                    // broke; resending could duplicate, so it counts as lost (at most once, as
                    // socket.io delivers).
                    let bytes: usize = batch.iter().map(|m| m.payload.len()).sum();
                    link.outbox_bytes.fetch_sub(bytes, Ordering::AcqRel);
                    link.count_lost(batch.len() as u64);
                    tracing::warn!(
                        messages = batch.len(),
                        "cross-node messages may be lost: the Redis connection broke while sending them"
                    );
                    batch.clear();
                    link.publisher_down(&mut outbox);
                    outage.began(&error.to_string(), &link);
                    break;
                }
            }
        }
    }
}

/// Awaits a batch's answer, logging once when Redis takes longer than [`STALL_WARNING`].
async fn warn_if_stalled<T>(
    answer: impl Future<Output = redis::RedisResult<T>>,
    messages: usize,
) -> redis::RedisResult<T> {
    let started = Instant::now();
    let mut answer = std::pin::pin!(answer);
    match tokio::time::timeout(STALL_WARNING, &mut answer).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                messages,
                "Redis has not answered for {STALL_WARNING:?}: cross-node messages are queued \
                 until it does (local delivery goes on)"
            );
            let result = answer.await;
            tracing::info!(waited = ?started.elapsed(), "Redis answers again");
            result
        }
    }
}

/// Keeps the subscriptions in place and hands each message to its channel's handler.
async fn subscribe_forever(
    link: Arc<Link>,
    client: redis::Client,
    mut requests: mpsc::UnboundedReceiver<Subscription>,
) {
    let mut outage = Outage::new("subscriptions");
    loop {
        let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => {
                outage.retry(&error.to_string()).await;
                continue;
            }
            Err(_) => {
                outage.retry("connection attempt timed out").await;
                continue;
            }
        };
        let (mut sink, mut messages) = pubsub.split();
        // Requests queued meanwhile are covered by subscribing to every current handler.
        while requests.try_recv().is_ok() {}
        let topics: Vec<Topic> = read(&link.handlers).keys().cloned().collect();
        if let Err(error) = subscribe_all(&mut sink, &topics).await {
            outage.retry(&error.to_string()).await;
            continue;
        }
        link.subscriber_up.store(true, Ordering::Release);
        outage.ended(&link);
        let reason = loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => deliver(&link, message).await,
                    None => break "the connection closed".to_owned(),
                },
                request = requests.recv() => {
                    let result = match request {
                        Some(Subscription::Add(Topic::Channel(channel))) => sink.subscribe(&channel).await,
                        Some(Subscription::Add(Topic::Pattern(pattern))) => sink.psubscribe(&pattern).await,
                        Some(Subscription::Remove(Topic::Channel(channel))) => sink.unsubscribe(&channel).await,
                        Some(Subscription::Remove(Topic::Pattern(pattern))) => sink.punsubscribe(&pattern).await,
                        None => return,
                    };
                    if let Err(error) = result {
                        break error.to_string();
                    }
                }
            }
        };
        link.subscriber_up.store(false, Ordering::Release);
        link.subscriber_lost.notify_one();
        outage.began(&reason, &link);
    }
}

async fn subscribe_all(sink: &mut PubSubSink, topics: &[Topic]) -> redis::RedisResult<()> {
    let (mut channels, mut patterns) = (Vec::new(), Vec::new());
    for topic in topics {
        match topic {
            Topic::Channel(channel) => channels.push(channel),
            Topic::Pattern(pattern) => patterns.push(pattern),
        }
    }
    let both = async {
        if !channels.is_empty() {
            sink.subscribe(channels).await?;
        }
        if !patterns.is_empty() {
            sink.psubscribe(patterns).await?;
        }
        Ok(())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, both)
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "SUBSCRIBE timed out",
            )))
        })
}

async fn deliver(link: &Link, message: redis::Msg) {
    let channel = message.get_channel_name();
    let topic = if message.from_pattern() {
        match message.get_pattern::<String>() {
            Ok(pattern) => Topic::Pattern(pattern),
            Err(_) => return,
        }
    } else {
        Topic::Channel(channel.to_owned())
    };
    let handler = read(&link.handlers).get(&topic).cloned();
    if let Some(handler) = handler {
        // Waits when the adapter is behind: backpressure, not loss.
        let _ = handler
            .send((channel.to_owned(), message.get_payload_bytes().to_vec()))
            .await;
    }
}

/// One connection's outages: logs the first failure and the recovery, not every retry, and
/// paces the retries.
struct Outage {
    connection: &'static str,
    since: Option<Instant>,
    delay: Duration,
    /// [`Link::lost`] when the outage began, to say on recovery how many it cost.
    lost_before: u64,
}

impl Outage {
    fn new(connection: &'static str) -> Self {
        Self {
            connection,
            since: Some(Instant::now()),
            delay: RETRY_FIRST,
            lost_before: 0,
        }
    }

    fn began(&mut self, reason: &str, link: &Link) {
        self.since = Some(Instant::now());
        self.delay = RETRY_FIRST;
        self.lost_before = link.lost.load(Ordering::Relaxed);
        tracing::error!(
            connection = self.connection,
            reason,
            "lost the Redis connection: cross-node messages are dropped (and counted) until it is \
             back, local delivery goes on; reconnecting"
        );
    }

    /// Waits before the next attempt; the first failure of an outage is logged too.
    async fn retry(&mut self, reason: &str) {
        if self.delay == RETRY_FIRST {
            tracing::warn!(
                connection = self.connection,
                reason,
                "cannot reach Redis; retrying every {RETRY_MAX:?} at most"
            );
        }
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(RETRY_MAX);
    }

    fn ended(&mut self, link: &Link) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                connection = self.connection,
                after = ?since.elapsed(),
                lost_meanwhile = link.lost.load(Ordering::Relaxed) - self.lost_before,
                "Redis connection up"
            );
        }
        self.delay = RETRY_FIRST;
    }
}

// A panic while a lock is held cannot leave these maps half-written (each write is one insert
// or remove), so a poisoned lock is still safe to use.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
