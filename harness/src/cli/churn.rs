//! `churn`: short connections opened at a steady rate and closed, the server's memory followed
//! during and after; exit 1 if any connection failed.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use sio_harness::load::churn::{self, ChurnMode, ChurnOptions};

use super::load::LoadArgs;
use super::{CliError, verdict};

#[derive(Args)]
pub struct ChurnArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Connections started per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// How long connections keep being started, in seconds.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// How long memory keeps being sampled afterwards, in seconds.
    #[arg(long, default_value_t = 15)]
    idle_s: u64,
    #[arg(long, value_enum, default_value_t = ChurnMode::Clean)]
    mode: ChurnMode,
    /// Milliseconds each connection stays after its `status:current` (a soak: rate x hold
    /// clients connected at once).
    #[arg(long, default_value_t = 0)]
    hold_ms: u64,
    /// Seconds between samples of the server.
    #[arg(long, default_value_t = 1.0)]
    sample_s: f64,
}

pub async fn run(args: ChurnArgs) -> Result<ExitCode, CliError> {
    let load = &args.load;
    if load.network.is_some() {
        return Err(CliError::Usage(
            "--network shapes `storm` and `fanout`, not churn".into(),
        ));
    }
    let options = ChurnOptions {
        rate: args.rate,
        duration: Duration::from_secs(args.duration_s),
        mode: args.mode,
        users: load.clients,
        idle: Duration::from_secs(args.idle_s),
        hold: Duration::from_millis(args.hold_ms),
        sample_every: Duration::from_secs_f64(args.sample_s.max(0.1)),
    };
    let (target, running) = load.start("churn", churn::MAX_IN_FLIGHT).await?;
    let result = churn::run(&running, target.name(), &options).await;
    running.shutdown().await;
    let report = result.map_err(CliError::Target)?;
    load.print(&report, churn::table(&report));
    Ok(verdict(!report.failures.is_empty()))
}
