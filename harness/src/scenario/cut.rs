//! `cut` (a client's connections reset, or blackholed, at its proxy) and `restore` (its link
//! back).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::is_default;
use super::parse::Clients;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CutMode {
    /// Reset every connection of the client, and refuse new ones until `restore`.
    #[default]
    Reset,
    /// Keep connections open but let no byte through, so only a ping timeout can tell.
    Blackhole,
}

impl From<CutMode> for crate::proxy::Cut {
    fn from(mode: CutMode) -> Self {
        match mode {
            CutMode::Reset => Self::Reset,
            CutMode::Blackhole => Self::Blackhole,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CutStep {
    pub client: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: CutMode,
}

impl CutStep {
    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        clients.uses([self.client.as_str()])
    }
}

/// `restore: {client: a}`: what a step naming only a client says.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRef {
    pub client: String,
}

impl ClientRef {
    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        clients.uses([self.client.as_str()])
    }
}
