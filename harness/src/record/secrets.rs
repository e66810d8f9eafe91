//! Keeping secrets out of a recorded scenario. A JWT the client sent (in `auth`, an
//! `Authorization` header, a body or an argument) is decoded without verification and becomes a
//! `tokens:` entry built from its claims, with its times relative to the moment it was used, so
//! the replay mints an equivalent token with the target's secret. Any other value under a
//! secret-looking key (`password`, `secret`, `apiKey`, `cookie`, an opaque `token`) becomes a
//! `{{variable}}` the replay is given with `--var`. The raw text is never kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};

use crate::scenario::{SignedMillis, TokenSpec};

/// The decoded parts of a JWT; `None` for anything that is not one.
pub fn decode_jwt(text: &str) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let mut parts = text.split('.');
    let (header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decode = |part: &str| -> Option<Map<String, Value>> {
        let bytes = B64.decode(part.trim_end_matches('=')).ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    let header = decode(header)?;
    header.get("alg")?;
    Some((header, decode(payload)?))
}

/// Whether a string is a JWT, for expectations (a token the server hands out changes each time).
pub fn is_jwt(text: &str) -> bool {
    decode_jwt(text).is_some()
}

/// Whether a key names a secret (`password`, `apiKey`, `token`, ...): its value is never written.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "password",
        "passwd",
        "secret",
        "apikey",
        "credential",
        "cookie",
        "token",
        "session",
        "authorization",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// The `tokens:` entry that mints a token like this one: `userId`, `sub`, `iss` and `aud` as
/// their keys, other claims under `claims`, times relative to `now` (seconds since the epoch).
fn token_spec(header: &Map<String, Value>, claims: &Map<String, Value>, now: i64) -> TokenSpec {
    let mut spec = TokenSpec {
        // Absent from the token unless its claims say otherwise.
        expires_in: None,
        issued_at: None,
        ..TokenSpec::default()
    };
    let relative = |value: &Value| {
        value
            .as_i64()
            .map(|at| SignedMillis(at.saturating_sub(now).saturating_mul(1000)))
    };
    for (key, value) in claims {
        match (key.as_str(), value) {
            ("userId", Value::String(user)) => spec.user = Some(user.clone()),
            ("sub", Value::String(sub)) => spec.sub = Some(sub.clone()),
            ("iss", Value::String(iss)) => spec.iss = Some(iss.clone()),
            ("aud", _) => spec.aud = Some(value.clone()),
            ("exp", _) => spec.expires_in = relative(value),
            ("nbf", _) => spec.not_before = relative(value),
            // A token issued a moment ago is what the default (`issued_at: 0`) mints.
            ("iat", _) => match value.as_i64() {
                Some(at) if (at - now).abs() > 60 => spec.issued_at = relative(value),
                Some(_) => spec.issued_at = Some(SignedMillis(0)),
                // Kept as it is among the claims, after the default `iat` of a minted token.
                None => {
                    spec.issued_at = Some(SignedMillis(0));
                    spec.claims.insert(key.clone(), value.clone());
                }
            },
            _ => {
                spec.claims.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(alg) = header.get("alg").and_then(Value::as_str) {
        spec.alg = alg.to_owned();
    }
    spec
}

/// The secrets met while writing a scenario, and the names that replace them.
#[derive(Debug, Default)]
pub struct Vault {
    /// Seconds since the epoch when the recording ended.
    now: i64,
    tokens: BTreeMap<String, TokenSpec>,
    by_raw: HashMap<String, String>,
    /// Variables the replay needs from `--var`.
    vars: BTreeSet<String>,
}

impl Vault {
    pub fn new(now: i64) -> Self {
        Self {
            now,
            ..Self::default()
        }
    }

    /// The `tokens:` name of a JWT (a new entry the first time, named `preferred` or its user),
    /// `None` if `raw` is not a JWT.
    pub fn token(&mut self, raw: &str, preferred: Option<&str>) -> Option<String> {
        if let Some(name) = self.by_raw.get(raw) {
            return Some(name.clone());
        }
        let (header, claims) = decode_jwt(raw)?;
        let base = preferred
            .map(str::to_owned)
            .or_else(|| {
                claims
                    .get("userId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .or_else(|| claims.get("sub").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "token".to_owned());
        let name = unique(&identifier(&base), |n| self.tokens.contains_key(n));
        self.tokens
            .insert(name.clone(), token_spec(&header, &claims, self.now));
        self.by_raw.insert(raw.to_owned(), name.clone());
        Some(name)
    }

    /// A string or number the client sent under `key`: a JWT (or `Bearer` JWT) becomes its
    /// token's `{{name}}`, any other value under a secret-looking key a `{{variable}}`; other
    /// values are kept.
    pub fn scrub(&mut self, key: Option<&str>, value: &Value, preferred: Option<&str>) -> Value {
        if let Value::String(text) = value {
            if let Some(name) = self.token(text, preferred) {
                return json!(format!("{{{{{name}}}}}"));
            }
            if let Some(raw) = text.strip_prefix("Bearer ")
                && let Some(name) = self.token(raw, preferred)
            {
                return json!(format!("Bearer {{{{{name}}}}}"));
            }
        }
        match key {
            Some(key) if is_secret_key(key) && !value.is_null() && !value.is_boolean() => {
                self.variable(key)
            }
            _ => value.clone(),
        }
    }

    fn variable(&mut self, key: &str) -> Value {
        let name = identifier(key);
        self.vars.insert(name.clone());
        json!(format!("{{{{{name}}}}}"))
    }

    /// Whether `name` is taken by a token.
    pub fn has_token(&self, name: &str) -> bool {
        self.tokens.contains_key(name)
    }

    /// The `tokens:` section, and the variables the replay needs.
    pub fn finish(self) -> (BTreeMap<String, TokenSpec>, BTreeSet<String>) {
        (self.tokens, self.vars)
    }
}

/// `text` usable as a client, token or variable name: letters, digits, `-` and `_` (a `.` would
/// be read as a path into a variable).
pub fn identifier(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "client".to_owned()
    } else {
        name
    }
}

/// `base`, or `base-2`, `base-3`… the first that `taken` refuses.
pub fn unique(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        let header = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        format!("{header}.{}.c2lnbmF0dXJl", B64.encode(claims.to_string()))
    }

    #[test]
    fn a_token_becomes_its_claims_with_relative_times() {
        let now = 1_800_000_000;
        let raw =
            jwt(json!({"userId": "user-1", "role": "admin", "iat": now - 5, "exp": now + 3595}));
        let mut vault = Vault::new(now);
        assert_eq!(vault.token(&raw, None).as_deref(), Some("user-1"));
        assert_eq!(vault.token(&raw, Some("other")).as_deref(), Some("user-1"));
        let (tokens, vars) = vault.finish();
        assert_eq!(
            tokens["user-1"],
            TokenSpec {
                user: Some("user-1".into()),
                claims: [("role".to_owned(), json!("admin"))].into(),
                expires_in: Some(SignedMillis(3_595_000)),
                ..TokenSpec::default()
            }
        );
        assert!(vars.is_empty());
    }

    #[test]
    fn an_expired_token_stays_expired() {
        let now = 1_800_000_000;
        let raw = jwt(json!({"sub": "x", "exp": now - 3600}));
        let mut vault = Vault::new(now);
        vault.token(&raw, Some("late"));
        let (tokens, _) = vault.finish();
        assert_eq!(
            tokens["late"],
            TokenSpec {
                sub: Some("x".into()),
                expires_in: Some(SignedMillis(-3_600_000)),
                issued_at: None,
                ..TokenSpec::default()
            }
        );
    }

    #[test]
    fn secrets_in_sent_values_become_names() {
        let raw = jwt(json!({"userId": "user-2"}));
        let mut vault = Vault::new(0);
        let bearer = json!(format!("Bearer {raw}"));
        assert_eq!(
            vault.scrub(Some("auth"), &bearer, None),
            json!("Bearer {{user-2}}")
        );
        assert_eq!(vault.scrub(None, &json!(raw), None), json!("{{user-2}}"));
        let password = json!("hunter2");
        assert_eq!(
            vault.scrub(Some("password"), &password, None),
            json!("{{password}}")
        );
        assert_eq!(
            vault.scrub(Some("apiKey"), &json!(77), None),
            json!("{{apiKey}}")
        );
        assert_eq!(vault.scrub(Some("pin"), &json!(1234), None), json!(1234));
        assert_eq!(
            vault.scrub(Some("note"), &json!("hello"), None),
            json!("hello")
        );
        let (_, vars) = vault.finish();
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["apiKey", "password"]);
    }

    #[test]
    fn what_is_not_a_jwt_is_not_taken_for_one() {
        assert!(decode_jwt("a.b.c").is_none());
        assert!(decode_jwt("n-alice-1").is_none());
        assert!(decode_jwt(&B64.encode("{}")).is_none());
    }
}
