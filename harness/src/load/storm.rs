//! Reconnect storms: N ready clients (as the load profile defines ready) all lose their
//! connection at once and come back, either all at t=0 or spread by the official client's
//! jitter.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::fleet::{Collected, Fleet};
use super::phase::Phase;
use super::reports::{FleetCommand, FleetOptions, Milestone};
use super::workers::Workers;
use crate::client::ReconnectPolicy;
use crate::common::metrics::{
    NetCounters, Percentiles, ProcessSample, quantiles_ms, sample_all, sample_self,
};
use crate::common::virtual_client::VirtualClients;
use crate::shaping::Conditions;
use crate::target::RunningTarget;

/// How every client loses its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// Each client resets its TCP connection, as a network cut would.
    Drop,
    /// The server restarts (SIGTERM, start again on the same port).
    Restart,
}

#[derive(Debug, Clone)]
pub struct StormOptions {
    pub clients: usize,
    pub rounds: usize,
    /// 0: everyone reconnects at once; otherwise the official client's first delay with
    /// randomization 0.5, which spreads reconnects over about this long.
    pub spread: Duration,
    pub cause: Cause,
    /// How long a round may take before the missing clients count as failures.
    pub deadline: Duration,
    /// Progress lines on stderr about every second (for a person at a terminal).
    pub progress: bool,
    /// Worker processes holding the clients; `None`: this process.
    pub workers: Option<Workers>,
    /// Every client's connection shaped by these conditions (`--network`).
    pub network: Option<Conditions>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    /// From the loss (or the restarted server being ready) until every client is ready again.
    pub all_back_ms: f64,
    pub reconnects_per_sec: f64,
    /// Per client, from the reconnect attempt that succeeded to ready.
    pub latency_ms: Percentiles,
    /// For charts: the time from the loss until k % of all clients were back, k = 0 … 100
    /// (shorter when some never came back).
    pub back_curve_ms: Vec<f64>,
    /// For charts: the per-client latencies at 0 %, 1 %, … 100 %.
    pub latency_quantiles_ms: Vec<f64>,
    pub failures: BTreeMap<String, u64>,
    pub not_back: usize,
    /// A few clients that were not back, with the last thing each reported, to tell a
    /// reconnect that never happened from one that never became ready.
    pub not_back_examples: Vec<String>,
    pub server_cpu_us_per_reconnect: Option<f64>,
    pub server_peak_rss_kib: Option<u64>,
    pub harness_cpu_ms: f64,
    pub kernel: NetCounters,
}

#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    pub target: String,
    /// The network conditions every client had (`clean` without `--network`).
    pub network: String,
    pub clients: usize,
    /// Server processes the clients were spread over.
    pub nodes: usize,
    /// Processes the clients ran in.
    pub workers: usize,
    pub spread_ms: u64,
    pub cause: Cause,
    pub connect_all_ms: f64,
    /// Server memory per ready connection, from RSS before and after.
    pub idle_kib_per_connection: Option<f64>,
    pub rounds: Vec<RoundReport>,
}

fn policy(spread: Duration) -> ReconnectPolicy {
    if spread.is_zero() {
        // At once (1 ms), then doubling to 2 s: a failed attempt is not retried in a tight loop.
        // With no delay at all, a local error (the open-files limit) spun at full CPU for minutes.
        ReconnectPolicy {
            delay: Duration::from_millis(1),
            delay_max: Duration::from_secs(2),
            randomization: 0.0,
            ..ReconnectPolicy::default()
        }
    } else {
        // The official client's defaults scaled to `spread`: 1 s, at most 5 s, randomization 0.5.
        ReconnectPolicy {
            delay: spread,
            delay_max: spread * 5,
            randomization: 0.5,
            ..ReconnectPolicy::default()
        }
    }
}

/// Waits until every client reported `Ready` once; returns how long that took.
async fn all_ready(fleet: &mut Fleet, options: &StormOptions) -> Result<Duration, String> {
    let clients = options.clients;
    let started = Instant::now();
    let mut ready = vec![false; clients];
    let mut phase = Phase::new("connecting", clients, options.progress);
    let mut failures = BTreeMap::<String, u64>::new();
    fleet
        .collect(started + options.deadline, |collected| {
            match collected {
                Collected::Report(report) => match &report.milestone {
                    Milestone::Ready if !ready[report.client] => {
                        ready[report.client] = true;
                        phase.back();
                    }
                    Milestone::Failure(message) => {
                        phase.failure(message);
                        *failures.entry(message.clone()).or_default() += 1;
                    }
                    _ => {}
                },
                Collected::Tick => phase.tick(),
            }
            ready.iter().all(|r| *r) || phase.stop_reason().is_some()
        })
        .await;
    if let Some(reason) = phase.stop_reason() {
        return Err(reason);
    }
    let count = ready.iter().filter(|r| **r).count();
    if count == clients {
        Ok(started.elapsed())
    } else {
        Err(format!(
            "only {count} of {clients} clients connected within {:?}; failures: {failures:?}",
            options.deadline
        ))
    }
}

pub async fn run(
    target: &mut RunningTarget,
    name: &str,
    profile: &VirtualClients,
    options: &StormOptions,
) -> Result<StormReport, String> {
    let nodes = target.node_urls().len();
    if options.cause == Cause::Restart && nodes > 1 {
        return Err(format!(
            "--cause restart restarts the one server; on {nodes} nodes use --cause drop"
        ));
    }
    let clients = profile.clients(1..=options.clients)?;
    let before_connect = sample_all(&target.pids());
    let mut fleet = Fleet::launch(
        clients,
        &FleetOptions {
            conversation: std::sync::Arc::new(profile.conversation()?),
            base_urls: target.node_urls(),
            reconnect: policy(options.spread),
            ramp_concurrency: 256,
            network: options.network,
        },
        options.workers.as_ref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let connect_all = all_ready(&mut fleet, options).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = match (before_connect, sample_all(&target.pids())) {
        (Some(before), Some(after)) => {
            Some((after.rss_kib as f64 - before.rss_kib as f64) / options.clients as f64)
        }
        _ => None,
    };
    let mut rounds = Vec::new();
    for number in 1..=options.rounds {
        rounds.push(round(target, &mut fleet, options, number).await?);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    fleet.broadcast(FleetCommand::Close);
    Ok(StormReport {
        target: name.to_owned(),
        network: options.network.unwrap_or_default().to_string(),
        clients: options.clients,
        nodes,
        workers: options.workers.as_ref().map_or(1, |w| w.count.max(1)),
        spread_ms: options.spread.as_millis() as u64,
        cause: options.cause,
        connect_all_ms: connect_all.as_secs_f64() * 1000.0,
        idle_kib_per_connection: idle,
        rounds,
    })
}

async fn round(
    target: &mut RunningTarget,
    fleet: &mut Fleet,
    options: &StormOptions,
    number: usize,
) -> Result<RoundReport, String> {
    let net_before = NetCounters::read();
    let harness_before = sample_self();
    let (t0, server_before) = match options.cause {
        Cause::Drop => {
            let before = sample_all(&target.pids());
            fleet.broadcast(FleetCommand::NetworkLoss);
            (Instant::now(), before)
        }
        Cause::Restart => {
            // The outage starts when the old server goes; clients may be back before the new
            // one's readiness check answers. Its CPU counts from its start, start-up included.
            let t0 = Instant::now();
            target.stop().await.map_err(|e| e.to_string())?;
            target.start().await.map_err(|e| e.to_string())?;
            (t0, target.pid().map(|_| ProcessSample::default()))
        }
    };
    let clients = options.clients;
    let mut attempt_at: Vec<Option<Instant>> = vec![None; clients];
    let mut back_at: Vec<Option<Instant>> = vec![None; clients];
    let mut back = 0;
    let mut failures = BTreeMap::<String, u64>::new();
    let mut last_seen: Vec<Option<(Instant, &'static str)>> = vec![None; clients];
    let mut phase = Phase::new(format!("round {number}"), clients, options.progress);
    fleet
        .collect(t0 + options.deadline, |collected| {
            let report = match collected {
                Collected::Report(report) => report,
                Collected::Tick => {
                    phase.tick();
                    return phase.stop_reason().is_some();
                }
            };
            if let Some(seen) = last_seen.get_mut(report.client) {
                *seen = Some((report.at, report.milestone.name()));
            }
            match &report.milestone {
                // The latest attempt before the client is back is the one that succeeded.
                Milestone::Attempt if back_at[report.client].is_none() => {
                    attempt_at[report.client] = Some(report.at);
                }
                Milestone::Ready if back_at[report.client].is_none() => {
                    back_at[report.client] = Some(report.at);
                    back += 1;
                    phase.back();
                }
                Milestone::Failure(message) => {
                    phase.failure(message);
                    *failures.entry(message.clone()).or_default() += 1;
                }
                Milestone::GaveUp => *failures.entry("gave up".into()).or_default() += 1,
                _ => {}
            }
            back == clients || phase.stop_reason().is_some()
        })
        .await;
    if let Some(reason) = phase.stop_reason() {
        return Err(reason);
    }
    let server_after = sample_all(&target.pids());
    let harness_after = sample_self();
    let all_back = back_at
        .iter()
        .flatten()
        .max()
        .map_or(options.deadline, |last| last.saturating_duration_since(t0));
    let mut latencies: Vec<Duration> = back_at
        .iter()
        .zip(&attempt_at)
        .filter_map(|(back, attempt)| {
            Some(
                back.as_ref()?
                    .saturating_duration_since(attempt.unwrap_or(t0)),
            )
        })
        .collect();
    let cpu_per_reconnect = match (server_before, server_after) {
        (Some(before), Some(after)) if back > 0 => {
            Some((after.cpu.saturating_sub(before.cpu)).as_secs_f64() * 1e6 / back as f64)
        }
        _ => None,
    };
    let mut back_after: Vec<Duration> = back_at
        .iter()
        .flatten()
        .map(|at| at.saturating_duration_since(t0))
        .collect();
    Ok(RoundReport {
        all_back_ms: all_back.as_secs_f64() * 1000.0,
        reconnects_per_sec: back as f64 / all_back.as_secs_f64().max(1e-9),
        latency_ms: Percentiles::of(&mut latencies),
        latency_quantiles_ms: quantiles_ms(&mut latencies),
        back_curve_ms: back_curve(&mut back_after, clients),
        failures,
        not_back: clients - back,
        not_back_examples: back_at
            .iter()
            .enumerate()
            .filter(|(_, back)| back.is_none())
            .take(NOT_BACK_EXAMPLES)
            .map(|(client, _)| match last_seen[client] {
                Some((at, what)) => format!(
                    "client {client}: last {what} at +{} ms",
                    at.saturating_duration_since(t0).as_millis()
                ),
                None => format!("client {client}: nothing since the storm began"),
            })
            .collect(),
        server_cpu_us_per_reconnect: cpu_per_reconnect,
        server_peak_rss_kib: server_after.map(|s| s.peak_rss_kib),
        harness_cpu_ms: match (harness_before, harness_after) {
            (Some(before), Some(after)) => {
                after.cpu.saturating_sub(before.cpu).as_secs_f64() * 1000.0
            }
            _ => 0.0,
        },
        kernel: NetCounters::read().since(net_before),
    })
}

/// The time at which k % of `clients` were back, for each k reached (`back_after` sorted here).
fn back_curve(back_after: &mut [Duration], clients: usize) -> Vec<f64> {
    back_after.sort_unstable();
    (0..=100)
        .map_while(|percent| {
            let needed = (percent * clients).div_ceil(100).max(1);
            back_after
                .get(needed - 1)
                .map(|at| at.as_secs_f64() * 1000.0)
        })
        .collect()
}

/// How many clients that were not back a round names.
const NOT_BACK_EXAMPLES: usize = 5;

/// The storm as a readable table.
pub fn table(report: &StormReport) -> String {
    let mut out = format!(
        "storm: {} clients ({} process{}) on {} ({} node{}), network {}, cause {:?}, spread {} ms; all connected in {:.0} ms; idle memory {}\n",
        report.clients,
        report.workers,
        if report.workers == 1 { "" } else { "es" },
        report.target,
        report.nodes,
        if report.nodes == 1 { "" } else { "s" },
        report.network,
        report.cause,
        report.spread_ms,
        report.connect_all_ms,
        report
            .idle_kib_per_connection
            .map_or("n/a".to_owned(), |k| format!("{k:.1} KiB/connection")),
    );
    out.push_str("round  all back ms  reconn/s   p50 ms   p90 ms   p99 ms   max ms  not back  failures  cpu us/reconn  peak RSS MiB  harness cpu ms  listen ovf  syn retrans\n");
    for (i, r) in report.rounds.iter().enumerate() {
        out.push_str(&format!(
            "{:>5}  {:>11.0}  {:>8.0}  {:>7.1}  {:>7.1}  {:>7.1}  {:>7.1}  {:>8}  {:>8}  {:>13}  {:>12}  {:>14.0}  {:>10}  {:>11}\n",
            i + 1,
            r.all_back_ms,
            r.reconnects_per_sec,
            r.latency_ms.p50,
            r.latency_ms.p90,
            r.latency_ms.p99,
            r.latency_ms.max,
            r.not_back,
            r.failures.values().sum::<u64>(),
            r.server_cpu_us_per_reconnect.map_or("n/a".into(), |c| format!("{c:.0}")),
            r.server_peak_rss_kib.map_or("n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            r.harness_cpu_ms,
            r.kernel.listen_overflows,
            r.kernel.syn_retransmits,
        ));
    }
    for (i, r) in report
        .rounds
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.failures.is_empty())
    {
        out.push_str(&format!("round {} failures: {:?}\n", i + 1, r.failures));
    }
    for (i, r) in report
        .rounds
        .iter()
        .enumerate()
        .filter(|(_, r)| r.not_back > 0)
    {
        out.push_str(&format!(
            "round {} not back: {}\n",
            i + 1,
            r.not_back_examples.join("; ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_curve_stops_where_clients_stopped_coming_back() {
        let mut back: Vec<Duration> = (1..=3).rev().map(Duration::from_millis).collect();
        let curve = back_curve(&mut back, 4);
        // 4 clients: 1 % .. 25 % need one back (1 ms), .. 75 % three (3 ms); 76 % needs a fourth.
        assert_eq!(curve.len(), 76);
        assert_eq!(
            (curve[0], curve[25], curve[26], curve[75]),
            (1.0, 1.0, 2.0, 3.0)
        );
    }

    #[test]
    fn an_all_at_once_storm_reconnects_at_once_then_backs_off() {
        let at_once = policy(Duration::ZERO);
        let waits: Vec<u64> = [0, 1, 5, 10, 11, 30]
            .into_iter()
            .map(|attempt| at_once.delay_for(attempt, 0.5).as_millis() as u64)
            .collect();
        assert_eq!(waits, [1, 2, 32, 1024, 2000, 2000]);
    }
}
