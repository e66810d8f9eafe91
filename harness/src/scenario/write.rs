//! The one scenario writer: a [`Draft`] (a scenario's name, tokens, settings and steps, each
//! step the same AST the parser gives) becomes YAML that parses back to it. `record`, the fuzz
//! reproducer and differential shrinking all write through it; each step family says how it is
//! written (its `Serialize`, defaults left out), this file only lays the document out: comment
//! lines on top, the scenario's keys, then `steps:` with one block per step, a step's comment
//! lines above it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Step, TokenSpec};

/// A scenario to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    /// Written as `# ` comment lines at the top of the file, one per line of this text.
    pub header: String,
    pub name: String,
    pub description: Option<String>,
    pub tokens: BTreeMap<String, TokenSpec>,
    pub merge_transport_reasons: bool,
    pub steps: Vec<DraftStep>,
}

/// A step and the comment written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftStep {
    /// `# ` comment lines above the step, one per line of this text; empty for none.
    pub comment: String,
    pub step: Step,
}

impl From<Step> for DraftStep {
    fn from(step: Step) -> Self {
        Self {
            comment: String::new(),
            step,
        }
    }
}

/// A draft the YAML serializer refused (a value YAML cannot hold).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct WriteError(#[from] serde_saphyr::SerializeError);

/// The scenario's own keys, in the order they are written.
#[derive(Serialize)]
struct Head<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tokens: &'a BTreeMap<String, TokenSpec>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    merge_transport_reasons: bool,
}

impl Draft {
    /// The scenario as YAML.
    pub fn write(&self) -> Result<String, WriteError> {
        let mut yaml = comment_lines(&self.header);
        yaml.push_str(&serde_saphyr::to_string(&Head {
            name: &self.name,
            description: self.description.as_deref(),
            tokens: &self.tokens,
            merge_transport_reasons: self.merge_transport_reasons,
        })?);
        yaml.push_str("steps:\n");
        for step in &self.steps {
            yaml.push_str(&comment_lines(&step.comment));
            // A one-item list lays the step out as it would be inside the whole `steps` list.
            yaml.push_str(&serde_saphyr::to_string(&[&step.step])?);
        }
        Ok(yaml)
    }
}

fn comment_lines(text: &str) -> String {
    text.lines().map(|line| format!("# {line}\n")).collect()
}
