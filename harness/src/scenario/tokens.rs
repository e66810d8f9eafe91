//! `tokens:`: JWTs minted before the first step (deliberately bad ones included), or fetched
//! from the app's own login endpoint; their checks, and how they are written back.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SignedMillis;
use crate::template::{TemplateError, Vars};

/// A JWT to mint, deliberately bad ones included, or one fetched from the app's own login
/// endpoint (`http`, which then takes no other key). Strings are templates (`{{run.id}}`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Sets the `userId` claim (the claim our servers read; other apps use `sub` or `claims`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The `sub` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The `iss` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The `aud` claim: a string or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    /// Extra or overriding claims.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, Value>,
    /// Lifetime from now; negative for an expired token; `null` for no `exp` at all.
    #[serde(default = "default_expiry", skip_serializing_if = "is_default_expiry")]
    pub expires_in: Option<SignedMillis>,
    /// `nbf` this long from now (negative: in the past); default: no `nbf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<SignedMillis>,
    /// `iat` this long from now (default 0; positive: issued in the future); `null`: no `iat`.
    #[serde(
        default = "default_issued_at",
        skip_serializing_if = "is_default_issued_at"
    )]
    pub issued_at: Option<SignedMillis>,
    /// `HS256` (default), `HS384`, `HS512`, `RS256`/`384`/`512`, `PS256`/`384`/`512`,
    /// `ES256`, `ES384`, `EdDSA`, or `none` in any casing (kept as written in the header).
    #[serde(default = "default_alg", skip_serializing_if = "is_default_alg")]
    pub alg: String,
    /// Sign with this secret instead of the target's (HMAC algorithms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A PEM private key file for RS*, PS*, ES* and EdDSA, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Header fields added or replaced (`kid`, `crit`, `typ`, even `alg`), after `alg`/`typ`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, Value>,
    /// Change the payload after signing, so the signature no longer matches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tamper: bool,
    /// Pad the payload with a `pad` claim until the token is about this many bytes long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_to: Option<usize>,
    /// Fetch the token from the app's login endpoint instead of minting one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<TokenRequest>,
}

/// `tokens: {alice: {http: {method: POST, path: /login, body: {...}, capture: body.token}}}`:
/// a request to the target, and where the token is in `{status, body}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default = "default_post", skip_serializing_if = "is_post")]
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Expected status (default: any 2xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A path into `{status, body}`, e.g. `body.token`; the value must be a string.
    pub capture: String,
}

fn default_post() -> String {
    "POST".to_owned()
}

fn is_post(method: &str) -> bool {
    method == "POST"
}

impl TokenSpec {
    /// The spec with its strings rendered from `vars` (`user: "alice-{{run.id}}"`).
    pub fn rendered(&self, vars: &Vars) -> Result<TokenSpec, TemplateError> {
        let text = |t: &Option<String>| t.as_deref().map(|t| vars.text(t)).transpose();
        let map = |m: &BTreeMap<String, Value>| {
            m.iter()
                .map(|(k, v)| Ok((k.clone(), vars.value(v)?)))
                .collect::<Result<BTreeMap<_, _>, TemplateError>>()
        };
        Ok(TokenSpec {
            user: text(&self.user)?,
            sub: text(&self.sub)?,
            iss: text(&self.iss)?,
            aud: self.aud.as_ref().map(|a| vars.value(a)).transpose()?,
            claims: map(&self.claims)?,
            header: map(&self.header)?,
            ..self.clone()
        })
    }
}

impl Default for TokenSpec {
    /// What an empty YAML map gives: HS256, issued now, valid for an hour, no user.
    fn default() -> Self {
        Self {
            user: None,
            sub: None,
            iss: None,
            aud: None,
            claims: BTreeMap::new(),
            expires_in: default_expiry(),
            not_before: None,
            issued_at: default_issued_at(),
            alg: default_alg(),
            secret: None,
            key: None,
            header: BTreeMap::new(),
            tamper: false,
            pad_to: None,
            http: None,
        }
    }
}

impl TokenSpec {
    /// A valid HS256 token for `user`, expiring after `ttl`.
    pub fn for_user(user: impl Into<String>, ttl: Duration) -> Self {
        Self {
            user: Some(user.into()),
            expires_in: Some(SignedMillis(
                i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            )),
            ..Self::default()
        }
    }

    /// Whether any key that mints a token is set (they make no sense next to `http`).
    pub fn mints(&self) -> bool {
        self.user.is_some()
            || self.sub.is_some()
            || self.iss.is_some()
            || self.aud.is_some()
            || !self.claims.is_empty()
            || !is_default_expiry(&self.expires_in)
            || self.not_before.is_some()
            || !is_default_issued_at(&self.issued_at)
            || !is_default_alg(&self.alg)
            || self.secret.is_some()
            || self.key.is_some()
            || !self.header.is_empty()
            || self.tamper
            || self.pad_to.is_some()
    }

    /// What is wrong with token `name`, if anything.
    pub(super) fn check(&self, name: &str) -> Result<(), String> {
        match &self.http {
            Some(_) if self.mints() => Err(format!(
                "token {name:?}: `http` fetches a token from the app; it takes no other key"
            )),
            Some(request) if !request.path.starts_with('/') => Err(format!(
                "token {name:?}: `path` must start with '/': {:?}",
                request.path
            )),
            _ => Ok(()),
        }
    }
}

fn default_issued_at() -> Option<SignedMillis> {
    Some(SignedMillis(0))
}

fn is_default_issued_at(issued_at: &Option<SignedMillis>) -> bool {
    *issued_at == default_issued_at()
}

fn default_expiry() -> Option<SignedMillis> {
    Some(SignedMillis(3_600_000))
}

fn is_default_expiry(expires_in: &Option<SignedMillis>) -> bool {
    *expires_in == default_expiry()
}

fn default_alg() -> String {
    "HS256".to_owned()
}

fn is_default_alg(alg: &str) -> bool {
    alg == "HS256"
}
