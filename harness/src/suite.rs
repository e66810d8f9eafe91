//! A suite run: find scenario files, run each scenario against a fresh target, compare its
//! transcript with its snapshot, and collect results for the report. With a repeat count, each
//! scenario runs that many times and the runs are compared with each other instead (a flake
//! finder: a transcript must not change on an unchanged server).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::runner::{self, RunSettings, StepFailure};
use crate::scenario::{self, ParseError, ScenarioFile};
use crate::snapshot::{self, UpdateMode, Verdict};
use crate::target::Target;
use crate::transcript::TimedLine;

/// Everything a suite run needs besides the target.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    pub settings: RunSettings,
    /// Only scenarios whose name contains this.
    pub filter: Option<String>,
    pub jobs: usize,
    /// `None`: do not compare with snapshots (used by `diff` and by repeated runs).
    pub snapshots: Option<(PathBuf, UpdateMode)>,
    /// Runs of each scenario; above 1, the runs are compared with each other (see [`run`]).
    pub repeat: usize,
}

impl Default for SuiteOptions {
    /// One run of each scenario, one at a time, no snapshots.
    fn default() -> Self {
        Self {
            settings: RunSettings::default(),
            filter: None,
            jobs: 1,
            snapshots: None,
            repeat: 1,
        }
    }
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
    /// Repeated runs of the scenario did not all end the same way.
    Flaky {
        runs: usize,
        /// Runs whose transcript differs from the most common one.
        differing: usize,
        /// Runs that failed (a step, or the target) while others passed.
        failed: usize,
        /// The first differing line, or the first failure.
        detail: String,
    },
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
    /// The transcript's lines with their times (reports only; empty when no scenario ran).
    pub timeline: Vec<TimedLine>,
    pub duration: Duration,
    /// The launched server's log file (its first node's), kept after the run; `None` for a URL
    /// target, or when the launch failed (its error names the log).
    pub server_log: Option<PathBuf>,
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

/// Runs every selected scenario against `target`, `jobs` at a time: one result per scenario.
///
/// With `repeat` above 1, each scenario runs that many times (interleaved with the others, so
/// the runs see different schedules), no snapshot is read or written, and the result is the
/// first run's, or [`Outcome::Flaky`] if any run's transcript or outcome differs.
pub async fn run(
    files: &[ScenarioFile],
    target: &Target,
    options: &SuiteOptions,
) -> Vec<ScenarioResult> {
    let repeat = options.repeat.max(1);
    let selected: Vec<(&ScenarioFile, usize)> = files
        .iter()
        .flat_map(|file| (0..file.scenarios.len()).map(move |i| (file, i)))
        .filter(|(file, i)| {
            options
                .filter
                .as_ref()
                .is_none_or(|f| file.scenarios[*i].name.contains(f.as_str()))
        })
        .collect();
    let repeated;
    let options = if repeat > 1 {
        repeated = SuiteOptions {
            snapshots: None,
            ..options.clone()
        };
        &repeated
    } else {
        options
    };
    let work = (0..repeat).flat_map(|_| selected.iter().copied().enumerate());
    let mut results: Vec<(usize, ScenarioResult)> = futures_util::stream::iter(work)
        .map(|(order, (file, i))| async move { (order, run_one(file, i, target, options).await) })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;
    results.sort_by_key(|(order, _)| *order);
    if repeat == 1 {
        return results.into_iter().map(|(_, r)| r).collect();
    }
    let mut runs: Vec<Vec<ScenarioResult>> = selected.iter().map(|_| Vec::new()).collect();
    for (order, result) in results {
        if let Some(scenario_runs) = runs.get_mut(order) {
            scenario_runs.push(result);
        }
    }
    runs.into_iter().filter_map(compare_runs).collect()
}

/// One result for a scenario's repeated runs: the first run's, or [`Outcome::Flaky`].
fn compare_runs(runs: Vec<ScenarioResult>) -> Option<ScenarioResult> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for run in &runs {
        *counts.entry(run.transcript.as_str()).or_default() += 1;
    }
    // The most common transcript is the reference; ties go to the earliest run.
    let most = counts.values().copied().max()?;
    let reference = runs
        .iter()
        .find(|r| counts[r.transcript.as_str()] == most)?
        .transcript
        .clone();
    let differing = runs.iter().filter(|r| r.transcript != reference).count();
    let failed = runs.iter().filter(|r| !r.outcome.passed()).count();
    let detail = [
        runs.iter()
            .find(|r| r.transcript != reference)
            .map(|other| first_difference(&reference, &other.transcript)),
        runs.iter()
            .find(|r| !r.outcome.passed())
            .map(|failure| format!("first failure: {}", failure_summary(&failure.outcome))),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n");
    let total = runs.len();
    let duration = runs.iter().map(|r| r.duration).sum();
    let mut first = runs.into_iter().next()?;
    first.duration = duration;
    if differing > 0 || (failed > 0 && failed < total) {
        first.outcome = Outcome::Flaky {
            runs: total,
            differing,
            failed,
            detail,
        };
    }
    Some(first)
}

/// The first line where `other` departs from `reference`, as `-`/`+` lines.
fn first_difference(reference: &str, other: &str) -> String {
    let (mut expected, mut got) = (reference.lines(), other.lines());
    let mut line = 1;
    loop {
        match (expected.next(), got.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (a, b) => {
                return format!(
                    "first differing line {line}:\n- {}\n+ {}",
                    a.unwrap_or("(end of transcript)"),
                    b.unwrap_or("(end of transcript)")
                );
            }
        }
    }
}

fn failure_summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed(failure) => failure.to_string(),
        Outcome::TargetFailed(error) => error.clone(),
        other => format!("{other:?}"),
    }
}

async fn run_one(
    file: &ScenarioFile,
    index: usize,
    target: &Target,
    options: &SuiteOptions,
) -> ScenarioResult {
    let scenario = &file.scenarios[index];
    let started = Instant::now();
    // Set once the launch has started; read by whichever result ends the run.
    let server_log = std::cell::Cell::new(None);
    let result = |outcome, run: Option<runner::ScenarioRun>| {
        let (transcript, timeline) = run.map(|r| (r.transcript, r.timeline)).unwrap_or_default();
        ScenarioResult {
            file: file.path.clone(),
            scenario: scenario.name.clone(),
            target: target.name().to_owned(),
            outcome,
            transcript,
            timeline,
            duration: started.elapsed(),
            server_log: server_log.take(),
        }
    };
    let mut running = match target.start().await {
        Ok(running) => running,
        Err(error) => return result(Outcome::TargetFailed(error.to_string()), None),
    };
    server_log.set(running.log_path());
    // A server the harness does not launch is shared by every scenario: its `reset` hook gives
    // each one a clean state (run one at a time), its `after` hook cleans up after it.
    let hooks = target.hooks();
    if let Err(error) = hooks.before_scenario(&running.base_url).await {
        running.shutdown().await;
        return result(Outcome::TargetFailed(error.to_string()), None);
    }
    let mut settings = options.settings.clone();
    settings.redactions.extend(hooks.redact.iter().cloned());
    let mut run = runner::run(file, scenario, &mut running, &settings).await;
    let after = hooks.after_scenario(&running.base_url).await;
    running.shutdown().await;
    if let Some(failure) = run.failure.take() {
        return result(Outcome::Failed(failure), Some(run));
    }
    if let Err(error) = after {
        return result(Outcome::TargetFailed(error.to_string()), Some(run));
    }
    let Some((dir, mode)) = &options.snapshots else {
        return result(Outcome::Passed, Some(run));
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
    result(outcome, Some(run))
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
