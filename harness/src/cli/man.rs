//! `man OUTDIR`: the manual pages, one per subcommand (`sio-harness.1`, `sio-harness-run.1`,
//! …), written from the command line's own definition (clap_mangen), for a packager to install
//! into `share/man/man1`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};

use super::{Cli, CliError};

#[derive(Args)]
pub struct ManArgs {
    /// The folder the pages are written into (created if needed; pages there are replaced).
    out_dir: PathBuf,
}

pub fn run(args: &ManArgs) -> Result<ExitCode, CliError> {
    let failed = |e: std::io::Error| {
        CliError::Failed(format!(
            "cannot write the man pages in {}: {e}",
            args.out_dir.display()
        ))
    };
    std::fs::create_dir_all(&args.out_dir).map_err(failed)?;
    clap_mangen::generate_to(Cli::command(), &args.out_dir).map_err(failed)?;
    println!("man pages written in {}", args.out_dir.display());
    Ok(ExitCode::SUCCESS)
}
