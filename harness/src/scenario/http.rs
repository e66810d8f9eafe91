//! `http`: one request to a node of the target, through its HAProxy, or to a service launched
//! with it, its expected status, headers and body, values captured from the answer, and asking
//! again until it holds (`within`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Millis, Via, check_node_name};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// The cluster node asked; default: the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// A service launched with the target (`services:` in its launch spec), asked instead of
    /// the server: e.g. a fake dependency the scenario changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Asked through the cluster's HAProxy instead of a node, as a browser or a client would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    #[serde(default = "default_method", skip_serializing_if = "is_get")]
    pub method: String,
    pub path: String,
    /// Sent as `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Sent as it is (for malformed bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Headers the answer must carry, with these values (names in any case).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect_headers: BTreeMap<String, String>,
    /// Expected JSON body (matchers allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Asks again, 50 ms apart, until `status` and `expect_body` hold, for up to this long:
    /// for what the server does in the background (a poll, a failover). Only the last answer
    /// is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Millis>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn is_get(method: &str) -> bool {
    method == "GET"
}

impl HttpStep {
    /// `method path` to the first node, expecting nothing in particular.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            node: None,
            service: None,
            via: None,
            method: method.into(),
            path: path.into(),
            token: None,
            headers: BTreeMap::new(),
            body: None,
            raw_body: None,
            status: None,
            expect_headers: BTreeMap::new(),
            expect_body: None,
            partial: false,
            within: None,
            capture: BTreeMap::new(),
        }
    }

    pub(super) fn check(&self) -> Result<(), String> {
        if self.body.is_some() && self.raw_body.is_some() {
            return Err("`http` takes `body` or `raw_body`, not both".into());
        }
        if let Some(node) = &self.node {
            check_node_name(node)?;
        }
        let whom = [
            self.node.is_some(),
            self.service.is_some(),
            self.via.is_some(),
        ];
        if whom.into_iter().filter(|named| *named).count() > 1 {
            return Err("`http` takes one of `node`, `service` and `via`".into());
        }
        if !self.path.starts_with('/') {
            return Err(format!("`path` must start with '/': {:?}", self.path));
        }
        Ok(())
    }
}
