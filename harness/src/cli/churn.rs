//! `churn`: short connections of the profile's client, arriving in phases (or at `--rate`), and
//! closed; the server's memory followed during and after; exit 1 if any connection failed.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use sio_harness::load::churn::{self, ChurnMode, ChurnOptions};
use sio_harness::scenario::Millis;
use sio_harness::scenario::profile::ArrivalPhase;

use super::load::LoadArgs;
use super::{CliError, verdict};

#[derive(Args)]
pub struct ChurnArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Connections started per second, held for `--duration-s`, instead of the profile's
    /// `churn.phases` (default without either: 500 for 60 s).
    #[arg(long)]
    rate: Option<u32>,
    /// How long connections keep being started at `--rate`, in seconds.
    #[arg(long)]
    duration_s: Option<u64>,
    /// How long memory keeps being sampled afterwards, in seconds.
    #[arg(long, default_value_t = 15)]
    idle_s: u64,
    /// How each connection ends; default: the profile's `churn.end`, else clean.
    #[arg(long, value_enum)]
    mode: Option<ChurnMode>,
    /// Milliseconds each connection stays once ready (a soak: rate x hold clients connected at
    /// once); default: the profile's `churn.hold`, else 0.
    #[arg(long)]
    hold_ms: Option<u64>,
    /// Seconds between samples of the server.
    #[arg(long, default_value_t = 1.0)]
    sample_s: f64,
}

/// Without `--rate` and `--duration-s` or the profile's phases.
const DEFAULT_RATE: u32 = 500;
const DEFAULT_DURATION_S: u64 = 60;

pub async fn run(args: ChurnArgs) -> Result<ExitCode, CliError> {
    let load = &args.load;
    if load.network.is_some() {
        return Err(CliError::Usage(
            "--network shapes `storm` and `fanout`, not churn".into(),
        ));
    }
    let (target, running, profile) = load.start("churn", churn::MAX_IN_FLIGHT).await?;
    let spec = profile.profile.churn.clone().unwrap_or_default();
    let phases = if args.rate.is_some() || args.duration_s.is_some() || spec.phases.is_empty() {
        vec![ArrivalPhase {
            duration: Millis(Duration::from_secs(
                args.duration_s.unwrap_or(DEFAULT_DURATION_S),
            )),
            rate: f64::from(args.rate.unwrap_or(DEFAULT_RATE)),
            ramp_to: None,
        }]
    } else {
        spec.phases.iter().map(|phase| phase.value).collect()
    };
    let options = ChurnOptions {
        phases,
        mode: args.mode.or(spec.end).unwrap_or_default(),
        users: load.clients,
        idle: Duration::from_secs(args.idle_s),
        hold: args
            .hold_ms
            .map(Duration::from_millis)
            .or(spec.hold.map(|h| h.0))
            .unwrap_or_default(),
        sample_every: Duration::from_secs_f64(args.sample_s.max(0.1)),
    };
    let result = churn::run(&running, target.name(), &profile, &options).await;
    running.shutdown().await;
    let report = result.map_err(CliError::Target)?;
    load.print(&report, churn::table(&report));
    Ok(verdict(!report.failures.is_empty()))
}
