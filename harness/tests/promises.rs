//! docs/promises.md cannot rot: every promise in its table is pinned by at least one scenario,
//! every `# promise:` comment in scenarios/ and every mutant's `promise:` in mutants/ names a
//! promise of the table, and the table's "pinned by" column is what those comments say.
//! `PROMISES_UPDATE=1` rewrites that column.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Scenario files under `dir`, sorted, as paths relative to the repository.
fn scenario_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            scenario_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "yaml") {
            found.push(path);
        }
    }
}

/// Promise id to the scenarios (`file :: name`) whose comment names it; and the comments'
/// problems (a comment with no scenario after it).
fn pins() -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let root = repo();
    let mut files = Vec::new();
    scenario_files(&root.join("scenarios"), &mut files);
    let mut pins: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).expect("a scenario file");
        let rel = path
            .strip_prefix(&root)
            .expect("under the repository")
            .display()
            .to_string();
        let mut pending: Option<(usize, Vec<String>)> = None;
        for (index, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if let Some(ids) = trimmed.strip_prefix("# promise:") {
                let ids = ids.split_whitespace().map(str::to_owned).collect();
                pending = Some((index + 1, ids));
            } else if let Some(name) = trimmed
                .strip_prefix("- name:")
                .or_else(|| trimmed.strip_prefix("name:"))
                && let Some((_, ids)) = pending.take()
            {
                let name = name.trim().trim_matches('"');
                for id in ids {
                    pins.entry(id).or_default().push(format!("{rel} :: {name}"));
                }
            }
        }
        if let Some((line, _)) = pending {
            problems.push(format!(
                "{rel}:{line}: a `# promise:` comment with no scenario after it"
            ));
        }
    }
    (pins, problems)
}

fn cell(scenarios: &[String]) -> String {
    scenarios
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join("<br>")
}

#[test]
fn every_promise_is_pinned_and_every_pin_names_a_promise() {
    let doc_path = repo().join("docs/promises.md");
    let doc = fs::read_to_string(&doc_path).expect("docs/promises.md");
    let (pins, mut problems) = pins();
    let mut rewritten = Vec::new();
    let mut ids = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split(" | ").collect();
        let id = cells
            .first()
            .and_then(|c| c.strip_prefix("| "))
            .filter(|c| c.starts_with("P-"));
        let Some(id) = id else {
            rewritten.push(line.to_owned());
            continue;
        };
        assert!(
            cells.len() == 4,
            "docs/promises.md: the row of {id} needs 4 cells (id, promise, where, pinned by): {line}"
        );
        if ids.iter().any(|seen| seen == id) {
            problems.push(format!("docs/promises.md: {id} twice"));
        }
        ids.push(id.to_owned());
        let want = pins.get(id).map(|s| cell(s)).unwrap_or_default();
        if want.is_empty() {
            problems.push(format!(
                "docs/promises.md: {id} is pinned by no scenario (add `# promise: {id}` above one)"
            ));
        }
        let have = cells[3].trim_end_matches('|').trim();
        if have != want {
            problems.push(format!(
                "docs/promises.md: the pinned-by cell of {id} is {have:?}, the scenarios say {want:?}"
            ));
        }
        rewritten.push(format!("| {id} | {} | {} | {want} |", cells[1], cells[2]));
    }
    for (id, scenarios) in &pins {
        if !ids.contains(id) {
            problems.push(format!(
                "{}: names {id}, which docs/promises.md does not have",
                scenarios[0]
            ));
        }
    }
    for list in ["mutants/node.yaml", "mutants/rust.yaml"] {
        let text = fs::read_to_string(repo().join(list)).expect("a mutant list");
        for (index, line) in text.lines().enumerate() {
            if let Some(id) = line.trim_start().strip_prefix("promise:") {
                let id = id.trim();
                if !ids.iter().any(|known| known == id) {
                    problems.push(format!(
                        "{list}:{}: a mutant of {id}, which docs/promises.md does not have",
                        index + 1
                    ));
                }
            }
        }
    }
    if std::env::var_os("PROMISES_UPDATE").is_some() {
        let mut text = rewritten.join("\n");
        text.push('\n');
        fs::write(&doc_path, text).expect("write docs/promises.md");
        problems.retain(|p| !p.contains("pinned-by cell"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
