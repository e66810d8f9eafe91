//! Fan-out: one event to N subscribers, repeated. Each message is the load profile's trigger
//! (an `http` request, or an `emit` from a broadcaster client) with its `{{seq}}`; each delivery
//! is matched to its message by the sequence field the profile names (or by arrival order), so
//! its latency is measured from that trigger.
//! A message is sent once the previous one has reached every subscriber (or given up on the
//! rest) and the interval has passed: each latency is then that of one fan-out, not of a queue
//! of them behind a load generator that shares the server's cores.
//!
//! On a cluster (`--nodes`), subscribers are spread over the nodes and every message enters at
//! the first; deliveries to the other nodes' subscribers cross Redis, and their latency is
//! reported apart.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::fleet::{Collected, Fleet};
use super::reports::{FleetCommand, FleetOptions, Milestone, Report};
use super::workers::Workers;
use crate::client::{Client, ReconnectPolicy};
use crate::common::metrics::{Percentiles, sample_all};
use crate::common::virtual_client::{Conversation, FanoutPlan, VirtualClients};
use crate::request::{HttpRequest, RequestBody};
use crate::scenario::profile::Trigger;
use crate::scenario::{EmitSpec, HttpStep};
use crate::shaping::Conditions;
use crate::target::RunningTarget;
use crate::template::Vars;
use crate::transport::EndpointOptions;

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
    profile: &VirtualClients,
    options: &FanoutOptions,
) -> Result<FanoutReport, String> {
    let plan = profile.fanout()?;
    let conversation = Arc::new(profile.conversation()?);
    let before = sample_all(&target.pids());
    let mut fleet = Fleet::launch(
        profile.clients(1..=options.clients)?,
        &FleetOptions {
            conversation: conversation.clone(),
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
        return Err(format!("only {ready} of {} clients ready", options.clients));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = match (before, sample_all(&target.pids())) {
        (Some(b), Some(a)) => Some((a.rss_kib as f64 - b.rss_kib as f64) / options.clients as f64),
        _ => None,
    };

    let mut trigger = Broadcast::start(&target.base_url, plan, &conversation).await?;
    let cpu_before = sample_all(&target.pids());
    let mut deliveries = Deliveries::new(options.clients);
    for seq in 1..=options.messages {
        deliveries.sent(seq);
        trigger.send(seq).await?;
        fleet
            .collect(Instant::now() + MESSAGE_DEADLINE, |collected| {
                if let Collected::Report(report) = collected {
                    deliveries.take(report);
                }
                deliveries.delivered(seq) >= options.clients
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
    trigger.close();
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
struct Deliveries {
    /// By sequence number.
    messages: HashMap<usize, MessageDeliveries>,
    /// Each delivery's client and latency.
    latencies: Vec<(usize, Duration)>,
    /// Deliveries each client had, for matching by arrival order: its k-th is message k.
    arrived: Vec<usize>,
}

struct MessageDeliveries {
    sent: Instant,
    delivered: usize,
    slowest: Duration,
}

impl Deliveries {
    fn new(clients: usize) -> Self {
        Self {
            messages: HashMap::new(),
            latencies: Vec::new(),
            arrived: vec![0; clients],
        }
    }

    fn sent(&mut self, seq: usize) {
        self.messages.insert(
            seq,
            MessageDeliveries {
                sent: Instant::now(),
                delivered: 0,
                slowest: Duration::ZERO,
            },
        );
    }

    fn delivered(&self, seq: usize) -> usize {
        self.messages.get(&seq).map_or(0, |m| m.delivered)
    }

    /// Records `report` if it delivers a message (one whose sequence value is not a message
    /// of this run is not counted).
    fn take(&mut self, report: &Report) {
        let Milestone::Message(label) = &report.milestone else {
            return;
        };
        let seq = match label {
            Some(label) => label.parse::<usize>().ok(),
            None => self.arrived.get_mut(report.client).map(|count| {
                *count += 1;
                *count
            }),
        };
        let Some(message) = seq.and_then(|seq| self.messages.get_mut(&seq)) else {
            return;
        };
        let latency = report.at.saturating_duration_since(message.sent);
        message.delivered += 1;
        message.slowest = message.slowest.max(latency);
        self.latencies.push((report.client, latency));
    }
}

/// What causes each broadcast: the profile's `http` request, or its `emit` from a broadcaster
/// client connected (and ready) before the first; each with the variables it renders from.
enum Broadcast {
    Http {
        base_url: String,
        http: reqwest::Client,
        step: HttpStep,
        vars: Vars,
    },
    Emit {
        client: Client,
        namespace: String,
        emit: EmitSpec,
        vars: Vars,
    },
}

impl Broadcast {
    async fn start(
        base_url: &str,
        plan: FanoutPlan,
        conversation: &Conversation,
    ) -> Result<Self, String> {
        let emit = match plan.trigger {
            Trigger::Http(step) => {
                return Ok(Broadcast::Http {
                    base_url: base_url.to_owned(),
                    http: reqwest::Client::new(),
                    step: *step,
                    vars: plan.vars,
                });
            }
            Trigger::Emit(emit) => emit,
        };
        let options = plan
            .broadcaster
            .options(conversation, EndpointOptions::new(base_url));
        let mut client = Client::connect(options);
        let acks = AtomicUsize::new(0);
        let mut settled = None;
        let outcome = client
            .wait_for(MESSAGE_DEADLINE, |o| {
                settled = conversation.milestone(o, &acks).filter(|m| {
                    matches!(
                        m,
                        Milestone::Ready | Milestone::Failure(_) | Milestone::Lost
                    )
                });
                settled.is_some()
            })
            .await;
        match (settled, outcome) {
            (Some(Milestone::Ready), _) => Ok(Broadcast::Emit {
                client,
                namespace: conversation.namespace.clone(),
                emit,
                vars: plan.vars,
            }),
            (_, Some(observation)) => {
                client.close();
                Err(format!(
                    "the broadcaster was not ready: {}",
                    crate::transcript::describe(&observation.what)
                ))
            }
            (_, None) => {
                client.close();
                Err(format!(
                    "the broadcaster was not ready within {MESSAGE_DEADLINE:?} ({})",
                    conversation.describe()
                ))
            }
        }
    }

    /// Sends trigger `seq`.
    async fn send(&mut self, seq: usize) -> Result<(), String> {
        let text = |vars: &Vars, text: &str| vars.text(text).map_err(|e| e.to_string());
        let render = |vars: &Vars, value: &Value| vars.value(value).map_err(|e| e.to_string());
        match self {
            Broadcast::Http {
                base_url,
                http,
                step,
                vars,
            } => {
                vars.set("seq", json!(seq.to_string()));
                let path = text(vars, &step.path)?;
                let mut request = HttpRequest::new(&step.method, format!("{base_url}{path}"));
                for (key, value) in &step.headers {
                    request.headers.push((key.clone(), text(vars, value)?));
                }
                request.bearer = step.token.as_deref().map(|t| text(vars, t)).transpose()?;
                request.body = match (&step.body, &step.raw_body) {
                    (Some(body), _) => RequestBody::Json(render(vars, body)?),
                    (None, Some(raw)) => RequestBody::RawJson(text(vars, raw)?),
                    (None, None) => RequestBody::None,
                };
                let what = format!("{} {path}", step.method);
                let answer = request
                    .exchange(http)
                    .await
                    .map_err(|e| format!("{what}: {e}"))?;
                let expected = step
                    .status
                    .map_or((200..300).contains(&answer.status), |s| s == answer.status);
                if !expected {
                    return Err(format!("{what} answered {}", answer.status));
                }
                Ok(())
            }
            Broadcast::Emit {
                client,
                namespace,
                emit,
                vars,
            } => {
                vars.set("seq", json!(seq.to_string()));
                let args = emit
                    .args
                    .iter()
                    .map(|arg| render(vars, arg))
                    .collect::<Result<Vec<_>, _>>()?;
                let ack = emit
                    .ack
                    .as_ref()
                    .map(|a| a.timeout.map_or(MESSAGE_DEADLINE, |t| t.0));
                client
                    .emit(namespace, &emit.event, args, ack)
                    .map_err(|_| "the broadcaster's connection is gone".to_owned())
            }
        }
    }

    fn close(&self) {
        if let Broadcast::Emit { client, .. } = self {
            client.close();
        }
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
