//! `sio-harness record`: live traffic into a scenario file.
//!
//! How the pieces fit, in the order data flows through them:
//!
//! - [`tap`] is the proxy clients connect through (`--listen`). It forwards every HTTP request
//!   and websocket frame to `--upstream` unchanged and tapes what passed: Engine.IO sessions
//!   (opened, upgraded, packets each way, closed) and the other HTTP calls with their JSON.
//! - [`session`] decodes the tape: each Engine.IO session is one client, its messages become
//!   Socket.IO facts (connect, emit with ack id, ack, received event, disconnect), with binary
//!   attachments reassembled by the codec.
//! - [`writer`] turns the facts into a scenario, steps in the order the proxy saw them; secrets go
//!   through [`secrets`] (a JWT becomes a `tokens:` entry built from its claims; passwords and
//!   other secrets become `{{variables}}`), received values through [`infer`] (`$uuid`, `$time`,
//!   …, and `capture` where a later step sends an id back).
//!
//! Ctrl-C (or `--duration`) stops the proxy; the file is written, parsed back with the scenario
//! parser (so it is known to load), and then run once against the upstream with snapshots in
//! update mode: that run writes the snapshot, in the runner's own transcript format, and proves
//! the file replays. Building the snapshot from the recorded traffic instead would need a second
//! implementation of the transcript's redaction and merge, and would not show that the replay
//! passes; the price is that the server sees the scenario once more (what the recording created,
//! it creates again, which is what a replay does anyway).
//!
//! Not replayed: acks the client sends for the server's `emitWithAck` (a scenario cannot answer
//! a server request with a recorded value; the event is still expected), and sessions opened
//! before the recording started.

mod infer;
pub(crate) mod secrets;
mod session;
mod tap;
mod writer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use writer::Written;

use crate::runner::RunSettings;
use crate::scenario;
use crate::snapshot::UpdateMode;
use crate::suite::{self, ScenarioResult, SuiteOptions};
use crate::target::Target;
use session::decode;
use tap::RecordingProxy;
use writer::write;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("nothing to write: no Socket.IO client and no API call went through the proxy")]
    Empty,
    #[error("cannot serialise the scenario: {0}")]
    Serialise(#[from] scenario::WriteError),
    /// The written file does not parse back: a bug of the writer, reported with the parser's
    /// message (which names the line); the file is kept, for the report.
    #[error("the recorded scenario does not parse back (the file is kept):\n{0}")]
    RoundTrip(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A recording in progress: the proxy, and where its tape goes.
pub struct Recorder {
    proxy: RecordingProxy,
    upstream: String,
    /// The Engine.IO path the clients use, written on their `connect` steps.
    engine_path: String,
}

impl Recorder {
    /// Starts the proxy on `listen` (port 0: a free port, see [`Recorder::addr`]).
    pub async fn start(
        listen: SocketAddr,
        upstream: &str,
        engine_path: &str,
    ) -> Result<Self, RecordError> {
        let proxy = RecordingProxy::start(listen, upstream, engine_path)
            .await
            .map_err(|source| RecordError::Listen {
                addr: listen,
                source,
            })?;
        Ok(Self {
            proxy,
            upstream: upstream.to_owned(),
            engine_path: engine_path.to_owned(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr
    }

    /// Stops the proxy and writes the scenario `name` to `out`, after checking that it parses.
    pub fn finish(self, out: &Path, name: &str) -> Result<Written, RecordError> {
        let traffic = self.proxy.tape.take();
        drop(self.proxy);
        let recording = decode(traffic);
        if recording.facts.is_empty() {
            return Err(RecordError::Empty);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let header = format!(
            "Recorded by `sio-harness record` through a proxy to {}.\n\
             Tokens are minted again at replay from the claims below; no secret of the session is in this file.",
            self.upstream
        );
        let written = write(&recording, name, now, &header, &self.engine_path)?;
        std::fs::write(out, &written.yaml).map_err(|source| RecordError::Write {
            path: out.to_path_buf(),
            source,
        })?;
        scenario::parse_str(&out.to_string_lossy(), &written.yaml)
            .map_err(|e| RecordError::RoundTrip(e.to_string()))?;
        Ok(written)
    }
}

/// Runs the written file once against `upstream`, writing its snapshot into `snapshots`.
pub async fn write_snapshot(
    out: &Path,
    upstream: &str,
    jwt_secret: Option<String>,
    snapshots: &Path,
    vars: BTreeMap<String, Value>,
) -> Result<ScenarioResult, String> {
    let file = scenario::load_file(out).map_err(|e| e.to_string())?;
    let target = Target::Url {
        url: upstream.to_owned(),
        secret: jwt_secret,
        hooks: Box::default(),
    };
    let options = SuiteOptions {
        settings: RunSettings {
            vars,
            ..RunSettings::default()
        },
        snapshots: Some((snapshots.to_path_buf(), UpdateMode::Always)),
        ..SuiteOptions::default()
    };
    suite::run(std::slice::from_ref(&file), &target, &options)
        .await
        .into_iter()
        .next()
        .ok_or_else(|| "the recorded file has no scenario".to_owned())
}
