//! `fanout`: one event to N subscribers, repeated; exit 1 if any delivery is lost.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use sio_harness::load::fanout::{self, FanoutOptions};

use super::load::LoadArgs;
use super::{CliError, verdict};

#[derive(Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Pause between one message reaching every subscriber and the next message.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
}

pub async fn run(args: FanoutArgs) -> Result<ExitCode, CliError> {
    let load = &args.load;
    let (target, mut running, profile) = load.start("fanout", load.clients).await?;
    let options = FanoutOptions {
        clients: load.clients,
        messages: args.messages,
        interval: Duration::from_millis(args.interval_ms),
        deadline: Duration::from_secs(load.deadline_s),
        workers: load.workers()?,
        network: load.network,
    };
    let result = fanout::run(&mut running, target.name(), &profile, &options).await;
    running.shutdown().await;
    let report = result.map_err(CliError::Target)?;
    load.print(&report, fanout::table(&report));
    Ok(verdict(report.lost > 0))
}
