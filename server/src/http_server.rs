//! The HTTP/1.1 accept loop: hyper serving the router on every accepted connection, with the
//! deadline `axum::serve` leaves out.
//!
//! `axum::serve` (0.8) builds hyper's connection without a timer, so hyper's own
//! `header_read_timeout` (30 s by default) never applies: a connection that sends nothing, or a
//! request head one byte at a time (slowloris), holds a task and a descriptor for as long as the
//! peer likes (docs/reliability.md, exhaustion). Here every connection gets a timer and
//! [`HEADER_READ_TIMEOUT`] for each request head, including the first, so such a connection is
//! closed within it; WebSocket and long-polling clients are not affected: a WebSocket is
//! upgraded after its one request, and a poll's request head is sent at once. Replace this
//! module with `axum::serve` if it gains a way to set hyper's timer.
//!
//! Shutdown is `axum::serve`'s graceful shutdown: stop accepting, run the shutdown future, ask
//! every connection to finish its request in flight, and wait for them; but for at most
//! [`SHUTDOWN_BOUND`], a backstop: a request whose body stalls (headers sent, the announced length
//! never reached) would otherwise hold the process for as long as its client likes. What the
//! bound cuts is logged, each connection with its remote port, so such a wait explains itself
//! (issue 26; the Node original's shutdown had the same hole and a silent one besides).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a client may take to send a request head, from the connection's start or the end
/// of its previous request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for the connections' requests in flight before it cuts them.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// A connection still being served, for the bound's log line.
struct OpenConnection {
    peer: SocketAddr,
    opened: Instant,
    requests: Arc<AtomicU64>,
}

impl OpenConnection {
    fn describe(&self) -> String {
        let requests = self.requests.load(Ordering::Relaxed);
        let state = if requests == 0 {
            "no request head yet".to_owned()
        } else {
            // Hyper closed the idle ones at once: this one is in a request, or reading a head.
            format!("in its request {requests}")
        };
        format!(
            "port {} {state}, open {} ms",
            self.peer.port(),
            self.opened.elapsed().as_millis()
        )
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Routes finished once (state applied), not per request: `Router::into_make_service` does
    // the same for `axum::serve`.
    let router = router.with_state(());
    let (stop_tx, stop_rx) = watch::channel(());
    let (open_tx, open_rx) = watch::channel(());
    let (cut_tx, cut_rx) = watch::channel(());
    let open_connections: Arc<Mutex<HashMap<u64, OpenConnection>>> = Arc::default();
    let mut next_id = 0u64;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or memory: nothing to do but let some close. Connection
                    // errors (a peer that reset before accept) are only that connection's.
                    if !is_connection_error(&error) {
                        tracing::error!(%error, "accept failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let requests = Arc::new(AtomicU64::new(0));
        let counted = requests.clone();
        // The peer's address rides on each request, for the logs (`crate::client_addr`).
        let service = router
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                counted.fetch_add(1, Ordering::Relaxed);
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let id = next_id;
        next_id += 1;
        lock(&open_connections).insert(
            id,
            OpenConnection {
                peer,
                opened: Instant::now(),
                requests,
            },
        );
        let registry = open_connections.clone();
        let mut stop = stop_rx.clone();
        let mut cut = cut_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(
                hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .with_upgrades()
            );
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::trace!(%error, "connection ended with an error");
                        }
                        break;
                    }
                    // Nothing is ever sent: the sender's drop is the signal.
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    // The bound: dropping the connection closes it.
                    _ = cut.changed() => break,
                }
            }
            lock(&registry).remove(&id);
            drop(open);
        });
    }
    drop(listener);
    // Dropping the sender tells every connection to finish; each holds `open_rx` until done.
    drop(stop_tx);
    drop(open_rx);
    if tokio::time::timeout(SHUTDOWN_BOUND, open_tx.closed())
        .await
        .is_err()
    {
        let left: Vec<String> = lock(&open_connections)
            .values()
            .map(OpenConnection::describe)
            .collect();
        tracing::warn!(
            bound_s = SHUTDOWN_BOUND.as_secs(),
            connections = left.len(),
            left = ?left,
            "shutdown bound reached: cutting the connections left"
        );
        drop(cut_tx);
        open_tx.closed().await;
    }
    Ok(())
}

/// The registry's lock; a panic in another holder leaves the map usable (entries are plain data).
fn lock(
    connections: &Mutex<HashMap<u64, OpenConnection>>,
) -> std::sync::MutexGuard<'_, HashMap<u64, OpenConnection>> {
    connections
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
