//! Differential fuzzing: `sio-harness fuzz --target node --target rust` runs the same generated
//! event sequences on two servers and reports where their transcripts differ.
//!
//! How the parts fit:
//!
//! 1. **generate** ([`vocabulary`]): a seed and a sequence number give a list of actions from the
//!    seed's vocabulary (fixture users and tokens, subscribe and unsubscribe, reads of real,
//!    foreign and invalid ids, admin refresh, HTTP pushes, cuts and restores, disconnects);
//! 2. **render** ([`model`]): the actions become a scenario whose every answer is waited for by an
//!    `expect`, so its transcript depends on the server only; each user stays under the rate
//!    limit;
//! 3. **run on both**: sequences run one after another on one launch of each server (both
//!    servers at once), `--per-launch` at a time, each on its own copies of the fixture users and
//!    notifications ([`model::Namespace`]), so no sequence sees another's notifications or
//!    allowances; only the service statuses carry over, the same way on both when they agree;
//! 4. **compare**: transcripts, and the step each run failed at, if any; a difference whose
//!    differing lines match a declared one ([`known`]) is counted as known;
//! 5. **confirm and shrink**: any other difference is run again on fresh launches of both
//!    servers with the fixture users themselves; if it persists, [`shrink`] removes actions while
//!    it still does (each candidate on fresh launches);
//! 6. **write**: the smallest sequence is written as a scenario file to `--save DIR`, which
//!    `sio-harness diff --target node --target rust FILE` reproduces.

pub mod known;
pub mod model;
pub mod namespace;
pub mod shrink;
pub mod vocabulary;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::runner::{self, RunSettings};
use crate::scenario::{self, Draft, ScenarioFile};
use crate::snapshot;
use crate::target::{Target, TargetError};
use known::KnownDifferences;
use model::Rendered;
use namespace::Namespace;
use vocabulary::Action;

/// Why a differential run could not be carried out (differences are a report, not this).
#[derive(Debug, thiserror::Error)]
pub enum DifferentialError {
    #[error("{target}: {source}")]
    Target { target: String, source: TargetError },
    /// A rendered scenario that does not parse: a bug in the model.
    #[error("internal: a generated scenario does not parse: {0}")]
    Render(String),
    #[error("cannot write {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct DifferentialOptions {
    pub seed: u64,
    pub sequences: u64,
    /// Sequences run on one launch of each server.
    pub per_launch: usize,
    pub save_dir: PathBuf,
    pub known: KnownDifferences,
    pub settings: RunSettings,
    /// Most candidates the shrinker runs per difference.
    pub shrink_tries: usize,
}

/// A difference found, confirmed and shrunk.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub sequence: u64,
    pub actions: usize,
    pub shrunk_to: usize,
    pub file: PathBuf,
    /// The first differing lines of the shrunk scenario's transcripts.
    pub lines: Vec<String>,
}

/// A difference that matched a declared one.
#[derive(Debug, Clone, Serialize)]
pub struct KnownHit {
    pub sequence: u64,
    pub description: String,
}

/// A difference seen on a shared launch only.
#[derive(Debug, Clone, Serialize)]
pub struct Unconfirmed {
    pub sequence: u64,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DifferentialReport {
    pub targets: [String; 2],
    pub seed: u64,
    pub sequences: u64,
    /// Actions the model kept, and the scenario steps they became, over every sequence.
    pub actions: u64,
    pub steps: u64,
    /// The kept actions by kind.
    pub actions_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Launches of each server for the sequences (the confirmations and shrinking not counted).
    pub launches: u64,
    pub differences: Vec<Difference>,
    pub known: Vec<KnownHit>,
    /// Differences seen on a shared launch but not on fresh ones.
    pub unconfirmed: Vec<Unconfirmed>,
    /// Sequences where both servers failed the same step alike: the servers agree, but the model
    /// expected something else (a model to correct).
    pub both_failed: Vec<u64>,
    pub duration_s: f64,
}

impl DifferentialReport {
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }
}

/// What one run of a scenario gave: its transcript, and the step it failed at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunOutcome {
    transcript: String,
    failure: Option<String>,
}

impl RunOutcome {
    fn of(run: runner::ScenarioRun) -> Self {
        Self {
            transcript: run.transcript,
            // The step and its message's first line: the rest lists receipts with their times.
            failure: run.failure.map(|f| {
                format!(
                    "failed at step {} ({}): {}",
                    f.index + 1,
                    f.keyword,
                    f.message.lines().next().unwrap_or_default()
                )
            }),
        }
    }

    fn failed_to_start(error: &TargetError) -> Self {
        Self {
            transcript: String::new(),
            failure: Some(format!("target failed: {error}")),
        }
    }
}

/// The lines where two runs differ (`-` left, `+` right), failures included; empty if the same.
fn differing_lines(left: &RunOutcome, right: &RunOutcome, names: [&str; 2]) -> Vec<String> {
    let mut lines: Vec<String> =
        snapshot::diff(&left.transcript, &right.transcript, names[0], names[1])
            .lines()
            .filter(|l| {
                (l.starts_with('-') && !l.starts_with("---"))
                    || (l.starts_with('+') && !l.starts_with("+++"))
            })
            .map(str::to_owned)
            .collect();
    if left.failure != right.failure {
        for (sign, failure) in [('-', &left.failure), ('+', &right.failure)] {
            lines.push(format!(
                "{sign} {}",
                failure.as_deref().unwrap_or("(passed)")
            ));
        }
    }
    lines
}

fn scenario_name(seed: u64, sequence: u64) -> String {
    format!("differential seed {seed} sequence {sequence}")
}

fn render(
    seed: u64,
    sequence: u64,
    actions: &[Action],
    namespace: &Namespace,
) -> Result<Rendered, DifferentialError> {
    render_under(String::new(), seed, sequence, actions, namespace)
}

/// Renders the sequence with `header` as the file's top comment.
fn render_under(
    header: String,
    seed: u64,
    sequence: u64,
    actions: &[Action],
    namespace: &Namespace,
) -> Result<Rendered, DifferentialError> {
    let head = Draft {
        header,
        name: scenario_name(seed, sequence),
        description: Some(format!(
            "Generated by `sio-harness fuzz --target A --target B --seed {seed}` (sequence {sequence})"
        )),
        ..Draft::default()
    };
    model::render(head, actions, namespace).map_err(|e| DifferentialError::Render(e.to_string()))
}

fn parse(rendered: &Rendered) -> Result<ScenarioFile, DifferentialError> {
    scenario::parse_str("generated.yaml", &rendered.yaml)
        .map_err(|e| DifferentialError::Render(format!("{e}\n{}", rendered.yaml)))
}

/// Runs `files` in order on one launch of `target` loaded with `sql`.
async fn run_launch(
    target: &Target,
    sql: &str,
    files: &[ScenarioFile],
    settings: &RunSettings,
) -> Result<Vec<RunOutcome>, DifferentialError> {
    let mut running = target
        .start_with_sql(Some(sql).filter(|s| !s.is_empty()))
        .await
        .map_err(|source| DifferentialError::Target {
            target: target.name().to_owned(),
            source,
        })?;
    let mut outcomes = Vec::with_capacity(files.len());
    for file in files {
        let run = runner::run(file, &file.scenarios[0], &mut running, settings).await;
        outcomes.push(RunOutcome::of(run));
    }
    running.shutdown().await;
    Ok(outcomes)
}

/// Runs one scenario on a fresh launch of `target`.
async fn run_fresh(target: &Target, file: &ScenarioFile, settings: &RunSettings) -> RunOutcome {
    match target.start().await {
        Ok(mut running) => {
            let run = runner::run(file, &file.scenarios[0], &mut running, settings).await;
            running.shutdown().await;
            RunOutcome::of(run)
        }
        Err(error) => RunOutcome::failed_to_start(&error),
    }
}

/// What differs between fresh launches of both targets running `actions` on the fixture users,
/// if it is not declared; `None` when they agree.
async fn fresh_difference(
    targets: [&Target; 2],
    options: &DifferentialOptions,
    sequence: u64,
    actions: &[Action],
) -> Result<Option<Vec<String>>, DifferentialError> {
    let rendered = render(options.seed, sequence, actions, &Namespace::fixtures())?;
    let file = parse(&rendered)?;
    let (l, r) = tokio::join!(
        run_fresh(targets[0], &file, &options.settings),
        run_fresh(targets[1], &file, &options.settings),
    );
    let lines = differing_lines(&l, &r, [targets[0].name(), targets[1].name()]);
    let as_str: Vec<&str> = lines.iter().map(String::as_str).collect();
    Ok((!lines.is_empty() && options.known.find(&as_str).is_none()).then_some(lines))
}

/// Runs the sequences on both targets; `Err` only when that could not be done.
pub async fn run(
    targets: [&Target; 2],
    options: &DifferentialOptions,
) -> Result<DifferentialReport, DifferentialError> {
    let started = Instant::now();
    let names = [targets[0].name(), targets[1].name()];
    let mut report = DifferentialReport {
        targets: names.map(str::to_owned),
        seed: options.seed,
        sequences: options.sequences,
        actions: 0,
        steps: 0,
        actions_by_kind: std::collections::BTreeMap::new(),
        launches: 0,
        differences: Vec::new(),
        known: Vec::new(),
        unconfirmed: Vec::new(),
        both_failed: Vec::new(),
        duration_s: 0.0,
    };
    let per_launch = options.per_launch.max(1) as u64;
    let mut first = 0;
    while first < options.sequences {
        let last = (first + per_launch).min(options.sequences);
        let mut sql = String::new();
        let mut files = Vec::new();
        for sequence in first..last {
            let namespace = Namespace::numbered((sequence - first) as usize);
            let actions = vocabulary::sequence(options.seed, sequence);
            let rendered = render(options.seed, sequence, &actions, &namespace)?;
            report.actions += rendered.kept.len() as u64;
            for action in &rendered.kept {
                *report.actions_by_kind.entry(action.kind()).or_default() += 1;
            }
            report.steps += rendered.steps as u64;
            sql.push_str(&namespace.sql());
            files.push(parse(&rendered)?);
        }
        let (left, right) = tokio::join!(
            run_launch(targets[0], &sql, &files, &options.settings),
            run_launch(targets[1], &sql, &files, &options.settings),
        );
        let (left, right) = (left?, right?);
        report.launches += 1;
        let mut differing = 0;
        for (sequence, (l, r)) in (first..last).zip(left.iter().zip(&right)) {
            let lines = differing_lines(l, r, names);
            if lines.is_empty() {
                if l.failure.is_some() {
                    report.both_failed.push(sequence);
                }
                continue;
            }
            differing += 1;
            examine(targets, options, sequence, &lines, &mut report).await?;
        }
        eprintln!(
            "sequences {first}..{last}: {} agree, {differing} differ",
            (last - first) as usize - differing
        );
        first = last;
    }
    report.duration_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Follows up a difference seen on a shared launch: known, unconfirmed, or confirmed, shrunk
/// and written.
async fn examine(
    targets: [&Target; 2],
    options: &DifferentialOptions,
    sequence: u64,
    lines: &[String],
    report: &mut DifferentialReport,
) -> Result<(), DifferentialError> {
    let names = [targets[0].name(), targets[1].name()];
    let as_str: Vec<&str> = lines.iter().map(String::as_str).collect();
    if let Some(known) = options.known.find(&as_str) {
        report.known.push(KnownHit {
            sequence,
            description: known.description.clone(),
        });
        return Ok(());
    }
    let fixtures = Namespace::fixtures();
    let actions = render(
        options.seed,
        sequence,
        &vocabulary::sequence(options.seed, sequence),
        &fixtures,
    )?
    .kept;
    if fresh_difference(targets, options, sequence, &actions)
        .await?
        .is_none()
    {
        report.unconfirmed.push(Unconfirmed {
            sequence,
            lines: lines.iter().take(10).cloned().collect(),
        });
        return Ok(());
    }
    let mut error = None;
    let shrunk = shrink::shrink(actions.clone(), options.shrink_tries, async |candidate| {
        match fresh_difference(targets, options, sequence, candidate).await {
            Ok(found) => found.is_some(),
            Err(e) => {
                error.get_or_insert(e);
                false
            }
        }
    })
    .await;
    if let Some(error) = error {
        return Err(error);
    }
    // The shrunk sequence's own lines, for the file and the report (rerun once more).
    let final_lines = fresh_difference(targets, options, sequence, &shrunk)
        .await?
        .unwrap_or_else(|| lines.to_vec());
    let path = options
        .save_dir
        .join(format!("differential-{}-{sequence}.yaml", options.seed));
    let text = review_file(
        &path,
        names,
        (options.seed, sequence),
        (actions.len(), &shrunk),
        &final_lines,
    )?;
    std::fs::create_dir_all(&options.save_dir)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|source| DifferentialError::Save {
            path: path.clone(),
            source,
        })?;
    report.differences.push(Difference {
        sequence,
        actions: actions.len(),
        shrunk_to: shrunk.len(),
        file: path,
        lines: final_lines.into_iter().take(10).collect(),
    });
    Ok(())
}

/// The scenario file written for review: where it came from, how to run it, what differed
/// (comments), then the shrunk sequence on the fixture users.
fn review_file(
    path: &std::path::Path,
    names: [&str; 2],
    (seed, sequence): (u64, u64),
    (original, shrunk): (usize, &[Action]),
    lines: &[String],
) -> Result<String, DifferentialError> {
    let mut header = format!(
        "Differential fuzzing: seed {seed}, sequence {sequence}, shrunk from {original} to {} actions.\nReproduce: sio-harness diff --target {} --target {} {}\nWhere the transcripts differed ({} with -, {} with +):\n",
        shrunk.len(),
        names[0],
        names[1],
        path.display(),
        names[0],
        names[1],
    );
    for line in lines.iter().take(40) {
        header.push_str(&format!("  {line}\n"));
    }
    Ok(render_under(header, seed, sequence, shrunk, &Namespace::fixtures())?.yaml)
}

/// The report as a few lines for a terminal.
pub fn table(report: &DifferentialReport) -> String {
    let list = |items: &[u64]| {
        items
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!(
        "differential fuzz {} against {} (seed {}): {} sequences, {} actions, {} steps, {} launches of each, in {:.1} s\n  {} differences, {} known, {} not reproduced on fresh launches, {} where both failed alike\n",
        report.targets[0],
        report.targets[1],
        report.seed,
        report.sequences,
        report.actions,
        report.steps,
        report.launches,
        report.duration_s,
        report.differences.len(),
        report.known.len(),
        report.unconfirmed.len(),
        report.both_failed.len(),
    );
    let kinds: Vec<String> = report
        .actions_by_kind
        .iter()
        .map(|(kind, n)| format!("{kind}={n}"))
        .collect();
    text.push_str(&format!("  actions by kind: {}\n", kinds.join(" ")));
    let mut known: std::collections::BTreeMap<&str, Vec<u64>> = std::collections::BTreeMap::new();
    for hit in &report.known {
        known
            .entry(hit.description.as_str())
            .or_default()
            .push(hit.sequence);
    }
    for (description, sequences) in known {
        text.push_str(&format!(
            "  known ({}): {description}; sequences {}\n",
            sequences.len(),
            list(&sequences)
        ));
    }
    for unconfirmed in &report.unconfirmed {
        text.push_str(&format!(
            "  not reproduced on fresh launches: sequence {}\n",
            unconfirmed.sequence
        ));
        for line in &unconfirmed.lines {
            text.push_str(&format!("    {line}\n"));
        }
    }
    if !report.both_failed.is_empty() {
        text.push_str(&format!(
            "  both failed alike (the model expected otherwise): sequences {}\n",
            list(&report.both_failed)
        ));
    }
    for difference in &report.differences {
        text.push_str(&format!(
            "DIFFERS: sequence {} ({} actions, shrunk to {}): {}\n",
            difference.sequence,
            difference.actions,
            difference.shrunk_to,
            difference.file.display()
        ));
        for line in &difference.lines {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text.push_str(if report.passed() {
        "passed: no unexplained difference\n"
    } else {
        "FAILED: the servers differ (scenarios above, for review)\n"
    });
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(transcript: &str, failure: Option<&str>) -> RunOutcome {
        RunOutcome {
            transcript: transcript.to_owned(),
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn the_file_written_for_review_parses_back() {
        let actions = vocabulary::sequence(16, 4);
        let lines = vec![
            "-  event / a [\"x\"]".to_owned(),
            "+  event / b []".to_owned(),
        ];
        let text = review_file(
            std::path::Path::new("out/differential-16-4.yaml"),
            ["node", "rust"],
            (16, 4),
            (20, &actions[..3]),
            &lines,
        )
        .expect("writes");
        assert!(text.contains(
            "# Reproduce: sio-harness diff --target node --target rust out/differential-16-4.yaml\n"
        ));
        let parsed =
            scenario::parse_str("review.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.scenarios[0].name, "differential seed 16 sequence 4");
        assert_eq!(
            parsed.scenarios[0].steps.len(),
            render(16, 4, &actions[..3], &Namespace::fixtures())
                .expect("renders")
                .steps
        );
    }

    #[test]
    fn equal_runs_have_no_differing_lines() {
        let run = outcome("client c0\n  connect / sid=<sid:1>\n", None);
        assert!(differing_lines(&run, &run.clone(), ["node", "rust"]).is_empty());
    }

    #[test]
    fn differing_transcripts_and_failures_are_listed_by_side() {
        let left = outcome("client c0\n  event / a []\n", None);
        let right = outcome("client c0\n  event / b []\n", Some("failed at step 2"));
        let lines = differing_lines(&left, &right, ["node", "rust"]);
        assert_eq!(
            lines,
            [
                "-  event / a []",
                "+  event / b []",
                "- (passed)",
                "+ failed at step 2"
            ]
        );
    }
}
