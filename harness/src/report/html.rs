//! The HTML report (`--report-html DIR`): one self-contained static page, `DIR/index.html`,
//! with inline CSS and no script. For `run`: a summary, then each scenario's result, its
//! failure or highlighted snapshot diff, each client's transcript as a timeline (the server,
//! the clients and the scenario's HTTP calls as lanes, time down the side) and the transcript
//! text. For `diff`: the two targets' transcripts side by side, differing lines marked.
//!
//! Everything on the page is escaped (payloads are user data), and anything shaped like a JWT is
//! replaced by `<jwt>` before it is escaped: transcripts keep fetched tokens out already, but a
//! scenario may still emit one as an event's argument, and a report is an artifact anyone with
//! access to the CI run can open.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use similar::{DiffTag, TextDiff};

use super::{mark, message};
use crate::suite::{Outcome, ScenarioResult};
use crate::transcript::{Flow, TimedLine};

/// Writes `page` as `dir/index.html`, creating `dir`; returns the file's path.
pub fn write(dir: &Path, page: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("index.html");
    std::fs::write(&path, page)?;
    Ok(path)
}

/// The page of a `run`: every scenario against one target.
pub fn run_page(target: &str, results: &[ScenarioResult]) -> String {
    let passed = results.iter().filter(|r| r.outcome.passed()).count();
    let total: Duration = results.iter().map(|r| r.duration).sum();
    let mut body = format!(
        "<header><h1>sio-harness run against <code>{}</code></h1>\n<p class=\"summary\">{} scenarios: <span class=\"pass\">{passed} passed</span>, <span class=\"fail\">{} failed</span>; {} in all</p></header>\n",
        escape(target),
        results.len(),
        results.len() - passed,
        seconds(total),
    );
    body.push_str("<table class=\"overview\"><thead><tr><th>result</th><th>file</th><th>scenario</th><th>time</th></tr></thead><tbody>\n");
    for (index, result) in results.iter().enumerate() {
        let _ = writeln!(
            body,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td><a href=\"#scenario-{index}\">{}</a></td><td class=\"num\">{} ms</td></tr>",
            status_class(&result.outcome),
            badge(&result.outcome),
            escape(&result.file),
            escape(&result.scenario),
            result.duration.as_millis(),
        );
    }
    body.push_str("</tbody></table>\n");
    for (index, result) in results.iter().enumerate() {
        let _ = write!(
            body,
            "<section class=\"scenario {}\" id=\"scenario-{index}\">\n<h2>{} {} <span class=\"file\">{}</span> <span class=\"time\">{} ms</span></h2>\n",
            status_class(&result.outcome),
            badge(&result.outcome),
            escape(&result.scenario),
            escape(&result.file),
            result.duration.as_millis(),
        );
        body.push_str(&outcome_detail(&result.outcome));
        if let Some(log) = &result.server_log {
            let _ = writeln!(
                body,
                "<p class=\"log\">server log: <code>{}</code></p>",
                escape(&log.display().to_string())
            );
        }
        body.push_str(&timeline(&result.timeline));
        body.push_str(&transcript_text(&result.transcript));
        body.push_str("</section>\n");
    }
    page(&format!("sio-harness: {target}"), &body)
}

/// The page of a `diff`: the same scenarios against two targets, paired in order.
pub fn diff_page(left: &str, right: &str, pairs: &[(&ScenarioResult, &ScenarioResult)]) -> String {
    let differing = pairs
        .iter()
        .filter(|(l, r)| both_passed(l, r) && l.transcript != r.transcript)
        .count();
    let failed = pairs.iter().filter(|(l, r)| !both_passed(l, r)).count();
    let mut body = format!(
        "<header><h1>sio-harness diff: <code>{}</code> against <code>{}</code></h1>\n<p class=\"summary\">{} scenarios: <span class=\"pass\">{} same</span>, <span class=\"fail\">{differing} differ</span>, <span class=\"fail\">{failed} failed</span></p></header>\n",
        escape(left),
        escape(right),
        pairs.len(),
        pairs.len() - differing - failed,
    );
    for (index, (l, r)) in pairs.iter().enumerate() {
        let (class, label) = if !both_passed(l, r) {
            ("failed", "FAILED")
        } else if l.transcript != r.transcript {
            ("failed", "DIFFERS")
        } else {
            ("passed", "same")
        };
        let _ = write!(
            body,
            "<section class=\"scenario {class}\" id=\"scenario-{index}\">\n<h2><span class=\"badge {class}\">{label}</span> {} <span class=\"file\">{}</span></h2>\n",
            escape(&l.scenario),
            escape(&l.file),
        );
        for result in [l, r] {
            if !result.outcome.passed() {
                let _ = writeln!(body, "<h3>{}</h3>", escape(&result.target));
                body.push_str(&outcome_detail(&result.outcome));
            }
        }
        body.push_str(&side_by_side(left, right, &l.transcript, &r.transcript));
        for result in [l, r] {
            let _ = write!(
                body,
                "<details><summary>timeline on {}</summary>\n{}</details>\n",
                escape(&result.target),
                timeline(&result.timeline)
            );
        }
        body.push_str("</section>\n");
    }
    page(&format!("sio-harness diff: {left} against {right}"), &body)
}

fn both_passed(left: &ScenarioResult, right: &ScenarioResult) -> bool {
    left.outcome.passed() && right.outcome.passed()
}

/// Why a scenario did not pass: the failure text, with a snapshot diff's lines highlighted.
fn outcome_detail(outcome: &Outcome) -> String {
    match outcome {
        Outcome::SnapshotDiffers { diff, .. } => format!(
            "<p class=\"why\">The transcript differs from the snapshot (<span class=\"del\">- snapshot</span>, <span class=\"add\">+ this run</span>):</p>\n{}",
            unified_diff(diff)
        ),
        other => match message(other) {
            Some(text) => format!("<pre class=\"why\">{}</pre>\n", escape(&text)),
            None => String::new(),
        },
    }
}

/// A unified diff with its added, removed and hunk lines marked.
fn unified_diff(diff: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    for line in diff.lines() {
        let class = if line.starts_with("+++") || line.starts_with("---") {
            "head"
        } else if line.starts_with('+') {
            "add"
        } else if line.starts_with('-') {
            "del"
        } else if line.starts_with("@@") {
            "hunk"
        } else {
            "same"
        };
        // Block spans, one a line: a newline between them would show as an empty line.
        let _ = write!(out, "<span class=\"{class}\">{}</span>", escape(line));
    }
    out.push_str("</pre>\n");
    out
}

/// Two transcripts side by side, aligned by a line diff; differing rows marked.
fn side_by_side(left_name: &str, right_name: &str, left: &str, right: &str) -> String {
    let left_lines: Vec<&str> = left.lines().collect();
    let right_lines: Vec<&str> = right.lines().collect();
    let mut out = format!(
        "<table class=\"sides\"><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>\n",
        escape(left_name),
        escape(right_name)
    );
    // The line at `offset` into `range`, as a cell of the given class; an empty cell past its end.
    let cell = |lines: &[&str], range: &Range<usize>, offset: usize, class: &str| match lines
        .get(range.start + offset)
        .filter(|_| offset < range.len())
    {
        Some(line) => format!("<td class=\"{class}\">{}</td>", escape(line)),
        None => "<td class=\"none\"></td>".to_owned(),
    };
    for op in TextDiff::from_lines(left, right).ops() {
        let (tag, old, new) = op.as_tag_tuple();
        let (row_class, left_class, right_class) = match tag {
            DiffTag::Equal => ("same", "eq", "eq"),
            _ => ("changed", "del", "add"),
        };
        for offset in 0..old.len().max(new.len()) {
            let _ = writeln!(
                out,
                "<tr class=\"{row_class}\">{}{}</tr>",
                cell(&left_lines, &old, offset, left_class),
                cell(&right_lines, &new, offset, right_class),
            );
        }
    }
    out.push_str("</tbody></table>\n");
    out
}

/// The transcript as a timeline: one row per line, in the order things happened; the server,
/// each client and the scenario's HTTP calls as columns (lanes), the time since the scenario
/// started on the left. An arrow in the server's lane says which way the packet went.
fn timeline(lines: &[TimedLine]) -> String {
    if lines.is_empty() {
        return "<p class=\"none\">No timeline: nothing was recorded.</p>\n".to_owned();
    }
    let mut lanes: Vec<Option<&str>> = Vec::new();
    for line in lines {
        let lane = line.client.as_deref();
        if !lanes.contains(&lane) {
            lanes.push(lane);
        }
    }
    // Clients in order of first appearance, then the HTTP calls.
    lanes.sort_by_key(|lane| lane.is_none());
    let mut out = String::from(
        "<table class=\"timeline\"><caption>timeline: ms since the scenario started; &#9654; from the server, &#9664; to it</caption><thead><tr><th class=\"num\">ms</th><th class=\"server\">server</th>",
    );
    for lane in &lanes {
        let _ = write!(
            out,
            "<th>{}</th>",
            lane.map_or_else(
                || "HTTP".to_owned(),
                |name| format!("client {}", escape(name))
            )
        );
    }
    out.push_str("</tr></thead><tbody>\n");
    for line in lines {
        let arrow = match line.flow {
            Flow::ToServer => "<span class=\"to\" title=\"to the server\">&#9664;</span>",
            Flow::FromServer => "<span class=\"from\" title=\"from the server\">&#9654;</span>",
            Flow::Local => "",
        };
        let _ = write!(
            out,
            "<tr><td class=\"num\">{:.1}</td><td class=\"server\">{arrow}</td>",
            line.at.as_secs_f64() * 1000.0
        );
        for lane in &lanes {
            if *lane == line.client.as_deref() {
                let _ = write!(
                    out,
                    "<td class=\"{}\">{}</td>",
                    flow_class(line.flow),
                    escape(&line.text)
                );
            } else {
                out.push_str("<td></td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out
}

fn flow_class(flow: Flow) -> &'static str {
    match flow {
        Flow::ToServer => "to",
        Flow::FromServer => "from",
        Flow::Local => "local",
    }
}

fn transcript_text(transcript: &str) -> String {
    if transcript.is_empty() {
        return String::new();
    }
    format!(
        "<details><summary>transcript (snapshot text)</summary><pre class=\"transcript\">{}</pre></details>\n",
        escape(transcript)
    )
}

fn status_class(outcome: &Outcome) -> &'static str {
    if outcome.passed() { "passed" } else { "failed" }
}

fn badge(outcome: &Outcome) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        status_class(outcome),
        mark(outcome)
    )
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// Anything shaped like a JWT (three base64url parts, the first a JSON header).
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*").expect("a valid pattern")
});

/// Text for the page: tokens removed, then every character HTML gives a meaning escaped.
fn escape(text: &str) -> String {
    let text = JWT.replace_all(text, "<jwt>");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 0 0 .6rem; }
h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
code, pre, .timeline td, .sides td { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 12.5px; }
.summary { margin: 0 0 1rem; }
.pass { color: #17692f; } .fail { color: #a3161b; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .2rem .5rem; vertical-align: top; }
thead th { border-bottom: 1px solid #9aa3b5; background: #f2f4f8; }
.overview { margin-bottom: 1.5rem; }
.overview tr + tr td { border-top: 1px solid #e4e7ee; }
.num { text-align: right; white-space: nowrap; color: #5b6478; }
.badge { display: inline-block; min-width: 4.5em; text-align: center; border-radius: 3px; padding: 0 .3em; font-size: 12px; font-weight: 600; }
.badge.passed { background: #d9f2df; color: #17692f; }
.badge.failed { background: #fbdcdc; color: #a3161b; }
.scenario { border: 1px solid #d5dae4; border-left: 5px solid #3c9a57; border-radius: 4px; padding: .8rem 1rem; margin: 0 0 1.2rem; }
.scenario.failed { border-left-color: #c9302c; }
.file, .time { font-weight: normal; color: #5b6478; font-size: .9rem; }
pre { background: #f6f7fa; padding: .5rem .7rem; overflow-x: auto; margin: .3rem 0 .8rem; white-space: pre-wrap; word-break: break-word; }
pre.why { background: #fff5f5; }
.diff span { display: block; min-height: 1.2em; }
.diff .add, .sides td.add, span.add { background: #dcf5e1; color: #0f5323; }
.diff .del, .sides td.del, span.del { background: #fde0e0; color: #8c1116; }
.diff .hunk { color: #6a4bb3; } .diff .head { color: #5b6478; }
.timeline { margin: .3rem 0 .8rem; width: 100%; }
.timeline td { border-top: 1px solid #eef0f4; white-space: pre-wrap; word-break: break-word; }
.timeline td.num { white-space: nowrap; }
.timeline .server { width: 2.5em; text-align: center; background: #f2f4f8; }
.timeline td.to { color: #1f4f99; } .timeline td.from { color: #1d2330; } .timeline td.local { color: #7a6500; font-style: italic; }
span.to { color: #1f4f99; } span.from { color: #17692f; }
.sides { width: 100%; table-layout: fixed; margin: .3rem 0 .8rem; }
.sides td { white-space: pre-wrap; word-break: break-word; border-top: 1px solid #eef0f4; }
.sides tr.changed td.none { background: #f2f4f8; }
caption { text-align: left; color: #5b6478; padding: .2rem 0; }
summary { cursor: pointer; color: #1f4f99; margin: .2rem 0; }
p.none { color: #5b6478; }
";

#[cfg(test)]
mod tests {
    use super::*;

    fn result(scenario: &str, outcome: Outcome, transcript: &str) -> ScenarioResult {
        ScenarioResult {
            file: "scenarios/x.yaml".into(),
            scenario: scenario.into(),
            target: "rust".into(),
            outcome,
            transcript: transcript.into(),
            timeline: transcript
                .lines()
                .filter(|l| l.starts_with("  "))
                .enumerate()
                .map(|(i, l)| TimedLine {
                    client: Some("alice".into()),
                    at: Duration::from_millis(i as u64 * 5),
                    flow: Flow::FromServer,
                    text: l.trim().into(),
                })
                .collect(),
            duration: Duration::from_millis(12),
            server_log: Some("/tmp/sio-harness-logs/rust-1-0.log".into()),
        }
    }

    #[test]
    fn user_data_and_tokens_are_escaped_and_removed() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl";
        let transcript =
            format!("client alice\n  event / chat [\"<script>alert(1)</script>\",\"{token}\"]\n");
        let page = run_page(
            "rust",
            &[result("<b>name</b>", Outcome::Passed, &transcript)],
        );
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<b>name"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("server log: <code>/tmp/sio-harness-logs/rust-1-0.log</code>"));
        assert!(
            !page.contains("eyJhbGciOiJIUzI1NiJ9"),
            "a token reached the page"
        );
        assert!(page.contains("&lt;jwt&gt;"));
    }

    #[test]
    fn a_snapshot_difference_is_shown_line_by_line() {
        let diff = crate::snapshot::diff(
            "client a\n  event / x [1]\n",
            "client a\n  event / x [2]\n",
            "snapshot",
            "this run",
        );
        let outcome = Outcome::SnapshotDiffers {
            diff,
            pending: None,
        };
        let page = run_page(
            "rust",
            &[result("s", outcome, "client a\n  event / x [2]\n")],
        );
        assert!(
            page.contains("<span class=\"del\">-  event / x [1]</span>"),
            "{page}"
        );
        assert!(
            page.contains("<span class=\"add\">+  event / x [2]</span>"),
            "{page}"
        );
        assert!(page.contains("1 failed"));
    }

    #[test]
    fn a_diff_page_aligns_both_transcripts_and_marks_what_differs() {
        let left = result(
            "s",
            Outcome::Passed,
            "client a\n  connect /\n  event / x [1]\n",
        );
        let right = result(
            "s",
            Outcome::Passed,
            "client a\n  connect /\n  event / x [2]\n",
        );
        let page = diff_page("node", "rust", &[(&left, &right)]);
        assert!(page.contains("<tr class=\"same\"><td class=\"eq\">  connect /</td><td class=\"eq\">  connect /</td></tr>"), "{page}");
        assert!(page.contains("<tr class=\"changed\"><td class=\"del\">  event / x [1]</td><td class=\"add\">  event / x [2]</td></tr>"), "{page}");
        assert!(page.contains("1 differ"));
    }

    #[test]
    fn the_timeline_has_a_lane_per_client_and_for_http_calls() {
        let lines = vec![
            TimedLine {
                client: None,
                at: Duration::from_millis(1),
                flow: Flow::ToServer,
                text: "GET /x -> 200 {}".into(),
            },
            TimedLine {
                client: Some("bob".into()),
                at: Duration::from_millis(3),
                flow: Flow::FromServer,
                text: "event / hi []".into(),
            },
        ];
        let table = timeline(&lines);
        let header = table.split("</thead>").next().unwrap_or_default();
        assert!(
            header.contains("<th class=\"server\">server</th><th>client bob</th><th>HTTP</th>"),
            "{header}"
        );
        assert!(table.contains("<td class=\"num\">3.0</td>"), "{table}");
    }
}
