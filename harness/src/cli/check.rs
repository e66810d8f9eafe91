//! `check`: parses and validates scenario files without a server; every file's error is
//! printed, and any error makes the exit code 3.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sio_harness::suite;

use super::CliError;
use super::error::EXIT_SCENARIO_ERROR;

#[derive(Args)]
pub struct CheckArgs {
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
}

pub fn run(args: &CheckArgs) -> Result<ExitCode, CliError> {
    let files = suite::discover(&args.paths).map_err(|e| CliError::Scenarios(e.to_string()))?;
    let mut failed = false;
    for file in &files {
        match sio_harness::scenario::load_file(file) {
            Ok(parsed) => println!(
                "ok  {} ({} scenarios)",
                file.display(),
                parsed.scenarios.len()
            ),
            Err(error) => {
                failed = true;
                eprintln!("{error}\n");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(EXIT_SCENARIO_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}
