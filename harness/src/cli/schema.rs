//! `schema KIND`: the JSON Schema of a scenario file, a targets file or a load profile, printed
//! on stdout.

use std::process::ExitCode;

use clap::Args;
use sio_harness::schema::SchemaKind;

#[derive(Args)]
pub struct SchemaArgs {
    /// scenario or targets.
    kind: SchemaKind,
}

pub fn run(args: &SchemaArgs) -> ExitCode {
    print!("{}", args.kind.generate());
    ExitCode::SUCCESS
}
