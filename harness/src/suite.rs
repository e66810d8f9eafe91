//! A suite run: find scenario files, run each scenario against a fresh target, compare its
//! transcript with its snapshot, and collect results for the report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::runner::{self, RunSettings, StepFailure};
use crate::scenario::{self, ParseError, ScenarioFile};
use crate::snapshot::{self, UpdateMode, Verdict};
use crate::target::Target;

/// Everything a suite run needs besides the target.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    pub settings: RunSettings,
    /// Only scenarios whose name contains this.
    pub filter: Option<String>,
    pub jobs: usize,
    /// `None`: do not compare with snapshots (used by `diff`).
    pub snapshots: Option<(PathBuf, UpdateMode)>,
}

/// How one scenario ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Passed,
    SnapshotWritten,
    /// A step's expectation failed.
    Failed(StepFailure),
    SnapshotMissing {
        pending: Option<PathBuf>,
    },
    SnapshotDiffers {
        diff: String,
        pending: Option<PathBuf>,
    },
    /// The target could not be started or reached.
    TargetFailed(String),
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Passed | Outcome::SnapshotWritten)
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub file: String,
    pub scenario: String,
    pub target: String,
    pub outcome: Outcome,
    pub transcript: String,
    pub duration: Duration,
}

/// Scenario files under the given paths (directories are searched for `*.yaml`/`*.yml`,
/// leaving out `targets.yaml`), sorted.
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                let entry = entry?.path();
                let is_yaml = entry.extension().is_some_and(|e| e == "yaml" || e == "yml");
                let is_targets = entry.file_stem().is_some_and(|s| s == "targets");
                if is_yaml && !is_targets {
                    files.push(entry);
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    Ok(files)
}

/// Parses every file, stopping at the first error.
pub fn load(files: &[PathBuf]) -> Result<Vec<ScenarioFile>, ParseError> {
    files.iter().map(|f| scenario::load_file(f)).collect()
}

/// Runs every selected scenario against `target`, `jobs` at a time.
pub async fn run(
    files: &[ScenarioFile],
    target: &Target,
    options: &SuiteOptions,
) -> Vec<ScenarioResult> {
    let work: Vec<(&ScenarioFile, usize)> = files
        .iter()
        .flat_map(|file| (0..file.scenarios.len()).map(move |i| (file, i)))
        .filter(|(file, i)| {
            options
                .filter
                .as_ref()
                .is_none_or(|f| file.scenarios[*i].name.contains(f.as_str()))
        })
        .collect();
    let mut results: Vec<(usize, ScenarioResult)> = futures_util::stream::iter(
        work.into_iter().enumerate(),
    )
    .map(|(order, (file, i))| async move { (order, run_one(file, i, target, options).await) })
    .buffer_unordered(options.jobs.max(1))
    .collect()
    .await;
    results.sort_by_key(|(order, _)| *order);
    results.into_iter().map(|(_, r)| r).collect()
}

async fn run_one(
    file: &ScenarioFile,
    index: usize,
    target: &Target,
    options: &SuiteOptions,
) -> ScenarioResult {
    let scenario = &file.scenarios[index];
    let started = Instant::now();
    let result = |outcome, transcript| ScenarioResult {
        file: file.path.clone(),
        scenario: scenario.name.clone(),
        target: target.name().to_owned(),
        outcome,
        transcript,
        duration: started.elapsed(),
    };
    let mut running = match target.start().await {
        Ok(running) => running,
        Err(error) => return result(Outcome::TargetFailed(error.to_string()), String::new()),
    };
    let run = runner::run(file, scenario, &mut running, &options.settings).await;
    running.shutdown().await;
    if let Some(failure) = run.failure {
        return result(Outcome::Failed(failure), run.transcript);
    }
    let Some((dir, mode)) = &options.snapshots else {
        return result(Outcome::Passed, run.transcript);
    };
    let path = snapshot::path_for(dir, &file.path, &scenario.name);
    let source = relative_source(&file.path);
    let outcome = match snapshot::check(&path, &source, &scenario.name, &run.transcript, *mode) {
        Ok(Verdict::Matched) => Outcome::Passed,
        Ok(Verdict::Written) => Outcome::SnapshotWritten,
        Ok(Verdict::Missing { pending }) => Outcome::SnapshotMissing { pending },
        Ok(Verdict::Differs { diff, pending }) => Outcome::SnapshotDiffers { diff, pending },
        Err(error) => {
            Outcome::TargetFailed(format!("cannot write snapshot {}: {error}", path.display()))
        }
    };
    result(outcome, run.transcript)
}

fn relative_source(path: &str) -> String {
    let path = Path::new(path);
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
