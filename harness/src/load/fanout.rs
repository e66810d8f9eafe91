//! Fan-out: one event to N subscribers, repeated. Each message is a `PUT /api/v1/status/<label>`
//! (status `up`) whose service names the message, so every delivery's latency is measured from
//! its request. The label rides in the service because the API accepts only the statuses the
//! page knows.
//! A message is sent once the previous one has reached every subscriber (or given up on the
//! rest) and the interval has passed: each latency is then that of one fan-out, not of a queue
//! of them behind a load generator that shares the server's cores.
//!
//! On a cluster (`--nodes`), subscribers are spread over the nodes and every message enters at
//! the first; deliveries to the other nodes' subscribers cross Redis, and their latency is
//! reported apart.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use super::fleet::{Collected, Fleet};
use super::reports::{FleetCommand, FleetOptions, Milestone, Report};
use super::workers::Workers;
use crate::client::ReconnectPolicy;
use crate::common::metrics::{Percentiles, sample_all};
use crate::common::users;
use crate::shaping::Conditions;
use crate::target::RunningTarget;

#[derive(Debug, Clone)]
pub struct FanoutOptions {
    pub clients: usize,
    pub messages: usize,
    pub interval: Duration,
    pub deadline: Duration,
    /// Worker processes holding the clients; `None`: this process.
    pub workers: Option<Workers>,
    /// Every client's connection shaped by these conditions (`--network`).
    pub network: Option<Conditions>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub target: String,
    /// The network conditions every client had (`clean` without `--network`).
    pub network: String,
    pub clients: usize,
    pub messages: usize,
    pub latency_ms: Percentiles,
    /// Nodes the subscribers were spread over.
    pub nodes: usize,
    /// With several nodes: deliveries to subscribers on the node the message entered.
    pub same_node_latency_ms: Option<Percentiles>,
    /// With several nodes: deliveries that crossed Redis to another node.
    pub cross_node_latency_ms: Option<Percentiles>,
    /// Deliveries over the summed time from each request to its last delivery.
    pub deliveries_per_sec: f64,
    pub lost: usize,
    pub idle_kib_per_connection: Option<f64>,
    pub server_cpu_ms: Option<f64>,
}

pub async fn run(
    target: &mut RunningTarget,
    name: &str,
    options: &FanoutOptions,
) -> Result<FanoutReport, String> {
    let admin = users::token(target, "admin-1")?;
    let before = sample_all(&target.pids());
    let mut fleet = Fleet::launch(
        users::tokens(target, options.clients)?,
        &FleetOptions {
            base_urls: target.node_urls(),
            reconnect: ReconnectPolicy {
                enabled: false,
                ..ReconnectPolicy::default()
            },
            ramp_concurrency: 256,
            network: options.network,
        },
        options.workers.as_ref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut ready = 0;
    fleet
        .collect(Instant::now() + options.deadline, |collected| {
            if let Collected::Report(report) = collected {
                ready += usize::from(matches!(report.milestone, Milestone::Ready));
            }
            ready == options.clients
        })
        .await;
    if ready < options.clients {
        return Err(format!(
            "only {ready} of {} clients subscribed",
            options.clients
        ));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = match (before, sample_all(&target.pids())) {
        (Some(b), Some(a)) => Some((a.rss_kib as f64 - b.rss_kib as f64) / options.clients as f64),
        _ => None,
    };

    let cpu_before = sample_all(&target.pids());
    let http = reqwest::Client::new();
    let mut deliveries = Deliveries::default();
    for k in 0..options.messages {
        let label = format!("fanout-m{k}");
        let url = format!("{}/api/v1/status/{label}", target.base_url);
        deliveries.sent(&label);
        let response = http
            .put(&url)
            .bearer_auth(&admin)
            .json(&json!({ "status": "up" }))
            .send()
            .await
            .map_err(|e| format!("PUT {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("PUT {url}: {}", response.status()));
        }
        fleet
            .collect(Instant::now() + MESSAGE_DEADLINE, |collected| {
                if let Collected::Report(report) = collected {
                    deliveries.take(report);
                }
                deliveries.delivered(&label) >= options.clients
            })
            .await;
        fleet
            .collect(Instant::now() + options.interval, |collected| {
                if let Collected::Report(report) = collected {
                    deliveries.take(report);
                }
                false
            })
            .await;
    }
    let cpu_after = sample_all(&target.pids());
    fleet.broadcast(FleetCommand::Close);
    let expected = options.clients * options.messages;
    // Time spent delivering: for each message, from its request to its last delivery.
    let busy: Duration = deliveries.messages.values().map(|m| m.slowest).sum();
    let nodes = target.node_urls().len().max(1);
    let (same_node, cross_node): (Vec<_>, Vec<_>) = deliveries
        .latencies
        .iter()
        .partition(|(client, _)| client % nodes == 0);
    let mut latencies: Vec<Duration> = deliveries.latencies.iter().map(|(_, l)| *l).collect();
    let delivered = latencies.len();
    Ok(FanoutReport {
        target: name.to_owned(),
        network: options.network.unwrap_or_default().to_string(),
        clients: options.clients,
        messages: options.messages,
        latency_ms: Percentiles::of(&mut latencies),
        nodes,
        same_node_latency_ms: (nodes > 1).then(|| latency_of(&same_node)),
        cross_node_latency_ms: (nodes > 1).then(|| latency_of(&cross_node)),
        deliveries_per_sec: delivered as f64 / busy.as_secs_f64().max(1e-9),
        lost: expected.saturating_sub(delivered),
        idle_kib_per_connection: idle,
        server_cpu_ms: match (cpu_before, cpu_after) {
            (Some(b), Some(a)) => Some(a.cpu.saturating_sub(b.cpu).as_secs_f64() * 1000.0),
            _ => None,
        },
    })
}

fn latency_of(deliveries: &[&(usize, Duration)]) -> Percentiles {
    let mut latencies: Vec<Duration> = deliveries.iter().map(|(_, latency)| *latency).collect();
    Percentiles::of(&mut latencies)
}

/// How long a message may take to reach every subscriber; what has not arrived by then is lost.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(5);

/// Latency of every delivery, and per message when it was sent and how it went.
#[derive(Default)]
struct Deliveries {
    messages: HashMap<String, MessageDeliveries>,
    /// Each delivery's client and latency.
    latencies: Vec<(usize, Duration)>,
}

struct MessageDeliveries {
    sent: Instant,
    delivered: usize,
    slowest: Duration,
}

impl Deliveries {
    fn sent(&mut self, label: &str) {
        self.messages.insert(
            label.to_owned(),
            MessageDeliveries {
                sent: Instant::now(),
                delivered: 0,
                slowest: Duration::ZERO,
            },
        );
    }

    fn delivered(&self, label: &str) -> usize {
        self.messages.get(label).map_or(0, |m| m.delivered)
    }

    /// Records `report` if it delivers a message.
    fn take(&mut self, report: &Report) {
        let Milestone::Message(label) = &report.milestone else {
            return;
        };
        let Some(message) = self.messages.get_mut(label) else {
            return;
        };
        let latency = report.at.saturating_duration_since(message.sent);
        message.delivered += 1;
        message.slowest = message.slowest.max(latency);
        self.latencies.push((report.client, latency));
    }
}

pub fn table(report: &FanoutReport) -> String {
    let split = match (&report.same_node_latency_ms, &report.cross_node_latency_ms) {
        (Some(same), Some(cross)) => format!(
            "  {} nodes: same node p50 {:.1} ms, p99 {:.1} ms; across Redis p50 {:.1} ms, p99 {:.1} ms\n",
            report.nodes, same.p50, same.p99, cross.p50, cross.p99
        ),
        _ => String::new(),
    };
    let main = format!(
        "fan-out: {} messages to {} subscribers on {}, network {}\n  latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.0} deliveries/s; lost {}; idle memory {}; server cpu {}\n",
        report.messages,
        report.clients,
        report.target,
        report.network,
        report.latency_ms.p50,
        report.latency_ms.p90,
        report.latency_ms.p99,
        report.latency_ms.max,
        report.deliveries_per_sec,
        report.lost,
        report
            .idle_kib_per_connection
            .map_or("n/a".into(), |k| format!("{k:.1} KiB/connection")),
        report
            .server_cpu_ms
            .map_or("n/a".into(), |c| format!("{c:.0} ms")),
    );
    main + &split
}
