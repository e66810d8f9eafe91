//! `fuzz`: one subcommand, two fuzzers, chosen by how many `--target`s are given (see
//! [`FuzzMode`]): one target is protocol fuzzing (seeded frames, a control client, the server's
//! health), two are differential fuzzing (event sequences on both, differences shrunk).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use sio_harness::fuzz::differential::known::KnownDifferences;
use sio_harness::fuzz::differential::{self, DifferentialOptions};
use sio_harness::fuzz::{self, FuzzOptions};
use sio_harness::runner::RunSettings;
use sio_harness::target::Target;

use super::load::{profile_for, start_with_profile};
use super::{CliError, on_worker, print_report, verdict};

/// Virtual clients of the profile a launched fuzz target's connections sign in as.
pub const FUZZ_USERS: usize = 200;

#[derive(Args)]
pub struct FuzzArgs {
    /// A URL (fuzz connections are the profile's client 1, the control client its `control`)
    /// or a name in the targets file; twice (e.g. `--target node --target rust`) for
    /// differential fuzzing.
    #[arg(long = "target", num_args = 1, required = true)]
    targets: Vec<String>,
    /// Protocol fuzzing: the load profile whose client the fuzz connections sign in as and
    /// whose `control` flow is timed (harness/README.md, "Load profiles").
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Differential: event sequences to generate.
    #[arg(long, default_value_t = 300)]
    sequences: u64,
    /// Differential: sequences run on one launch of each server.
    #[arg(long, default_value_t = 50)]
    per_launch: usize,
    /// Differential: declared (documented) differences, counted as known instead of failing.
    #[arg(long)]
    known: Option<PathBuf>,
    #[arg(long, default_value = "scenarios/targets.yaml")]
    targets_file: PathBuf,
    /// Seed of the frame sequence; the same seed sends the same frames (default: random,
    /// printed in the report).
    #[arg(long)]
    seed: Option<u64>,
    /// Engine.IO packets to generate.
    #[arg(long, default_value_t = 100_000)]
    frames: u64,
    /// Connections in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds the server idles after the last frame before its memory is read again.
    #[arg(long, default_value_t = 10)]
    settle_s: u64,
    /// The server's largest packet in bytes (payloads are generated just under and over it).
    #[arg(long, default_value_t = sio_harness::fuzz::generate::DEFAULT_MAX_PAYLOAD)]
    max_payload: usize,
    /// Print case N of the seed as a `raw` scenario and exit, without a server.
    #[arg(long)]
    show_case: Option<u64>,
    /// Where a failing run writes its reproducer scenario.
    #[arg(long = "save", default_value = "fuzz-failures")]
    save_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// JWT secret of a URL target (else JWT_SECRET).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
}

/// Which fuzzer `fuzz` runs. The number of `--target`s decides, here and nowhere else: the
/// command line predates differential fuzzing, which joined `fuzz` rather than getting a
/// subcommand of its own, so `--sequences`, `--per-launch` and `--known` only apply to two
/// targets, and `--frames`, `--concurrency`, `--show-case` and the rest only to one.
enum FuzzMode {
    /// One target: seeded frames against it, a control client timed throughout.
    Protocol(String),
    /// Two targets: generated event sequences on both, transcripts compared.
    Differential([String; 2]),
}

impl FuzzArgs {
    fn mode(&self) -> Result<FuzzMode, CliError> {
        match self.targets.as_slice() {
            [one] => Ok(FuzzMode::Protocol(one.clone())),
            [left, right] => Ok(FuzzMode::Differential([left.clone(), right.clone()])),
            _ => Err(CliError::Usage(
                "fuzz takes one --target (protocol) or two (differential)".into(),
            )),
        }
    }

    fn resolve(&self, name: &str) -> Result<Target, CliError> {
        Target::resolve(name, &self.targets_file, self.jwt_secret.clone())
            .map_err(|e| CliError::Target(e.to_string()))
    }
}

pub async fn run(args: FuzzArgs) -> Result<ExitCode, CliError> {
    let seed = args.seed.unwrap_or_else(rand::random);
    match args.mode()? {
        // Not on a worker thread: the runner's futures are not `Send` for every lifetime, which
        // `tokio::spawn` requires; a handful of clients needs none.
        FuzzMode::Differential(targets) => differential(&args, seed, &targets).await,
        FuzzMode::Protocol(target) => match args.show_case {
            Some(index) => show_case(&args, seed, &target, index),
            None => on_worker(protocol(args, seed, target)).await,
        },
    }
}

/// `--show-case N`: the case as a `raw` scenario, without a server.
fn show_case(args: &FuzzArgs, seed: u64, target: &str, index: u64) -> Result<ExitCode, CliError> {
    let case = fuzz::generate::Generator::new(seed, args.frames, args.max_payload, 1)
        .find(|case| case.index == index)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "seed {seed} has no case {index} within {} frames",
                args.frames
            ))
        })?;
    let profile = args
        .profile
        .as_deref()
        .map(|path| profile_for("fuzz", Some(path)))
        .transpose()?;
    let failure = fuzz::reproducer::Failure {
        target,
        seed,
        reason: "shown with --show-case",
        profile: profile.as_ref().map(|p| &p.profile),
    };
    let text = fuzz::reproducer::scenario(&failure, &[case])
        .map_err(|error| CliError::Failed(error.to_string()))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn protocol(args: FuzzArgs, seed: u64, target: String) -> Result<ExitCode, CliError> {
    let profile = profile_for("fuzz", args.profile.as_deref())?;
    let target = args.resolve(&target)?;
    let launched = matches!(target, Target::Launch { .. });
    let options = FuzzOptions {
        seed,
        frames: args.frames,
        concurrency: args.concurrency,
        settle: Duration::from_secs(args.settle_s),
        save_dir: args.save_dir,
        max_payload: args.max_payload,
        // A launched server gets the profile's users for many clients, so the rate limit spreads
        // the fuzz over many allowances; a URL target may have its client 1 only.
        clients: if launched { FUZZ_USERS } else { 1 },
    };
    // Cases in flight plus the control client, one descriptor each, and the usual margin.
    let (mut running, profile) = start_with_profile(
        "fuzz",
        &target,
        options.concurrency + 16,
        profile,
        options.clients,
    )
    .await?;
    let result = fuzz::run(&mut running, target.name(), &profile, &options).await;
    running.shutdown().await;
    let report = result.map_err(|e| CliError::Target(e.to_string()))?;
    print_report(args.json, &report, fuzz::table(&report));
    Ok(verdict(!report.passed()))
}

async fn differential(
    args: &FuzzArgs,
    seed: u64,
    [left, right]: &[String; 2],
) -> Result<ExitCode, CliError> {
    let (left, right) = (args.resolve(left)?, args.resolve(right)?);
    let known = match &args.known {
        Some(path) => KnownDifferences::load(path).map_err(|e| CliError::Usage(e.to_string()))?,
        None => KnownDifferences::default(),
    };
    let options = DifferentialOptions {
        seed,
        sequences: args.sequences,
        per_launch: args.per_launch,
        save_dir: args.save_dir.clone(),
        known,
        settings: RunSettings::default(),
        shrink_tries: 150,
    };
    let report = differential::run([&left, &right], &options)
        .await
        .map_err(|e| CliError::Target(e.to_string()))?;
    print_report(args.json, &report, differential::table(&report));
    Ok(verdict(!report.passed()))
}
