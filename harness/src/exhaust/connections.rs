//! The connections an exhaustion phase holds, one function a kind: silent TCP and WebSocket
//! upgrades ([`hold_stream`]), slowloris request heads, abandoned polling sessions, and idle
//! authenticated users; each ends when the server closes it or the phase releases it, and says
//! which ([`Ended`]).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::{Client, ClientOptions, Observed};

/// How long an idle user's connect may take (handshake, then the namespace's answer).
const IDLE_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a polling session's probe waits: a live session answers a poll with a packet or
/// holds it (up to the ping interval); a dropped one answers 400 at once, but on a busy machine
/// "at once" took over 1 s (2 of 10 runs with both cores busy counted dropped sessions as open),
/// so the wait is generous: it is paid only for sessions the server failed to drop.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What each attacking connection reports when it ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ended {
    FailedToOpen,
    ClosedByServer(Duration),
    StillOpen,
}

pub(super) fn websocket_upgrade(index: usize) -> Vec<u8> {
    format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {}\r\n\r\n",
        websocket_key(index)
    )
    .into_bytes()
}

/// A syntactically valid `Sec-WebSocket-Key` (16 bytes, base64) per connection.
fn websocket_key(index: usize) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(index as u64).to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Connects, sends `greeting`, then reads (and discards) until the server closes or the phase
/// releases the connection.
pub(super) async fn hold_stream(
    addr: std::net::SocketAddr,
    greeting: &[u8],
    released: watch::Receiver<bool>,
) -> Result<Ended, String> {
    let opened_at = Instant::now();
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if !greeting.is_empty() {
        stream
            .write_all(greeting)
            .await
            .map_err(|e| format!("send: {e}"))?;
    }
    Ok(read_until_closed(&mut stream, opened_at, released).await)
}

async fn read_until_closed(
    stream: &mut TcpStream,
    opened_at: Instant,
    mut released: watch::Receiver<bool>,
) -> Ended {
    let mut buffer = [0u8; 512];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return Ended::ClosedByServer(opened_at.elapsed()),
                Ok(_) => {}
            },
            () = until_released(&mut released) => return Ended::StillOpen,
        }
    }
}

/// Completes when the phase releases its connections. (The guard `wait_for` returns is not
/// `Send`; it is dropped here, not held in a `select!`.)
async fn until_released(released: &mut watch::Receiver<bool>) {
    let _ = released.wait_for(|released| *released).await;
}

/// A request head sent one byte a second, never finished.
pub(super) async fn slowloris(
    addr: std::net::SocketAddr,
    mut released: watch::Receiver<bool>,
) -> Result<Ended, String> {
    let opened_at = Instant::now();
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let head =
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ";
    let mut bytes = head.iter().chain(std::iter::repeat(&b'a'));
    let mut buffer = [0u8; 512];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let byte = bytes.next().copied().unwrap_or(b'a');
                if stream.write_all(&[byte]).await.is_err() {
                    return Ok(Ended::ClosedByServer(opened_at.elapsed()));
                }
            }
            read = stream.read(&mut buffer) => if matches!(read, Ok(0) | Err(_)) {
                return Ok(Ended::ClosedByServer(opened_at.elapsed()));
            },
            () = until_released(&mut released) => return Ok(Ended::StillOpen),
        }
    }
}

/// A polling handshake, then silence; when released, one poll with the session id tells whether
/// the server still knows it.
pub(super) async fn abandon_polling(
    http: &reqwest::Client,
    base_url: &str,
    mut released: watch::Receiver<bool>,
) -> Result<Ended, String> {
    let opened_at = Instant::now();
    let url = format!("{base_url}/socket.io/?EIO=4&transport=polling");
    let body = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("handshake: {e}"))?
        .text()
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let sid = body
        .strip_prefix('0')
        .and_then(|open| serde_json::from_str::<serde_json::Value>(open).ok())
        .and_then(|open| open["sid"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("handshake answered {body:?}"))?;
    until_released(&mut released).await;
    let probe = http
        .get(format!("{url}&sid={sid}"))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await;
    Ok(match probe {
        Ok(response) if response.status().is_client_error() => {
            // Dropped at some point during the hold: when, a poll cannot tell.
            Ended::ClosedByServer(opened_at.elapsed())
        }
        _ => Ended::StillOpen,
    })
}

/// A virtual client of the profile that connects and waits; the server should keep it.
pub(super) async fn hold_idle_client(
    options: ClientOptions,
    released: watch::Receiver<bool>,
    retried: &std::sync::Mutex<Vec<String>>,
) -> Result<Ended, String> {
    let opened_at = Instant::now();
    // A user whose first connect fails tries once more, as a real one would; the first failure
    // is reported (`open_retries`), so a server that drops connects still shows.
    let mut client = match connect_idle_client(options.clone()).await {
        Ok(client) => client,
        Err(first) => {
            retried
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(first);
            connect_idle_client(options).await?
        }
    };
    while !*released.borrow() {
        let gone = client
            .wait_for(Duration::from_millis(500), |o| {
                matches!(o, Observed::Disconnect { .. })
            })
            .await;
        if gone.is_some() {
            return Ok(Ended::ClosedByServer(opened_at.elapsed()));
        }
    }
    client.close();
    Ok(Ended::StillOpen)
}

/// A signed-in client, or what it saw instead of the namespace's answer.
async fn connect_idle_client(mut options: ClientOptions) -> Result<Client, String> {
    // Generous: a connect that is merely slow on a loaded machine is not what is measured.
    options.endpoint.timeout = IDLE_CONNECT_TIMEOUT;
    let mut client = Client::connect(options);
    let answer = client
        .wait_for(IDLE_CONNECT_TIMEOUT, |o| {
            matches!(
                o,
                Observed::Connect { .. }
                    | Observed::ConnectError { .. }
                    | Observed::Disconnect { .. }
            )
        })
        .await;
    let outcome = match answer.map(|o| o.what) {
        Some(Observed::Connect { .. }) => return Ok(client),
        // Not "unanswered": the session ended (or was refused) before the namespace answered.
        Some(other) => format!("{} before a connect", crate::transcript::describe(&other)),
        None => format!("no namespace connect within {IDLE_CONNECT_TIMEOUT:?}"),
    };
    client.close();
    let seen: Vec<String> = client
        .history()
        .iter()
        .map(|o| crate::transcript::describe(&o.what))
        .collect();
    Err(format!("{outcome}; the client saw: [{}]", seen.join("; ")))
}
