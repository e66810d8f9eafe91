//! `disconnect`: a client leaving one namespace, or closing altogether.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parse::Clients;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectStep {
    pub client: String,
    /// Only this namespace; default: the whole client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl DisconnectStep {
    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        clients.uses([self.client.as_str()])
    }
}
