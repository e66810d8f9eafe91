//! `check`: parses and validates scenario files without a server, then refuses what the file
//! alone shows would fail at run time (undefined variables, unknown matchers, namespaces a
//! client never connected: [`sio_harness::lint`]); every error is printed, and any error makes
//! the exit code 3.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sio_harness::suite;

use super::error::EXIT_SCENARIO_ERROR;
use super::{CliError, parse_var};

#[derive(Args)]
pub struct CheckArgs {
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// A variable `run` will be given with `--var name=value` (only its name counts here).
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

pub fn run(args: &CheckArgs) -> Result<ExitCode, CliError> {
    let files = suite::discover(&args.paths).map_err(|e| CliError::Scenarios(e.to_string()))?;
    let vars: BTreeSet<String> = args.vars.iter().map(|(name, _)| name.clone()).collect();
    let mut failed = false;
    for file in &files {
        match sio_harness::scenario::load_file(file) {
            Ok(parsed) => {
                let errors = sio_harness::lint::check_file(&parsed, &vars);
                for error in &errors {
                    eprintln!("{error}\n");
                }
                if errors.is_empty() {
                    println!(
                        "ok  {} ({} scenarios)",
                        file.display(),
                        parsed.scenarios.len()
                    );
                } else {
                    failed = true;
                }
            }
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
