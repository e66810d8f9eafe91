//! Declared differences: documented ones (docs/compatibility.md) that the differential fuzzer
//! counts as known instead of failing on. A file lists each with a description and a text that
//! identifies it in the lines where the two transcripts differ:
//!
//! ```yaml
//! known:
//!   - description: "unknown polling sid: code 1 as a number (Node) or a string (Rust)"
//!     compatibility: 15
//!     matches: '"code":'
//! ```

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDifference {
    pub description: String,
    /// The row of docs/compatibility.md that documents it.
    #[serde(default)]
    pub compatibility: Option<u32>,
    /// A substring of a differing transcript line (or of a failure message).
    pub matches: String,
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
    #[error("{path}: entry {index} has an empty `matches`, which would match every difference")]
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
        if let Some(index) = parsed.known.iter().position(|k| k.matches.is_empty()) {
            return Err(KnownError::Empty {
                path: label.to_owned(),
                index: index + 1,
            });
        }
        Ok(parsed)
    }

    /// The declared difference that `differing_lines` show, if any.
    pub fn find(&self, differing_lines: &[&str]) -> Option<&KnownDifference> {
        self.known.iter().find(|known| {
            differing_lines
                .iter()
                .any(|line| line.contains(known.matches.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "known:\n  - description: code as a string\n    compatibility: 15\n    matches: '\"code\":\"1\"'\n";

    #[test]
    fn a_declared_difference_is_found_by_its_text() {
        let known = KnownDifferences::parse("k.yaml", FILE).unwrap_or_default();
        assert_eq!(known.known.len(), 1);
        let found = known.find(&[
            "-  GET /x -> 400 {\"code\":1}",
            "+  GET /x -> 400 {\"code\":\"1\"}",
        ]);
        assert_eq!(found.map(|k| k.compatibility), Some(Some(15)));
        assert!(known.find(&["+  event / other []"]).is_none());
    }

    #[test]
    fn unknown_keys_and_empty_texts_are_errors() {
        assert!(
            KnownDifferences::parse(
                "k.yaml",
                "known:\n  - { description: x, matches: y, extra: 1 }\n"
            )
            .is_err()
        );
        let empty =
            KnownDifferences::parse("k.yaml", "known:\n  - { description: x, matches: '' }\n");
        assert!(matches!(empty, Err(KnownError::Empty { index: 1, .. })));
    }
}
