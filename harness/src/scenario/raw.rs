//! `raw`: a WebSocket frame the client sends as it is (text, repeated text between a prefix and
//! a suffix, or base64 bytes as a binary frame), for malformed and oversized input.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parse::Clients;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub client: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64 bytes sent as a binary frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Repeat `text` this many times (oversized payloads), between `prefix` and `suffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_text: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

impl RawStep {
    /// `client` sending `text` as one text frame.
    pub fn text(client: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::empty(client)
        }
    }

    /// `client` sending the bytes `base64` encodes as one binary frame.
    pub fn binary(client: impl Into<String>, base64: impl Into<String>) -> Self {
        Self {
            binary: Some(base64.into()),
            ..Self::empty(client)
        }
    }

    fn empty(client: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            text: None,
            binary: None,
            repeat_text: None,
            prefix: None,
            suffix: None,
        }
    }

    pub(super) fn check(&self, clients: &Clients<'_>) -> Result<(), String> {
        if self.text.is_some() == self.binary.is_some() {
            return Err("`raw` takes exactly one of `text` and `binary`".into());
        }
        clients.uses([self.client.as_str()])
    }
}
