//! `exhaust`: connections that never become users, then idle ones, one kind a phase, each held
//! while the control client is timed; exit 1 if the server exits or the control client fails.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use sio_harness::exhaust::{self, Attack, ExhaustOptions};

use super::fuzz::FUZZ_USERS;
use super::load::LoadArgs;
use super::{CliError, verdict};

#[derive(Args)]
pub struct ExhaustArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Silent TCP connections.
    #[arg(long, default_value_t = 5000)]
    tcp: usize,
    /// WebSocket upgrades whose Engine.IO session never sends the Socket.IO connect.
    #[arg(long, default_value_t = 5000)]
    websocket: usize,
    /// Polling handshakes never polled again.
    #[arg(long, default_value_t = 5000)]
    polling: usize,
    /// Request heads sent one byte a second.
    #[arg(long, default_value_t = 1000)]
    slowloris: usize,
    /// Seconds each phase holds its connections.
    #[arg(long, default_value_t = 30)]
    hold_s: u64,
    /// Seconds of the control client alone, first.
    #[arg(long, default_value_t = 10)]
    quiet_s: u64,
}

pub async fn run(args: ExhaustArgs) -> Result<ExitCode, CliError> {
    let load = &args.load;
    let phases = vec![
        (Attack::Tcp, args.tcp),
        (Attack::Websocket, args.websocket),
        (Attack::Polling, args.polling),
        (Attack::Slowloris, args.slowloris),
        (Attack::Idle, load.clients),
    ];
    let options = ExhaustOptions {
        phases: phases.into_iter().filter(|(_, n)| *n > 0).collect(),
        hold: Duration::from_secs(args.hold_s),
        quiet: Duration::from_secs(args.quiet_s),
        users: load.clients.min(FUZZ_USERS),
    };
    // Phases run one after another, so the largest one sets the descriptor budget.
    let largest = options.phases.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let (target, mut running, profile) = load.start("exhaust", largest + 16).await?;
    let result = exhaust::run(&mut running, target.name(), &profile, &options).await;
    running.shutdown().await;
    let report = result.map_err(CliError::Target)?;
    load.print(&report, exhaust::table(&report));
    Ok(verdict(!report.passed()))
}
