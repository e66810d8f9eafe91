//! `storm`: N ready clients lose their connection at once (or the server restarts) and
//! come back, round after round; exit 1 if any client is not back by the deadline.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use sio_harness::load::storm::{self, Cause, StormOptions};

use super::load::LoadArgs;
use super::{CliError, verdict};

#[derive(Args)]
pub struct StormArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// 0: all reconnect at once; otherwise spread by the official client's jitter over about this long.
    #[arg(long, default_value_t = 0)]
    spread_ms: u64,
    #[arg(long, value_enum, default_value_t = Cause::Drop)]
    cause: Cause,
}

pub async fn run(args: StormArgs) -> Result<ExitCode, CliError> {
    let load = &args.load;
    let (target, mut running, profile) = load.start("storm", load.clients).await?;
    let options = StormOptions {
        clients: load.clients,
        rounds: args.rounds,
        spread: Duration::from_millis(args.spread_ms),
        cause: args.cause,
        deadline: Duration::from_secs(load.deadline_s),
        progress: load.progress(),
        workers: load.workers()?,
        network: load.network,
    };
    let result = storm::run(&mut running, target.name(), &profile, &options).await;
    running.shutdown().await;
    let report = result.map_err(CliError::Target)?;
    load.print(&report, storm::table(&report));
    Ok(verdict(report.rounds.iter().any(|r| r.not_back > 0)))
}
