//! `conformance-server`: the server the protocol conformance suites (`conformance/suites/`) run
//! against, configured as socketioxide's end-to-end servers are for the upstream
//! engine.io-protocol and socket.io-protocol test suites (docs/compatibility.md, "Protocol
//! conformance suites").
//!
//! `conformance-server engine-io` is an engineioxide echo server on `/engine.io/`;
//! `conformance-server socket-io` a socketioxide server on `/socket.io/` with the namespaces `/`
//! and `/custom`. Both use the suites' heartbeat (300 ms interval, 200 ms timeout) and maximum
//! payload (1 000 000 bytes). Built in this workspace, they run the engineioxide of our
//! dependency graph: the patched copy in `vendor/` while there is one.
//!
//! It listens on `--port` (0, the default, picks a free one) on 127.0.0.1 and prints
//! `listening on http://127.0.0.1:PORT` as its first line of stdout, for the runner to read.

mod engine_io;
mod socket_io;

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use hyper::{body::Incoming, server::conn::http1, service::Service};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The heartbeat and payload limit the upstream suites assert in the handshake.
pub const PING_INTERVAL: Duration = Duration::from_millis(300);
pub const PING_TIMEOUT: Duration = Duration::from_millis(200);
pub const MAX_PAYLOAD: u64 = 1_000_000;

#[derive(Parser)]
#[command(about = "The server the Engine.IO and Socket.IO conformance suites run against")]
struct Cli {
    #[command(subcommand)]
    protocol: Protocol,
    /// Port on 127.0.0.1; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 0, global = true)]
    port: u16,
}

#[derive(Subcommand)]
enum Protocol {
    /// engineioxide alone: every message and binary message echoed back.
    EngineIo,
    /// socketioxide: namespaces `/` and `/custom`, the auth payload echoed, messages and acks echoed.
    SocketIo,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], cli.port)))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", cli.port))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    println!("listening on http://{addr}");
    match cli.protocol {
        Protocol::EngineIo => serve(listener, engine_io::service()).await,
        Protocol::SocketIo => serve(listener, socket_io::service()).await,
    }
}

/// Serves every connection with `svc` over HTTP/1.1 with upgrades, as socketioxide's e2e
/// servers do (no router, no middleware between the suites and the crate under test).
async fn serve<S, B>(listener: TcpListener, svc: S) -> anyhow::Result<()>
where
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let (stream, peer) = listener.accept().await.context("accepting a connection")?;
        let svc = svc.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            if let Err(err) = conn.await {
                tracing::debug!(%peer, "connection ended with an error: {err}");
            }
        });
    }
}
