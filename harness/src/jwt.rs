//! Minting JWTs for scenarios, including deliberately bad ones: a wrong secret, `alg: none`,
//! another algorithm, a tampered payload, an expired or expiry-less token.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

use crate::scenario::TokenSpec;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("unsupported algorithm {0:?}: use HS256, HS384, HS512 or none")]
    Algorithm(String),
    #[error("no secret: give the target a secret, set JWT_SECRET, or put `secret:` on the token")]
    NoSecret,
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Mints the token `spec` describes, signed with `spec.secret` or else `default_secret`.
pub fn mint(spec: &TokenSpec, default_secret: Option<&str>) -> Result<String, JwtError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut claims = Map::new();
    if let Some(user) = &spec.user {
        claims.insert("userId".into(), json!(user));
    }
    claims.insert("iat".into(), json!(now));
    if let Some(expires_in) = spec.expires_in {
        claims.insert("exp".into(), json!(now + expires_in.0.div_euclid(1000)));
    }
    for (key, value) in &spec.claims {
        claims.insert(key.clone(), value.clone());
    }
    let claims = Value::Object(claims);

    let token = if spec.alg.eq_ignore_ascii_case("none") {
        format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(claims.to_string())
        )
    } else {
        let algorithm = match spec.alg.as_str() {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            other => return Err(JwtError::Algorithm(other.to_owned())),
        };
        let secret = spec
            .secret
            .as_deref()
            .or(default_secret)
            .ok_or(JwtError::NoSecret)?;
        jsonwebtoken::encode(
            &Header::new(algorithm),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .map_err(|e| JwtError::Sign(e.to_string()))?
    };
    Ok(if spec.tamper {
        tamper(&token, &claims)
    } else {
        token
    })
}

/// Swaps the payload for one that claims more, keeping the old signature.
fn tamper(token: &str, claims: &Value) -> String {
    let mut parts = token.splitn(3, '.');
    let header = parts.next().unwrap_or_default();
    let _payload = parts.next();
    let signature = parts.next().unwrap_or_default();
    let mut forged = claims.clone();
    if let Some(map) = forged.as_object_mut() {
        map.insert("role".into(), json!("admin"));
    }
    format!("{header}.{}.{signature}", B64.encode(forged.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::SignedMillis;
    use jsonwebtoken::{DecodingKey, Validation};

    fn spec() -> TokenSpec {
        TokenSpec::for_user("user-1", std::time::Duration::from_secs(3600))
    }

    fn verify(token: &str, secret: &str) -> bool {
        jsonwebtoken::decode::<Value>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &Validation::new(Algorithm::HS256),
        )
        .is_ok()
    }

    #[test]
    fn good_and_bad_tokens() {
        let secret = "a-secret-of-at-least-thirty-two-bytes!!";
        assert!(verify(&mint(&spec(), Some(secret)).expect("mints"), secret));
        let expired = TokenSpec {
            expires_in: Some(SignedMillis(-3_600_000)),
            ..spec()
        };
        assert!(!verify(
            &mint(&expired, Some(secret)).expect("mints"),
            secret
        ));
        let tampered = TokenSpec {
            tamper: true,
            ..spec()
        };
        assert!(!verify(
            &mint(&tampered, Some(secret)).expect("mints"),
            secret
        ));
        let wrong = TokenSpec {
            secret: Some("another-secret-also-thirty-two-bytes".into()),
            ..spec()
        };
        assert!(!verify(&mint(&wrong, Some(secret)).expect("mints"), secret));
        let none = mint(
            &TokenSpec {
                alg: "none".into(),
                ..spec()
            },
            None,
        )
        .expect("mints");
        assert!(none.ends_with('.') && !verify(&none, secret));
        assert_eq!(mint(&spec(), None), Err(JwtError::NoSecret));
        assert!(matches!(
            mint(
                &TokenSpec {
                    alg: "RS256".into(),
                    ..spec()
                },
                Some(secret)
            ),
            Err(JwtError::Algorithm(_))
        ));
    }
}
