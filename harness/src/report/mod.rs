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

/// JUnit XML: one test suite, one test case per scenario and target. A case's `classname` is
/// its file's path without the extension (viewers split a classname at its dots), and the
/// target is a property of the case.
pub fn junit(results: &[ScenarioResult]) -> String {
    let failures = results.iter().filter(|r| !r.outcome.passed()).count();
    let total: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"sio-harness\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n",
        results.len()
    );
    for result in results {
        let _ = writeln!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">\n    <properties><property name=\"target\" value=\"{}\"/></properties>",
            xml_escape(&junit_classname(&result.file)),
            xml_escape(&result.scenario),
            result.duration.as_secs_f64(),
            xml_escape(&result.target),
        );
        if let Some(text) = message(&result.outcome) {
            let first = text.lines().next().unwrap_or_default();
            let _ = writeln!(
                out,
                "    <failure message=\"{}\">{}</failure>",
                xml_escape(first),
                xml_escape(&text)
            );
        }
        out.push_str("  </testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

/// A scenario file's path as a JUnit classname: without `./` and its `.yaml`/`.yml`.
fn junit_classname(file: &str) -> String {
    let file = file.strip_prefix("./").unwrap_or(file);
    file.strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))
        .unwrap_or(file)
        .to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn result(target: &str, file: &str, outcome: Outcome) -> ScenarioResult {
        ScenarioResult {
            file: file.into(),
            scenario: "login".into(),
            target: target.into(),
            outcome,
            transcript: String::new(),
            timeline: Vec::new(),
            duration: std::time::Duration::from_millis(5),
            server_log: None,
        }
    }

    #[test]
    fn junit_classname_is_the_file_path_and_the_target_a_property() {
        let xml = junit(&[
            result(
                "http://127.0.0.1:3710",
                "./suite/auth.yaml",
                Outcome::Passed,
            ),
            result(
                "rust",
                "scenarios/v1.2/chat.yml",
                Outcome::TargetFailed("cannot start rust".into()),
            ),
        ]);
        assert!(
            xml.contains("<testcase classname=\"suite/auth\" name=\"login\" time=\"0.005\">\n    <properties><property name=\"target\" value=\"http://127.0.0.1:3710\"/></properties>\n  </testcase>"),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"scenarios/v1.2/chat\" name=\"login\" time=\"0.005\">\n    <properties><property name=\"target\" value=\"rust\"/></properties>\n    <failure message=\"cannot start rust\">cannot start rust</failure>\n  </testcase>"),
            "{xml}"
        );
        assert!(!xml.contains("3710."), "{xml}");
    }
}
