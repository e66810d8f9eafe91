//! `run`: the scenarios against one target, transcripts compared with snapshots (or, with
//! `--repeat`, with each other), the results printed and written as JUnit, JSON and HTML.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sio_harness::report;
use sio_harness::snapshot::UpdateMode;
use sio_harness::suite::{self, SuiteOptions};

use super::suite_args::Common;
use super::{CliError, exit_code, write_html, write_report};

#[derive(Args)]
pub struct RunArgs {
    /// A URL (http://host:port) or a name in the targets file.
    #[arg(long)]
    target: String,
    #[command(flatten)]
    common: Common,
    /// Snapshot directory.
    #[arg(long, default_value = "snapshots")]
    snapshots: PathBuf,
    /// Overwrite snapshots with this run's transcripts.
    #[arg(long)]
    update: bool,
    #[arg(long)]
    report_junit: Option<PathBuf>,
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// Write an HTML page of the run (results, timelines, snapshot diffs) as DIR/index.html.
    #[arg(long, value_name = "DIR")]
    report_html: Option<PathBuf>,
}

pub async fn run(args: &RunArgs) -> Result<ExitCode, CliError> {
    let common = &args.common;
    let files = common.load()?;
    let target = common.target(&args.target)?;
    if args.update && common.repeat > 1 {
        return Err(CliError::Usage(
            "--update and --repeat do not go together: repeated runs write no snapshot".into(),
        ));
    }
    let options = SuiteOptions {
        snapshots: (common.repeat == 1)
            .then(|| (args.snapshots.clone(), UpdateMode::from_env(args.update))),
        ..common.options()
    };
    let results = suite::run(&files, &target, &options).await;
    print!("{}", report::terminal(&results));
    if let Some(path) = &args.report_junit {
        write_report(path, &report::junit(&results))?;
    }
    if let Some(path) = &args.report_json {
        write_report(path, &format!("{:#}\n", report::json(&results)))?;
    }
    if let Some(dir) = &args.report_html {
        write_html(dir, &report::html::run_page(target.name(), &results))?;
    }
    Ok(exit_code(results.iter().map(|r| &r.outcome)))
}
