//! `diff`: the same scenarios against two targets, each scenario's transcripts compared and
//! their differences printed (and, with `--report-html`, shown side by side).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sio_harness::{report, snapshot, suite};

use super::error::EXIT_FAILED;
use super::suite_args::Common;
use super::{CliError, write_html};

#[derive(Args)]
pub struct DiffArgs {
    /// Exactly two targets.
    #[arg(long = "target", num_args = 1, required = true)]
    targets: Vec<String>,
    #[command(flatten)]
    common: Common,
    /// Write an HTML page with both transcripts side by side as DIR/index.html.
    #[arg(long, value_name = "DIR")]
    report_html: Option<PathBuf>,
}

pub async fn run(args: &DiffArgs) -> Result<ExitCode, CliError> {
    let [left, right] = args.targets.as_slice() else {
        return Err(CliError::Usage("diff takes exactly two --target".into()));
    };
    let common = &args.common;
    let files = common.load()?;
    let (left, right) = (common.target(left)?, common.target(right)?);
    let options = common.options();
    let left_results = suite::run(&files, &left, &options).await;
    let right_results = suite::run(&files, &right, &options).await;
    let mut differing = 0;
    let mut broken = false;
    for (l, r) in left_results.iter().zip(&right_results) {
        let failed: Vec<_> = [l, r].into_iter().filter(|x| !x.outcome.passed()).collect();
        if !failed.is_empty() {
            broken = true;
            for result in failed {
                print!(
                    "{}",
                    report::terminal(std::slice::from_ref(result))
                        .lines()
                        .take_while(|l| !l.ends_with(" failed"))
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                );
            }
            continue;
        }
        if l.transcript == r.transcript {
            println!("   same  {} :: {}", l.file, l.scenario);
        } else {
            differing += 1;
            println!("DIFFERS  {} :: {}", l.file, l.scenario);
            for line in
                snapshot::diff(&l.transcript, &r.transcript, left.name(), right.name()).lines()
            {
                println!("         {line}");
            }
        }
    }
    println!("{} scenarios, {differing} differ", left_results.len());
    if let Some(dir) = &args.report_html {
        let pairs: Vec<_> = left_results.iter().zip(&right_results).collect();
        write_html(
            dir,
            &report::html::diff_page(left.name(), right.name(), &pairs),
        )?;
    }
    Ok(if broken || differing > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
