//! Reports of a suite run: a terminal summary, JUnit XML for CI, JSON, and an HTML page
//! ([`html`]).

pub mod html;

use std::fmt::Write as _;

use serde_json::json;

use crate::suite::{Outcome, ScenarioResult};

/// The readable summary printed after a run.
pub fn terminal(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for result in results {
        let _ = writeln!(
            out,
            "{:>7}  [{}] {} :: {} ({} ms)",
            mark(&result.outcome),
            result.target,
            result.file,
            result.scenario,
            result.duration.as_millis()
        );
        match &result.outcome {
            Outcome::Failed(failure) => {
                for line in failure.to_string().lines() {
                    let _ = writeln!(out, "         {line}");
                }
            }
            Outcome::SnapshotMissing { pending } => {
                let _ = writeln!(
                    out,
                    "         no snapshot yet{}",
                    pending_note(pending.as_ref())
                );
            }
            Outcome::SnapshotDiffers { diff, pending } => {
                let _ = writeln!(
                    out,
                    "         transcript differs from the snapshot{}",
                    pending_note(pending.as_ref())
                );
                for line in diff.lines() {
                    let _ = writeln!(out, "         {line}");
                }
            }
            Outcome::TargetFailed(error) => {
                for line in error.lines() {
                    let _ = writeln!(out, "         {line}");
                }
            }
            Outcome::Flaky { .. } => {
                for line in message(&result.outcome).unwrap_or_default().lines() {
                    let _ = writeln!(out, "         {line}");
                }
            }
            Outcome::Passed | Outcome::SnapshotWritten => {}
        }
    }
    let passed = results.iter().filter(|r| r.outcome.passed()).count();
    let _ = writeln!(out, "{passed} passed, {} failed", results.len() - passed);
    out
}

/// The outcome in one word, as the terminal and the HTML page show it.
fn mark(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "ok",
        Outcome::SnapshotWritten => "written",
        Outcome::Failed(_) => "FAILED",
        Outcome::SnapshotMissing { .. } => "NEW",
        Outcome::SnapshotDiffers { .. } => "DIFFERS",
        Outcome::TargetFailed(_) => "ERROR",
        Outcome::Flaky { .. } => "FLAKY",
    }
}

fn pending_note(pending: Option<&std::path::PathBuf>) -> String {
    pending
        .map(|p| {
            format!(
                " (new transcript in {}; review with `cargo insta review` or accept with --update)",
                p.display()
            )
        })
        .unwrap_or_default()
}

fn message(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Passed | Outcome::SnapshotWritten => None,
        Outcome::Failed(failure) => Some(failure.to_string()),
        Outcome::SnapshotMissing { .. } => Some("no snapshot".into()),
        Outcome::SnapshotDiffers { diff, .. } => {
            Some(format!("transcript differs from the snapshot\n{diff}"))
        }
        Outcome::TargetFailed(error) => Some(error.clone()),
        Outcome::Flaky {
            runs,
            differing,
            failed,
            detail,
        } => {
            let mut summary = Vec::new();
            if *differing > 0 {
                summary.push(format!("{differing} of {runs} runs differ"));
            }
            if *failed > 0 {
                summary.push(format!("{failed} of {runs} runs failed"));
            }
            Some(format!("flaky: {}\n{detail}", summary.join(", ")))
        }
    }
}

/// JUnit XML: one test suite, one test case per scenario and target.
pub fn junit(results: &[ScenarioResult]) -> String {
    let failures = results.iter().filter(|r| !r.outcome.passed()).count();
    let total: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"sio-harness\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n",
        results.len()
    );
    for result in results {
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&format!("{}.{}", result.target, result.file)),
            xml_escape(&result.scenario),
            result.duration.as_secs_f64()
        );
        match message(&result.outcome) {
            None => out.push_str("/>\n"),
            Some(text) => {
                let first = text.lines().next().unwrap_or_default();
                let _ = write!(
                    out,
                    ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>\n",
                    xml_escape(first),
                    xml_escape(&text)
                );
            }
        }
    }
    out.push_str("</testsuite>\n");
    out
}

fn xml_escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

/// JSON: every result with its transcript.
pub fn json(results: &[ScenarioResult]) -> serde_json::Value {
    json!({
        "passed": results.iter().filter(|r| r.outcome.passed()).count(),
        "failed": results.iter().filter(|r| !r.outcome.passed()).count(),
        "results": results.iter().map(|r| json!({
            "target": r.target,
            "file": r.file,
            "scenario": r.scenario,
            "passed": r.outcome.passed(),
            "message": message(&r.outcome),
            "duration_ms": r.duration.as_millis() as u64,
            "transcript": r.transcript,
        })).collect::<Vec<_>>(),
    })
}
