//! `init`: writes a starter scenarios folder for someone else's server, and says what to run
//! next.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::CliError;

#[derive(Args)]
pub struct InitArgs {
    #[arg(default_value = "scenarios")]
    dir: PathBuf,
}

pub fn run(args: &InitArgs) -> Result<ExitCode, CliError> {
    let dir = &args.dir;
    let written = sio_harness::init::write(dir).map_err(|e| CliError::Usage(e.to_string()))?;
    for path in written {
        println!("wrote {}", path.display());
    }
    println!(
        "next: start your server on port 3000, then\n  sio-harness run --target local --targets-file {0}/targets.yaml --snapshots {0}/snapshots --update {0}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
