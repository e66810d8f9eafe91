//! `watch`: a client of the server built on `rust_socketio` (async), the starting point for a Rust
//! program. It signs in with a token, subscribes to service statuses and to its user's
//! notifications, and prints each change as one line on stdout until Ctrl-C; connection news go
//! to stderr. rust_socketio reconnects by itself after a lost connection, and the connect
//! callback subscribes again each time, as a browser client does.
//!
//! ```sh
//! cargo run -p realtime-server -- demo                                # prints tokens
//! REALTIME_TOKEN=<a token> cargo run -p realtime-server --example watch
//! ```
//!
//! What rust_socketio reports and what it cannot (docs/compatibility.md, "A Rust client") shapes
//! the code: a refused token arrives on the `error` callback as text, the server's `error` event
//! as JSON on the same callback, an event without arguments as a `message`, and a lost
//! connection is not reported at all, only the next connect.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::Parser;
use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Prints live service statuses and notifications from a realtime-server.
#[derive(Debug, Parser)]
struct Args {
    /// The server's URL.
    #[arg(long, env = "REALTIME_URL", default_value = "http://127.0.0.1:4000")]
    url: String,
    /// A token for the server (`realtime-server token`, or one that `demo` prints).
    #[arg(long, env = "REALTIME_TOKEN", hide_env_values = true)]
    token: String,
}

/// A row of `status:current`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusRow {
    service: String,
    status: String,
    response_time: Option<u64>,
}

/// `service:status`.
#[derive(Debug, Deserialize)]
struct StatusChange {
    service: String,
    status: String,
    timestamp: String,
}

/// `notification:new`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    title: String,
    message: String,
    #[serde(rename = "type")]
    kind: String,
    created_at: String,
}

/// The server's `error` event and its `connect_error` share this shape.
#[derive(Debug, Deserialize)]
struct ServerError {
    message: String,
}

/// The prefix rust_socketio puts before a refused handshake's JSON on the `error` callback.
const CONNECT_ERROR_PREFIX: &str = "Received an ConnectError frame: ";

#[tokio::main]
async fn main() -> ExitCode {
    match watch(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("watch: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints until Ctrl-C (Ok) or until the server refuses the token (Err).
async fn watch(args: Args) -> Result<()> {
    let (refusal_tx, mut refusal) = mpsc::unbounded_channel::<String>();
    let connected_before = Arc::new(AtomicBool::new(false));
    let url = args.url.clone();

    let client = ClientBuilder::new(args.url.as_str())
        .auth(json!({ "token": args.token }))
        .on(Event::Connect, move |_, client: Client| {
            let again = connected_before.swap(true, Ordering::Relaxed);
            let url = url.clone();
            async move {
                eprintln!(
                    "{} {url}",
                    if again {
                        "reconnected to"
                    } else {
                        "connected to"
                    }
                );
                for event in ["subscribe:status", "subscribe:notifications"] {
                    if let Err(error) = client.emit(event, Vec::<Value>::new()).await {
                        eprintln!("could not send {event}: {error}");
                    }
                }
            }
            .boxed()
        })
        .on(Event::Error, move |payload, _| {
            match args_of(payload).as_slice() {
                [Value::String(text)] => match text.strip_prefix(CONNECT_ERROR_PREFIX) {
                    Some(json) => {
                        let _ = refusal_tx.send(server_message(json));
                    }
                    None => eprintln!("connection problem: {text}"),
                },
                [error] => match ServerError::deserialize(error) {
                    Ok(error) => eprintln!("server says: {}", error.message),
                    Err(_) => eprintln!("server says: {error}"),
                },
                other => eprintln!("error: {other:?}"),
            }
            async {}.boxed()
        })
        .on_any(|event, payload, _| {
            print_event(&String::from(event), &args_of(payload));
            async {}.boxed()
        })
        .connect()
        .await
        .with_context(|| format!("cannot reach {}", args.url))?;

    let outcome = tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.context("cannot wait for Ctrl-C"),
        Some(message) = refusal.recv() => Err(anyhow::anyhow!("the server refused the token: {message}")),
    };
    // After a refusal this fails (the client counts itself disconnected already) but still
    // matters: without it the client would retry every time the server drops the idle session.
    let _ = client.disconnect().await;
    outcome
}

fn args_of(payload: Payload) -> Vec<Value> {
    match payload {
        Payload::Text(values) => values,
        Payload::Binary(bytes) => vec![json!(format!("<{} bytes>", bytes.len()))],
        #[allow(deprecated)] // rust_socketio still produces it in a few places
        Payload::String(text) => vec![Value::String(text)],
    }
}

/// The `message` of a refusal's JSON, or the JSON itself when it has another shape.
fn server_message(json: &str) -> String {
    serde_json::from_str::<ServerError>(json)
        .map(|error| error.message)
        .unwrap_or_else(|_| json.to_owned())
}

/// Prints one line per status or notification; anything else the server sends, as it came.
fn print_event(event: &str, args: &[Value]) {
    match (event, args) {
        ("status:current", [Value::Array(rows)]) => {
            for row in rows {
                match StatusRow::deserialize(row) {
                    Ok(row) => println!(
                        "status  {:<12} {:<9} (current{})",
                        row.service,
                        row.status,
                        row.response_time
                            .map(|ms| format!(", {ms} ms"))
                            .unwrap_or_default()
                    ),
                    Err(_) => println!("status  {row}"),
                }
            }
        }
        ("service:status", [change]) => match StatusChange::deserialize(change) {
            Ok(change) => println!(
                "status  {:<12} {:<9} at {}",
                change.service, change.status, change.timestamp
            ),
            Err(_) => println!("status  {change}"),
        },
        ("notification:new", [notification]) => match Notification::deserialize(notification) {
            Ok(n) => println!(
                "notice  [{}] {}: {} at {}",
                n.kind, n.title, n.message, n.created_at
            ),
            Err(_) => println!("notice  {notification}"),
        },
        // rust_socketio delivers an event without arguments as a `message` carrying its name.
        ("message", [Value::String(name)]) if name == "status:refreshing" => {
            println!("status  refresh requested by an admin")
        }
        (event, args) => println!("event   {event} {}", Value::from(args.to_vec())),
    }
}
