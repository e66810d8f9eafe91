//! A loopback TCP proxy per client, so a scenario can cut one client's network and restore it,
//! or move it to another node of a cluster.
//!
//! `reset` sends RST on every open connection and refuses new ones; `blackhole` keeps
//! connections open but lets no byte through (only a ping timeout can notice); `restore` lets
//! traffic through again. `switch` points new connections at another upstream and resets the
//! open ones, as a load balancer does when it fails a client over: the client reconnects, to the
//! new node. Dropping the proxy resets whatever is still open.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::scenario::CutMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Cut(CutMode),
}

/// What every relay watches: the network's mode, and where new connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    mode: Mode,
    upstream: SocketAddr,
    /// Counts switches: a relay opened before the latest one is reset.
    route: u64,
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
        });
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let now = *watcher.borrow();
                if now.mode == Mode::Cut(CutMode::Reset) {
                    let _ = client.set_zero_linger();
                    continue;
                }
                tokio::spawn(relay(client, now, watcher.clone()));
            }
        });
        Ok(Self {
            addr,
            state,
            accept,
        })
    }

    pub fn cut(&self, mode: CutMode) {
        self.state.send_modify(|s| s.mode = Mode::Cut(mode));
    }

    pub fn restore(&self) {
        self.state.send_modify(|s| s.mode = Mode::Pass);
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

async fn relay(mut client: TcpStream, opened: State, mut state: watch::Receiver<State>) {
    let Ok(mut server) = TcpStream::connect(opened.upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let mut up = vec![0u8; 16 * 1024];
        let mut down = vec![0u8; 16 * 1024];
        loop {
            let passing = state.borrow().mode == Mode::Pass;
            tokio::select! {
                read = client_read.read(&mut up) => match read {
                    Ok(0) => break End::Closed,
                    Ok(n) if passing => if server_write.write_all(&up[..n]).await.is_err() { break End::Reset },
                    Ok(_) => {}
                    Err(_) => break End::Reset,
                },
                read = server_read.read(&mut down) => match read {
                    Ok(0) => break End::Closed,
                    Ok(n) if passing => if client_write.write_all(&down[..n]).await.is_err() { break End::Reset },
                    Ok(_) => {}
                    Err(_) => break End::Reset,
                },
                changed = state.changed() => {
                    let now = *state.borrow();
                    if changed.is_err() || now.mode == Mode::Cut(CutMode::Reset) || now.route != opened.route {
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
        now.mode == Mode::Cut(CutMode::Blackhole) && now.route == opened.route
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

    use super::Proxy;
    use crate::scenario::CutMode;

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
        proxy.cut(CutMode::Reset);
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
}
