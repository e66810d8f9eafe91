//! `fake_kuma`: a stand-in for Uptime Kuma's public status-page API that a scenario can change,
//! so the feed (`KUMA_URL`) can be driven end to end: the harness launches it with the server
//! (`services:` in `scenarios/targets.yaml`, target `rust-kuma`) and scenarios talk to it with
//! `http: { service: kuma, ... }`.
//!
//! It serves the status page `home` from the feed's Kuma 2.x test fixtures
//! (`server/tests/fixtures/kuma`), every beat moved by the same amount so that the newest is
//! "now" at start; another slug gets Kuma 2.x's 404 `Status Page Not Found`, any other path an
//! empty 404.
//! Beyond Kuma's own routes it answers:
//!
//! - `POST /__fake/monitors/{id}/beats` `{"status": 0..3, "ping": ms|null, "msg": "..."}`: a
//!   beat, timed now, becomes that monitor's newest;
//! - `PUT /__fake/fault` `{"status": 503}`: Kuma's routes answer that status until
//!   `DELETE /__fake/fault`;
//! - `GET /__fake/health`: 200 once listening.
//!
//! ```sh
//! cargo run -p realtime-server --example fake_kuma -- --port 3901
//! KUMA_URL=http://127.0.0.1:3901 KUMA_STATUS_PAGE=home cargo run -p realtime-server -- demo
//! ```
//!
//! Built on wiremock (a dev-dependency, so this is an example, not part of the server): each
//! route is a mock whose responder reads or changes one shared state.

use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use chrono::{NaiveDateTime, Utc};
use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SLUG: &str = "home";
/// How Kuma writes a beat's time: UTC without a zone (also without milliseconds, as some of the
/// fixtures' beats are: each keeps its format when moved).
const BEAT_TIME: &str = "%Y-%m-%d %H:%M:%S%.3f";

#[derive(Parser)]
#[command(about = "A fake Uptime Kuma status page for driving the feed end to end")]
struct Args {
    /// Loopback port to listen on.
    #[arg(long)]
    port: u16,
}

/// The status page, its beats, and the fault a scenario asked for.
struct Kuma {
    status_page: Value,
    heartbeat: Value,
    fault: Option<u16>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Kuma>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Kuma> {
        // A panic while holding the lock cannot leave the JSON half-changed in a way that
        // matters to a fake: keep serving.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Kuma's two routes: the page, or its beats; a set fault instead.
struct KumaRoute {
    kuma: Shared,
    heartbeat: bool,
}

impl Respond for KumaRoute {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let kuma = self.kuma.lock();
        match kuma.fault {
            Some(status) => {
                ResponseTemplate::new(status).set_body_string("fault set by a scenario")
            }
            None if self.heartbeat => ResponseTemplate::new(200).set_body_json(&kuma.heartbeat),
            None => ResponseTemplate::new(200).set_body_json(&kuma.status_page),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBeat {
    status: u8,
    #[serde(default)]
    ping: Option<u32>,
    #[serde(default)]
    msg: String,
}

/// `POST /__fake/monitors/{id}/beats`.
struct AddBeat(Shared);

impl Respond for AddBeat {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(id) = request.url.path_segments().and_then(|mut s| s.nth(2)) else {
            return ResponseTemplate::new(404);
        };
        let beat: NewBeat = match request.body_json() {
            Ok(beat) => beat,
            Err(error) => {
                return ResponseTemplate::new(400)
                    .set_body_json(json!({"error": error.to_string()}));
            }
        };
        let mut kuma = self.0.lock();
        let Some(beats) = kuma.heartbeat["heartbeatList"]
            .get_mut(id)
            .and_then(Value::as_array_mut)
        else {
            return ResponseTemplate::new(404)
                .set_body_json(json!({"error": format!("no monitor {id}")}));
        };
        beats.push(json!({
            "status": beat.status,
            "time": Utc::now().format(BEAT_TIME).to_string(),
            "msg": beat.msg,
            "ping": beat.ping,
        }));
        ResponseTemplate::new(201).set_body_json(json!({"monitor": id, "status": beat.status}))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fault {
    status: u16,
}

/// `PUT` and `DELETE /__fake/fault`.
struct SetFault(Shared);

impl Respond for SetFault {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let fault = if request.method == "DELETE" {
            None
        } else {
            match request.body_json::<Fault>() {
                Ok(fault) if (400..600).contains(&fault.status) => Some(fault.status),
                Ok(fault) => {
                    return ResponseTemplate::new(400).set_body_json(
                        json!({"error": format!("status {} is not an error status", fault.status)}),
                    );
                }
                Err(error) => {
                    return ResponseTemplate::new(400)
                        .set_body_json(json!({"error": error.to_string()}));
                }
            }
        };
        self.0.lock().fault = fault;
        ResponseTemplate::new(200).set_body_json(json!({"fault": fault}))
    }
}

/// Moves every beat by the same amount, so the newest of all is now; each keeps its format.
fn move_beats_to_now(heartbeat: &mut Value) -> Result<()> {
    let parse = |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f");
    let beats = || {
        heartbeat["heartbeatList"]
            .as_object()
            .into_iter()
            .flat_map(|lists| lists.values())
            .filter_map(Value::as_array)
            .flatten()
    };
    let Some(newest) = beats()
        .filter_map(|beat| parse(beat["time"].as_str()?).ok())
        .max()
    else {
        return Ok(());
    };
    let shift = Utc::now().naive_utc() - newest;
    let lists = heartbeat["heartbeatList"]
        .as_object_mut()
        .context("the fixture has no heartbeatList")?;
    for beat in lists.values_mut().filter_map(Value::as_array_mut).flatten() {
        let text = beat["time"].as_str().context("a beat without a time")?;
        let format = if text.contains('.') {
            BEAT_TIME
        } else {
            "%Y-%m-%d %H:%M:%S"
        };
        let moved = parse(text).context("a beat time")? + shift;
        beat["time"] = json!(moved.format(format).to_string());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let status_page = include_str!("../tests/fixtures/kuma/2.x-status-page.json");
    let heartbeat = include_str!("../tests/fixtures/kuma/2.x-heartbeat.json");
    let mut heartbeat: Value = serde_json::from_str(heartbeat).context("heartbeat fixture")?;
    move_beats_to_now(&mut heartbeat)?;
    let kuma = Shared(Arc::new(Mutex::new(Kuma {
        status_page: serde_json::from_str(status_page).context("status page fixture")?,
        heartbeat,
        fault: None,
    })));

    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let server = MockServer::builder()
        .listener(listener)
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/status-page/heartbeat/{SLUG}")))
        .respond_with(KumaRoute {
            kuma: kuma.clone(),
            heartbeat: true,
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/status-page/{SLUG}")))
        .respond_with(KumaRoute {
            kuma: kuma.clone(),
            heartbeat: false,
        })
        .mount(&server)
        .await;
    // Another slug gets Kuma 2.x's answer; any other path wiremock's empty 404, as a wrong path
    // in KUMA_URL would.
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/status-page/(heartbeat/)?[^/]+$"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"status": "fail", "msg": "Status Page Not Found"})),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/__fake/monitors/[0-9]+/beats$"))
        .respond_with(AddBeat(kuma.clone()))
        .mount(&server)
        .await;
    Mock::given(path("/__fake/fault"))
        .respond_with(SetFault(kuma))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/__fake/health"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    eprintln!("fake Uptime Kuma on {}, status page {SLUG:?}", server.uri());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
