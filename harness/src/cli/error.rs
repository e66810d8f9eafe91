//! The command line's one error type: why a command stopped early, the message printed on
//! stderr, and the exit code it maps to. A run that finishes reports its verdict as an exit
//! code instead (1 when an expectation failed, 4 when a target failed), without a message.

use std::process::ExitCode;

/// An expectation failed, a transcript differs, or the run could not finish.
pub const EXIT_FAILED: u8 = 1;
/// The command line asks for something impossible.
pub const EXIT_USAGE: u8 = 2;
/// A scenario file has an error.
pub const EXIT_SCENARIO_ERROR: u8 = 3;
/// A target could not be started or reached.
pub const EXIT_TARGET_ERROR: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Exit 2.
    #[error("error: {0}")]
    Usage(String),
    /// Exit 2: `record` wrote a file naming secrets, and `--var` did not give them.
    #[error("no snapshot written: give the secrets above with --var")]
    MissingSecrets,
    /// Exit 3: no scenario files, or a folder that cannot be read.
    #[error("error: {0}")]
    Scenarios(String),
    /// Exit 3: the parser's message as it is (it names the file, line and column).
    #[error("{0}")]
    ScenarioFile(String),
    /// Exit 4.
    #[error("error: {0}")]
    Target(String),
    /// Exit 1: a report that cannot be written, a recording that cannot be saved.
    #[error("error: {0}")]
    Failed(String),
    /// Exit 1: Ctrl-C during `record`'s replay.
    #[error("interrupted: {0} is written, its snapshot is not")]
    Interrupted(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Failed(_) | CliError::Interrupted(_) => EXIT_FAILED,
            CliError::Usage(_) | CliError::MissingSecrets => EXIT_USAGE,
            CliError::Scenarios(_) | CliError::ScenarioFile(_) => EXIT_SCENARIO_ERROR,
            CliError::Target(_) => EXIT_TARGET_ERROR,
        })
    }
}
