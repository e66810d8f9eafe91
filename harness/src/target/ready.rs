//! Readiness: the one wait every launched process goes through (a server node, redis-server,
//! PostgreSQL, HAProxy, a spec's service). Until the timeout, it asks the process's port the way its
//! [`Probe`] says, every 50 ms; a child that exits first fails at once, with the end of its log.
//! HTTP is asked with one `reqwest` client, also for a cluster's `/health` ([`get_json`]).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Child;

use super::TargetError;
use super::spec::Ready;

/// How long one question may take before it counts as unanswered.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause between questions.
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// How a launched process shows it is ready.
#[derive(Debug, Clone)]
pub(super) enum Probe {
    /// `PING` answered with `+PONG`.
    RedisPing,
    /// A startup message as user `postgres` answered `AuthenticationOk` (trust): PostgreSQL
    /// accepts connections before it can serve them ("the database system is starting up").
    Postgres,
    /// The port accepts a connection.
    Accepts,
    /// `GET` of the path answers 2xx (and, for [`Ready::Body`], its JSON body matches).
    Http(Ready),
}

/// The process being waited for: its name for messages, its port, and its log.
pub(super) struct Waited<'a> {
    pub name: &'a str,
    pub port: u16,
    pub log: &'a Path,
}

/// Waits until `probe` is answered on the port, the child exits, or `timeout` passes.
pub(super) async fn wait(
    child: &mut Option<Child>,
    waited: Waited<'_>,
    probe: &Probe,
    timeout: Duration,
) -> Result<(), TargetError> {
    let http = http_client()?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_answer = String::from("nothing yet");
    while tokio::time::Instant::now() < deadline {
        if let Some(running) = child.as_mut()
            && let Ok(Some(status)) = running.try_wait()
        {
            return Err(TargetError::Launch {
                name: waited.name.to_owned(),
                detail: format!(
                    "exited with {status} before it was ready\n{}",
                    log_tail(waited.log)
                ),
            });
        }
        match tokio::time::timeout(ATTEMPT_TIMEOUT, answers(&http, waited.port, probe)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(answer)) => last_answer = answer,
            Err(_) => last_answer = format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
    let asked = match probe {
        Probe::Http(ready) => format!(" (GET {}: {last_answer})", ready.path()),
        Probe::RedisPing | Probe::Postgres | Probe::Accepts => String::new(),
    };
    Err(TargetError::NotReady {
        name: waited.name.to_owned(),
        port: waited.port,
        timeout,
        log: format!("{asked}\n{}", log_tail(waited.log)),
    })
}

/// `Ok` when the process answers as `probe` asks; else what it answered.
async fn answers(http: &reqwest::Client, port: u16, probe: &Probe) -> Result<(), String> {
    match probe {
        Probe::Http(ready) => {
            let url = format!("http://127.0.0.1:{port}{}", ready.path());
            let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("status {}", response.status()));
            }
            match ready {
                Ready::Path(_) => Ok(()),
                Ready::Body { json, .. } => {
                    let body = response.json().await.unwrap_or(serde_json::Value::Null);
                    crate::matcher::check(json, &body, true)
                        .map_err(|mismatch| format!("{mismatch} in {body}"))
                }
            }
        }
        Probe::Accepts => connect(port).await.map(drop),
        Probe::Postgres => postgres_accepts(port).await,
        Probe::RedisPing => {
            let mut stream = connect(port).await?;
            stream
                .write_all(b"PING\r\n")
                .await
                .map_err(|e| e.to_string())?;
            let mut answer = [0u8; 7];
            stream
                .read_exact(&mut answer)
                .await
                .map_err(|e| e.to_string())?;
            if &answer == b"+PONG\r\n" {
                Ok(())
            } else {
                Err(format!("PING: {}", String::from_utf8_lossy(&answer)))
            }
        }
    }
}

/// The protocol version a startup message asks for: 3.0.
const POSTGRES_PROTOCOL: u32 = 3 << 16;

/// `Ok` when PostgreSQL on `port` lets user `postgres` in; else what it answered (its error
/// message, e.g. that it is starting up).
async fn postgres_accepts(port: u16) -> Result<(), String> {
    let mut stream = connect(port).await?;
    let parameters = b"user\0postgres\0database\0postgres\0\0";
    let length = u32::try_from(8 + parameters.len()).map_err(|e| e.to_string())?;
    let mut startup = Vec::with_capacity(64);
    startup.extend_from_slice(&length.to_be_bytes());
    startup.extend_from_slice(&POSTGRES_PROTOCOL.to_be_bytes());
    startup.extend_from_slice(parameters);
    stream
        .write_all(&startup)
        .await
        .map_err(|e| e.to_string())?;
    // A message: its type, its length (counting itself), then for `R` the auth code (0: ok).
    let mut head = [0u8; 9];
    stream
        .read_exact(&mut head)
        .await
        .map_err(|e| format!("startup: {e}"))?;
    if head[0] == b'R' && head[5..9] == [0, 0, 0, 0] {
        // Terminate, so the server logs no unexpected EOF.
        let _ = stream.write_all(&[b'X', 0, 0, 0, 4]).await;
        return Ok(());
    }
    let mut rest = [0u8; 256];
    let more = stream.read(&mut rest).await.unwrap_or(0);
    let text: String = String::from_utf8_lossy(&[&head[..], &rest[..more]].concat())
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Err(format!("startup answered: {}", text.trim()))
}

async fn connect(port: u16) -> Result<TcpStream, String> {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())
}

/// The client readiness questions are asked with: one second per request.
pub(super) fn http_client() -> Result<reqwest::Client, TargetError> {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .build()
        .map_err(|e| TargetError::Config(e.to_string()))
}

/// `GET url`'s JSON body (`null` when it is not JSON).
pub(super) async fn get_json(
    http: &reqwest::Client,
    url: &str,
) -> Result<serde_json::Value, reqwest::Error> {
    let response = http.get(url).send().await?;
    Ok(response.json().await.unwrap_or(serde_json::Value::Null))
}

/// The last 20 lines of a log file (empty when it cannot be read).
pub(super) fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
