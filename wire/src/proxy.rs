//! A loopback TCP proxy per client, so a scenario can cut one client's network and restore it,
//! move it to another node of a cluster, or shape its traffic (the `network` step, and
//! `--network` for `storm` and `fanout`).
//!
//! `reset` sends RST on every open connection and refuses new ones; `blackhole` keeps
//! connections open but lets no byte through (only a ping timeout can notice); `restore` lets
//! traffic through again. `switch` points new connections at another upstream and resets the
//! open ones, as a load balancer does when it fails a client over: the client reconnects, to the
//! new node. Dropping the proxy resets whatever is still open.
//!
//! `shape` sets the link's [`Conditions`] for both directions of every open and future
//! connection. Each direction of each connection has its own [`Shaper`] (its own token bucket and
//! its own seeded draws): bytes read from one side are cut into segments, each given a delivery
//! time (latency ± jitter, a retransmission stall when "lost", the bucket's wait), and written to
//! the other side when due, in order. TCP never loses bytes, so neither does this proxy: loss is
//! a stall, and jitter never reorders (the model is in [`crate::shaping`]). A direction holding
//! more than [`QUEUE_LIMIT`] undelivered bytes stops reading, so a slow link pushes back on its
//! sender as a real one does. A clean link (the default) delivers at once.

use std::collections::VecDeque;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::shaping::{Conditions, SEGMENT, Shaper};

/// Undelivered bytes one direction of a connection holds before it stops reading.
pub const QUEUE_LIMIT: usize = 256 * 1024;

/// How [`Proxy::cut`] takes a client off the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Reset every connection, and refuse new ones until [`Proxy::restore`].
    Reset,
    /// Keep connections open but let no byte through, so only a ping timeout can tell.
    Blackhole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Cut(Cut),
}

/// What every relay watches: the network's mode, and where new connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    mode: Mode,
    upstream: SocketAddr,
    /// Counts switches: a relay opened before the latest one is reset.
    route: u64,
    conditions: Conditions,
    /// Connection `n`'s shapers draw from seeds derived from this one and `n`.
    seed: u64,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: watch::Sender<State>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind((upstream.ip(), 0)).await?;
        let addr = listener.local_addr()?;
        let (state, watcher) = watch::channel(State {
            mode: Mode::Pass,
            upstream,
            route: 0,
            conditions: Conditions::default(),
            seed: 0,
        });
        let accept = tokio::spawn(async move {
            let mut accepted: u64 = 0;
            while let Ok((client, _)) = listener.accept().await {
                let now = *watcher.borrow();
                if now.mode == Mode::Cut(Cut::Reset) {
                    let _ = client.set_zero_linger();
                    continue;
                }
                accepted += 1;
                // Spread apart (the golden ratio's bits), so connections draw unrelated values.
                let seed = now
                    .seed
                    .wrapping_add(accepted.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                tokio::spawn(relay(client, now, watcher.clone(), seed));
            }
        });
        Ok(Self {
            addr,
            state,
            accept,
        })
    }

    pub fn cut(&self, mode: Cut) {
        self.state.send_modify(|s| s.mode = Mode::Cut(mode));
    }

    pub fn restore(&self) {
        self.state.send_modify(|s| s.mode = Mode::Pass);
    }

    /// Shapes both directions of every open and future connection from now on; a clean
    /// [`Conditions`] lets traffic through unshaped again. `seed` makes the draws reproducible.
    pub fn shape(&self, conditions: Conditions, seed: u64) {
        self.state.send_modify(|s| {
            s.conditions = conditions;
            s.seed = seed;
        });
    }

    /// Sends new connections to `upstream` and resets the open ones (a load balancer's
    /// failover). A cut stays in force.
    pub fn switch(&self, upstream: SocketAddr) {
        self.state.send_modify(|s| {
            s.upstream = upstream;
            s.route += 1;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Relays see the sender gone and reset their connections.
    }
}

enum End {
    /// One side closed cleanly: close the other cleanly too.
    Closed,
    /// Reset both sides.
    Reset,
}

/// One direction of a connection: the bytes on their way, and when each is due.
struct Link {
    shaper: Shaper,
    queue: VecDeque<(Instant, Vec<u8>)>,
    queued: usize,
}

impl Link {
    fn new(seed: u64) -> Self {
        Self {
            shaper: Shaper::new(seed),
            queue: VecDeque::new(),
            queued: 0,
        }
    }

    fn push(&mut self, bytes: &[u8], conditions: &Conditions) {
        let now = Instant::now();
        self.queued += bytes.len();
        if conditions.is_clean() {
            // Behind whatever a shaped link still holds: the queue is first in, first out.
            self.queue.push_back((now, bytes.to_vec()));
            return;
        }
        for segment in bytes.chunks(SEGMENT) {
            let due = self.shaper.schedule(now, segment.len(), conditions);
            self.queue.push_back((due, segment.to_vec()));
        }
    }

    fn due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _)| *due)
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        let (_, bytes) = self.queue.pop_front()?;
        self.queued -= bytes.len();
        Some(bytes)
    }

    fn full(&self) -> bool {
        self.queued >= QUEUE_LIMIT
    }
}

/// Sleeps until `due`; never wakes when there is nothing due.
async fn until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

async fn relay(mut client: TcpStream, opened: State, mut state: watch::Receiver<State>, seed: u64) {
    let Ok(mut server) = TcpStream::connect(opened.upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let mut up_buffer = vec![0u8; 16 * 1024];
        let mut down_buffer = vec![0u8; 16 * 1024];
        let (mut up, mut down) = (Link::new(seed), Link::new(!seed));
        // One side closed: what is still on the link is delivered, then both sides close.
        let mut closing = false;
        loop {
            if closing && up.queue.is_empty() && down.queue.is_empty() {
                break End::Closed;
            }
            let now = *state.borrow();
            let passing = now.mode == Mode::Pass;
            tokio::select! {
                read = client_read.read(&mut up_buffer), if !closing && !up.full() => match read {
                    Ok(0) => closing = true,
                    Ok(n) if passing => up.push(&up_buffer[..n], &now.conditions),
                    Ok(_) => {}
                    Err(_) => break End::Reset,
                },
                read = server_read.read(&mut down_buffer), if !closing && !down.full() => match read {
                    Ok(0) => closing = true,
                    Ok(n) if passing => down.push(&down_buffer[..n], &now.conditions),
                    Ok(_) => {}
                    Err(_) => break End::Reset,
                },
                () = until(up.due()) => {
                    // Bytes on the link when it was blackholed are lost with it.
                    if let Some(bytes) = up.pop() && passing && server_write.write_all(&bytes).await.is_err() {
                        break End::Reset;
                    }
                },
                () = until(down.due()) => {
                    if let Some(bytes) = down.pop() && passing && client_write.write_all(&bytes).await.is_err() {
                        break End::Reset;
                    }
                },
                changed = state.changed() => {
                    let now = *state.borrow();
                    if changed.is_err() || now.mode == Mode::Cut(Cut::Reset) || now.route != opened.route {
                        break End::Reset;
                    }
                }
            }
        }
    };
    // A blackhole lets nothing through, not even the end of a connection: hold the other side
    // open until the scenario restores or resets the network.
    let blackholed = |s: &watch::Receiver<State>| {
        let now = *s.borrow();
        now.mode == Mode::Cut(Cut::Blackhole) && now.route == opened.route
    };
    if matches!(end, End::Closed) && blackholed(&state) {
        while state.changed().await.is_ok() && blackholed(&state) {}
    }
    match end {
        End::Reset => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
        End::Closed => {
            let _ = client.shutdown().await;
            let _ = server.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::{Cut, Proxy};
    use crate::shaping::Conditions;

    /// A server that answers every connection's first byte with its name, then holds it open.
    async fn named_server(name: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut byte = [0u8; 1];
                    if stream.read_exact(&mut byte).await.is_ok() {
                        let _ = stream.write_all(name).await;
                    }
                    let _ = stream.read(&mut byte).await;
                });
            }
        });
        addr
    }

    async fn ask(proxy: &Proxy) -> (TcpStream, Vec<u8>) {
        let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
        stream.write_all(b"?").await.expect("write");
        let mut answer = vec![0u8; 1];
        stream.read_exact(&mut answer).await.expect("answer");
        (stream, answer)
    }

    #[tokio::test]
    async fn a_switch_resets_open_connections_and_sends_new_ones_to_the_new_upstream() {
        let (a, b) = (named_server(b"a").await, named_server(b"b").await);
        let proxy = Proxy::start(a).await.expect("proxy");
        let (mut before, answer) = ask(&proxy).await;
        assert_eq!(answer, b"a");

        proxy.switch(b);
        let mut rest = Vec::new();
        let ended = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            before.read_to_end(&mut rest),
        )
        .await
        .expect("the old connection ends at once");
        assert!(
            ended.is_err() || rest.is_empty(),
            "reset, or closed without data"
        );
        let (_after, answer) = ask(&proxy).await;
        assert_eq!(answer, b"b");
    }

    #[tokio::test]
    async fn a_cut_survives_a_switch_until_restored() {
        let (a, b) = (named_server(b"a").await, named_server(b"b").await);
        let proxy = Proxy::start(a).await.expect("proxy");
        proxy.cut(Cut::Reset);
        proxy.switch(b);
        let mut refused = TcpStream::connect(proxy.addr).await.expect("connect");
        let _ = refused.write_all(b"?").await;
        let mut answer = Vec::new();
        let read = refused.read_to_end(&mut answer).await;
        assert!(read.is_err() || answer.is_empty(), "got {answer:?}");
        proxy.restore();
        let (_stream, answer) = ask(&proxy).await;
        assert_eq!(answer, b"b");
    }

    /// Echoes every byte back.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_shaped_link_delays_both_ways_and_keeps_every_byte_in_order() {
        let proxy = Proxy::start(echo_server().await).await.expect("proxy");
        let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
        // Shaped after the connection opened: open connections are shaped too.
        let conditions = Conditions::parse("latency=50ms,jitter=40ms,loss=20%").expect("valid");
        proxy.shape(conditions, 9);
        let sent: Vec<u8> = (0..200u32).map(|i| (i % 251) as u8).collect();
        let started = tokio::time::Instant::now();
        for chunk in sent.chunks(4) {
            stream.write_all(chunk).await.expect("write");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let mut echoed = vec![0u8; sent.len()];
        stream.read_exact(&mut echoed).await.expect("echo");
        assert_eq!(echoed, sent, "bytes lost or reordered");
        // At least the shortest round trip: 2 × (50 - 40) ms, whatever the draws.
        assert!(started.elapsed() >= std::time::Duration::from_millis(20));

        // Back to clean: the close still comes through, after everything on the link.
        proxy.shape(Conditions::default(), 0);
        stream.write_all(b"end").await.expect("write");
        let mut end = [0u8; 3];
        stream.read_exact(&mut end).await.expect("echo");
        assert_eq!(&end, b"end");
    }

    #[tokio::test]
    async fn a_slow_link_holds_a_transfer_to_its_bandwidth() {
        let proxy = Proxy::start(echo_server().await).await.expect("proxy");
        // 400 kbps = 50 000 bytes/s each way, a 5 000-byte burst.
        proxy.shape(Conditions::parse("bandwidth=400kbps").expect("valid"), 1);
        let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
        let sent = vec![7u8; 30_000];
        let started = tokio::time::Instant::now();
        let (mut read, mut write) = stream.split();
        let (written, echoed) = tokio::join!(write.write_all(&sent), async {
            let mut echoed = vec![0u8; sent.len()];
            read.read_exact(&mut echoed).await.map(|_| echoed)
        });
        written.expect("write");
        assert_eq!(echoed.expect("echo"), sent);
        // Past the burst, 25 000 bytes at 50 000 bytes/s: half a second at least.
        assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    }
}
