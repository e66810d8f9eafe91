//! The command line: [`Command`] names every subcommand, and [`run`] hands each to the file that
//! runs it (one a subcommand, in the order of `--help`). Failures that stop a command early are
//! a [`CliError`], printed once here with its exit code.
//!
//! Exit codes: 0 all passed; 1 an expectation failed or a transcript differs; 2 usage error;
//! 3 a scenario file has an error; 4 a target could not be started or reached.

mod check;
mod churn;
mod completions;
mod diff;
mod error;
mod exhaust;
mod fanout;
mod fuzz;
mod init;
mod load;
mod man;
mod record;
mod run;
mod schema;
mod storm;
mod suite_args;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sio_harness::report;
use sio_harness::suite::Outcome;

pub use error::CliError;
use error::{EXIT_FAILED, EXIT_TARGET_ERROR};

#[derive(Parser)]
#[command(
    name = "sio-harness",
    version,
    about = "Socket.IO v4 protocol harness: scenarios, transcripts, snapshots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against a target and compare transcripts with snapshots.
    Run(run::RunArgs),
    /// Run the same scenarios against two targets and show where their transcripts differ.
    Diff(diff::DiffArgs),
    /// Parse and validate scenario files without a server.
    Check(check::CheckArgs),
    /// Reconnect storm: N subscribed clients lose their connection at once and come back.
    Storm(storm::StormArgs),
    /// Fan-out: one event to N subscribers, repeated.
    Fanout(fanout::FanoutArgs),
    /// Churn: short connections opened at a steady rate and closed, the server's memory followed.
    Churn(churn::ChurnArgs),
    /// Exhaustion: connections that never become users (silent TCP, WebSocket sessions that never
    /// connect a namespace, polling sessions never polled, slowloris request heads), then idle
    /// authenticated sockets (`--clients`), one kind at a time, each held while a control client
    /// is timed; exit 1 if the server exits or the control client is refused.
    Exhaust(exhaust::ExhaustArgs),
    /// Protocol fuzzing: seeded valid and mutated frames over many short connections, with a
    /// control client timed throughout; exit 1 (and a reproducer) if the server exits, panics or
    /// stops answering. With two targets, differential fuzzing instead: generated event sequences
    /// run on both, and a difference is shrunk and saved as a scenario (exit 1).
    Fuzz(fuzz::FuzzArgs),
    /// Record live traffic into a scenario: a proxy that clients connect through; Ctrl-C (or
    /// --duration) writes the file, then replays it once to write its snapshot.
    Record(record::RecordArgs),
    /// Print the SQL that creates the load mode's users `load-1` … `load-N` (for a server you run).
    LoadUsers { count: usize },
    /// Internal: one worker process of a load run (a plan on stdin, reports on stdout).
    #[command(hide = true)]
    LoadWorker,
    /// Write a starter scenarios folder (targets, an example scenario, a README); never
    /// overwrites a file.
    Init(init::InitArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
    /// Write the manual pages (one per subcommand) into a folder.
    Man(man::ManArgs),
    /// Print the JSON Schema of scenario files or targets files (for editors and validators).
    Schema(schema::SchemaArgs),
}

/// Parses the command line, runs the subcommand, and prints why it stopped, if it did.
pub async fn main() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{error}");
            error.exit_code()
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Run(args) => run::run(&args).await,
        Command::Diff(args) => diff::run(&args).await,
        Command::Check(args) => check::run(&args),
        Command::Storm(args) => on_worker(storm::run(args)).await,
        Command::Fanout(args) => on_worker(fanout::run(args)).await,
        Command::Churn(args) => on_worker(churn::run(args)).await,
        Command::Exhaust(args) => on_worker(exhaust::run(args)).await,
        Command::Fuzz(args) => fuzz::run(args).await,
        Command::Record(args) => record::run(args).await,
        Command::LoadUsers { count } => Ok(load::print_users(count)),
        Command::LoadWorker => load::serve_worker().await,
        Command::Init(args) => init::run(&args),
        Command::Completions(args) => Ok(completions::run(&args)),
        Command::Man(args) => man::run(&args),
        Command::Schema(args) => Ok(schema::run(&args)),
    }
}

/// Runs a load command on a worker thread rather than on the thread `block_on` parks: every
/// delivery is reported to the command's task, and waking a parked thread costs a futex call.
async fn on_worker(
    command: impl Future<Output = Result<ExitCode, CliError>> + Send + 'static,
) -> Result<ExitCode, CliError> {
    tokio::spawn(command)
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?
}

/// 4 if a target failed, else 0 when every scenario passed and 1 when one did not.
fn exit_code<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> ExitCode {
    let outcomes: Vec<&Outcome> = outcomes.collect();
    if outcomes
        .iter()
        .any(|o| matches!(o, Outcome::TargetFailed(_)))
    {
        ExitCode::from(EXIT_TARGET_ERROR)
    } else if outcomes.iter().all(|o| o.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// 1 when a load, fuzz or exhaust run lost anything (or failed), else 0.
fn verdict(lost_anything: bool) -> ExitCode {
    if lost_anything {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn write_report(path: &PathBuf, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))
}

fn write_html(dir: &Path, page: &str) -> Result<(), CliError> {
    let path = report::html::write(dir, page).map_err(|e| {
        CliError::Failed(format!(
            "cannot write the HTML report in {}: {e}",
            dir.display()
        ))
    })?;
    println!("HTML report: {}", path.display());
    Ok(())
}

/// `name=value`, for `--var`.
fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not name=value"))
}

/// Prints `report` as JSON, or `table` for a person.
fn print_report<T: serde::Serialize>(json: bool, report: &T, table: String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print!("{table}");
    }
}
