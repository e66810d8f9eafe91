//! Snapshots in insta's `.snap` format, one per scenario, so `cargo insta review` works.
//!
//! A run compares each transcript with `<dir>/<file>__<scenario>.snap`. On a mismatch (or a
//! missing snapshot) it writes the new transcript beside it as `.snap.new` for review, unless
//! running in CI; with `--update` (or `INSTA_UPDATE=always`) it overwrites the `.snap`.

use std::path::{Path, PathBuf};

use similar::TextDiff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Overwrite snapshots with what ran.
    Always,
    /// Write `.snap.new` beside a mismatch, for review.
    New,
    /// Write nothing (CI).
    No,
}

impl UpdateMode {
    /// From `--update`, then `INSTA_UPDATE`, then `CI`.
    pub fn from_env(update_flag: bool) -> Self {
        if update_flag {
            return UpdateMode::Always;
        }
        match std::env::var("INSTA_UPDATE").as_deref() {
            Ok("always") => UpdateMode::Always,
            Ok("no") => UpdateMode::No,
            Ok("new") => UpdateMode::New,
            _ if std::env::var_os("CI").is_some() => UpdateMode::No,
            _ => UpdateMode::New,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Matched,
    /// Written (update mode, or a first snapshot with `--update`).
    Written,
    Missing {
        pending: Option<PathBuf>,
    },
    Differs {
        diff: String,
        pending: Option<PathBuf>,
    },
}

/// The snapshot file of a scenario.
pub fn path_for(dir: &Path, scenario_file: &str, scenario: &str) -> PathBuf {
    let stem = Path::new(scenario_file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenarios");
    dir.join(format!("{}__{}.snap", slug(stem), slug(scenario)))
}

/// Lowercase ASCII words joined by `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn render_file(source: &str, scenario: &str, transcript: &str) -> String {
    let expression = serde_json::to_string(scenario).unwrap_or_default();
    format!("---\nsource: {source}\nexpression: {expression}\n---\n{transcript}")
}

/// The transcript part of a `.snap` file.
pub fn body(file_text: &str) -> &str {
    let mut parts = file_text.splitn(3, "---\n");
    let (_, _, body) = (parts.next(), parts.next(), parts.next());
    body.unwrap_or(file_text)
}

/// Compares `transcript` with the scenario's snapshot and writes what `mode` says.
pub fn check(
    path: &Path,
    source: &str,
    scenario: &str,
    transcript: &str,
    mode: UpdateMode,
) -> std::io::Result<Verdict> {
    let pending_path = PathBuf::from(format!("{}.new", path.display()));
    let existing = std::fs::read_to_string(path).ok();
    if existing.as_deref().map(body) == Some(transcript) {
        let _ = std::fs::remove_file(&pending_path);
        return Ok(Verdict::Matched);
    }
    let content = render_file(source, scenario, transcript);
    match mode {
        UpdateMode::Always => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, content)?;
            let _ = std::fs::remove_file(&pending_path);
            return Ok(Verdict::Written);
        }
        UpdateMode::New => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&pending_path, content)?;
        }
        UpdateMode::No => {}
    }
    let pending = (mode == UpdateMode::New).then_some(pending_path);
    Ok(match existing {
        None => Verdict::Missing { pending },
        Some(old) => Verdict::Differs {
            diff: diff(body(&old), transcript, "snapshot", "this run"),
            pending,
        },
    })
}

/// A unified diff of two transcripts.
pub fn diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_mismatch_and_update() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = path_for(dir.path(), "scenarios/auth.yaml", "Auth: no token!");
        assert!(path.ends_with("auth__auth-no-token.snap"));
        let verdict = check(&path, "scenarios/auth.yaml", "x", "a\n", UpdateMode::New).expect("io");
        assert!(matches!(verdict, Verdict::Missing { pending: Some(_) }));
        assert_eq!(
            check(&path, "s", "x", "a\n", UpdateMode::Always).expect("io"),
            Verdict::Written
        );
        assert_eq!(
            check(&path, "s", "x", "a\n", UpdateMode::No).expect("io"),
            Verdict::Matched
        );
        let Verdict::Differs {
            diff,
            pending: None,
        } = check(&path, "s", "x", "b\n", UpdateMode::No).expect("io")
        else {
            panic!("expected a difference");
        };
        assert!(diff.contains("-a") && diff.contains("+b"), "{diff}");
        let text = std::fs::read_to_string(&path).expect("written");
        assert!(text.starts_with("---\nsource: s\nexpression: \"x\"\n---\n"));
    }
}
