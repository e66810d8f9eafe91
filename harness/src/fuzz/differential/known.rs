//! Declared differences: documented ones (docs/compatibility.md) that the differential fuzzer
//! counts as known instead of failing on. A file lists each with a description and the texts
//! that identify its lines among those where the two transcripts differ:
//!
//! ```yaml
//! known:
//!   - description: "unknown polling sid: code 1 as a number (Node) or a string (Rust)"
//!     compatibility: 15
//!     matches: ['"code":1', '"code":"1"']
//! ```
//!
//! A difference is known only when every one of its differing lines contains one of the
//! declared texts, so a known difference does not hide another one in the same sequence.

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDifference {
    pub description: String,
    /// The row of docs/compatibility.md that documents it.
    #[serde(default)]
    pub compatibility: Option<u32>,
    /// Substrings of the differing transcript lines (or failure messages) this difference makes.
    pub matches: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDifferences {
    #[serde(default)]
    pub known: Vec<KnownDifference>,
}

#[derive(Debug, thiserror::Error)]
pub enum KnownError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: entry {index} has an empty `matches` or an empty text in it")]
    Empty { path: String, index: usize },
}

impl KnownDifferences {
    pub fn load(path: &Path) -> Result<Self, KnownError> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KnownError::Read {
            path: label.clone(),
            source,
        })?;
        Self::parse(&label, &text)
    }

    pub fn parse(label: &str, text: &str) -> Result<Self, KnownError> {
        let parsed: Self = serde_saphyr::from_str(text).map_err(|e| KnownError::Parse {
            path: label.to_owned(),
            message: e.to_string(),
        })?;
        if let Some(index) = parsed
            .known
            .iter()
            .position(|k| k.matches.is_empty() || k.matches.iter().any(String::is_empty))
        {
            return Err(KnownError::Empty {
                path: label.to_owned(),
                index: index + 1,
            });
        }
        Ok(parsed)
    }

    /// The declared difference that `differing_lines` show, if every line is declared.
    pub fn find(&self, differing_lines: &[&str]) -> Option<&KnownDifference> {
        let declaring = |line: &str| {
            self.known.iter().find(|known| {
                known
                    .matches
                    .iter()
                    .any(|text| line.contains(text.as_str()))
            })
        };
        let first = declaring(differing_lines.first()?)?;
        differing_lines
            .iter()
            .all(|line| declaring(line).is_some())
            .then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "known:\n  - description: code as a string\n    compatibility: 15\n    matches: ['\"code\":1', '\"code\":\"1\"']\n";
    const LINES: [&str; 2] = [
        "-  GET /x -> 400 {\"code\":1}",
        "+  GET /x -> 400 {\"code\":\"1\"}",
    ];

    #[test]
    fn a_declared_difference_is_found_by_its_texts() {
        let known = KnownDifferences::parse("k.yaml", FILE).unwrap_or_default();
        assert_eq!(known.known.len(), 1);
        let found = known.find(&LINES);
        assert_eq!(found.map(|k| k.compatibility), Some(Some(15)));
        assert!(known.find(&["+  event / other []"]).is_none());
        assert!(known.find(&[]).is_none());
    }

    #[test]
    fn a_declared_difference_does_not_hide_another_one() {
        let known = KnownDifferences::parse("k.yaml", FILE).unwrap_or_default();
        let lines = [LINES[0], LINES[1], "+  event / notification:new []"];
        assert!(known.find(&lines).is_none());
    }

    #[test]
    fn unknown_keys_and_empty_texts_are_errors() {
        let extra = "known:\n  - { description: x, matches: [y], extra: 1 }\n";
        assert!(matches!(
            KnownDifferences::parse("k.yaml", extra),
            Err(KnownError::Parse { .. })
        ));
        let empty = "known:\n  - { description: x, matches: [a, ''] }\n";
        assert!(matches!(
            KnownDifferences::parse("k.yaml", empty),
            Err(KnownError::Empty { index: 1, .. })
        ));
    }
}
