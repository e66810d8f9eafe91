//! The options `run` and `diff` share: which scenarios, which targets file, variables,
//! timeouts, `--jobs`, `--repeat`, and the secret and reset hook of a URL target.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use sio_harness::hooks::Hook;
use sio_harness::runner::RunSettings;
use sio_harness::scenario::ScenarioFile;
use sio_harness::suite::{self, SuiteOptions};
use sio_harness::target::Target;

use super::{CliError, parse_var};

#[derive(Args)]
pub struct Common {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// Named launch specs.
    #[arg(long, default_value = "scenarios/targets.yaml")]
    targets_file: PathBuf,
    /// Only scenarios whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// A variable for every scenario: `--var name=value`.
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Multiply every timeout by this (slow machines).
    #[arg(long, default_value_t = 1.0)]
    timeout_scale: f64,
    /// Scenarios run at once (each with its own launched target).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Run every scenario N times and report each one whose runs differ (flaky); reads and
    /// writes no snapshot.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// JWT secret of a URL target, for minting tokens (else JWT_SECRET).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// An HTTP request to the target before each scenario, e.g. `POST /test/reset` (replaces
    /// the target's `reset` hook); run with `--jobs 1`, as scenarios share the server.
    #[arg(long, value_name = "METHOD /PATH")]
    reset: Option<String>,
}

impl Common {
    fn settings(&self) -> RunSettings {
        let vars: BTreeMap<_, _> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        RunSettings {
            timeout_scale: self.timeout_scale,
            vars,
            ..RunSettings::default()
        }
    }

    /// Suite options without snapshots.
    pub fn options(&self) -> SuiteOptions {
        SuiteOptions {
            settings: self.settings(),
            filter: self.filter.clone(),
            jobs: self.jobs,
            snapshots: None,
            repeat: self.repeat as usize,
        }
    }

    /// The scenario files of `paths`, parsed.
    pub fn load(&self) -> Result<Vec<ScenarioFile>, CliError> {
        let files = suite::discover(&self.paths).map_err(|e| CliError::Scenarios(e.to_string()))?;
        if files.is_empty() {
            return Err(CliError::Scenarios(format!(
                "no scenario files in {:?}",
                self.paths
            )));
        }
        suite::load(&files).map_err(|e| CliError::ScenarioFile(e.to_string()))
    }

    /// `name` resolved, with `--reset` as its reset hook when given.
    pub fn target(&self, name: &str) -> Result<Target, CliError> {
        let target = Target::resolve(name, &self.targets_file, self.jwt_secret.clone())
            .map_err(|e| CliError::Target(e.to_string()))?;
        match &self.reset {
            None => Ok(target),
            Some(text) => Hook::parse_http(text)
                .map(|hook| target.with_reset(hook))
                .map_err(|e| CliError::Usage(format!("--reset: {e}"))),
        }
    }
}
