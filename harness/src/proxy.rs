//! A loopback TCP proxy per client, so a scenario can cut one client's network and restore it.
//!
//! `reset` sends RST on every open connection and refuses new ones; `blackhole` keeps
//! connections open but lets no byte through (only a ping timeout can notice); `restore` lets
//! traffic through again. Dropping the proxy resets whatever is still open.

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

pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind((upstream.ip(), 0)).await?;
        let addr = listener.local_addr()?;
        let (mode, watcher) = watch::channel(Mode::Pass);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watcher.borrow() == Mode::Cut(CutMode::Reset) {
                    let _ = client.set_zero_linger();
                    continue;
                }
                tokio::spawn(relay(client, upstream, watcher.clone()));
            }
        });
        Ok(Self { addr, mode, accept })
    }

    pub fn cut(&self, mode: CutMode) {
        let _ = self.mode.send(Mode::Cut(mode));
    }

    pub fn restore(&self) {
        let _ = self.mode.send(Mode::Pass);
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

async fn relay(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
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
            let passing = *mode.borrow() == Mode::Pass;
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
                changed = mode.changed() => {
                    if changed.is_err() || *mode.borrow() == Mode::Cut(CutMode::Reset) {
                        break End::Reset;
                    }
                }
            }
        }
    };
    // A blackhole lets nothing through, not even the end of a connection: hold the other side
    // open until the scenario restores or resets the network.
    if matches!(end, End::Closed) && *mode.borrow() == Mode::Cut(CutMode::Blackhole) {
        while mode.changed().await.is_ok() && *mode.borrow() == Mode::Cut(CutMode::Blackhole) {}
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
