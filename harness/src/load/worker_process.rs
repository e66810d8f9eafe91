//! The `load-worker` process's side of [`super::workers`]: reads its [`Plan`] from stdin, runs
//! its share of the clients as an in-process [`Fleet`], writes each report as one JSON line on
//! stdout, broadcasts the commands it reads, and ends when its stdin closes.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};

use super::fleet::Fleet;
use super::reports::{FleetCommand, FleetOptions};
use super::workers::{Plan, WireReport, unix_us_of};
use crate::client::ReconnectPolicy;

/// The worker's side: reads its plan, runs its share, reports, obeys commands, and ends when its
/// stdin closes.
pub async fn serve() -> Result<(), String> {
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    let line = input
        .next_line()
        .await
        .map_err(|e| format!("reading the plan: {e}"))?
        .ok_or("no plan on stdin")?;
    let plan: Plan = serde_json::from_str(&line).map_err(|e| format!("bad plan: {e}"))?;
    // Through a shaping proxy, a client is three descriptors here: its own and the proxy's two.
    let per_client = if plan.network.is_some() { 3 } else { 1 };
    super::descriptors::ensure(plan.clients.len() as u64 * per_client)
        .map_err(|e| e.to_string())?;
    // Rotated so that this worker's client i meets the node its global number picks.
    let mut base_urls = plan.base_urls.clone();
    if !base_urls.is_empty() {
        let shift = plan.first_client % base_urls.len();
        base_urls.rotate_left(shift);
    }
    let options = FleetOptions {
        conversation: std::sync::Arc::new(plan.conversation),
        base_urls,
        reconnect: ReconnectPolicy::from(&plan.reconnect),
        ramp_concurrency: plan.ramp_concurrency,
        network: plan.network,
    };
    let mut fleet = Fleet::launch(plan.clients, &options, None)
        .await
        .map_err(|e| e.to_string())?;
    let mut output = BufWriter::new(tokio::io::stdout());
    loop {
        tokio::select! {
            report = fleet.next_report() => {
                let Some(report) = report else { break };
                let wire = WireReport {
                    client: report.client,
                    unix_us: unix_us_of(report.at),
                    milestone: report.milestone,
                };
                let Ok(mut line) = serde_json::to_string(&wire) else { continue };
                line.push('\n');
                if output.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                // Flushed when nothing else is waiting, so a burst goes out in few writes.
                if fleet.reports_waiting() == 0 && output.flush().await.is_err() {
                    break;
                }
            }
            line = input.next_line() => match line {
                Ok(Some(line)) => {
                    if let Ok(command) = serde_json::from_str::<FleetCommand>(&line) {
                        fleet.broadcast(command);
                    }
                }
                _ => {
                    fleet.broadcast(FleetCommand::Close);
                    break;
                }
            },
        }
    }
    let _ = output.flush().await;
    Ok(())
}
