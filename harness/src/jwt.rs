//! Minting JWTs for scenarios, including deliberately bad ones: a wrong or empty secret, `alg:
//! none` in any casing, another algorithm (RSA, ECDSA and EdDSA keys from PEM files), attacker
//! header fields (`kid`, `crit`), a tampered payload, times in the future, a padded giant.
//!
//! The header and payload are built here as JSON and only the signature comes from
//! `jsonwebtoken`, so a scenario can put anything in either, even what the crate would refuse
//! to write.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

use crate::scenario::TokenSpec;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error(
        "unsupported algorithm {0:?}: use HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA or none"
    )]
    Algorithm(String),
    #[error("no secret: give the target a secret, set JWT_SECRET, or put `secret:` on the token")]
    NoSecret,
    #[error("{0} needs `key:` (a PEM private key file)")]
    NoKey(String),
    /// The key file's path and why it is unusable; never its content.
    #[error("key {path}: {detail}")]
    Key { path: PathBuf, detail: String },
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Mints the token `spec` describes, signed with `spec.secret` or else `default_secret`; a
/// `key` path is relative to the current directory.
pub fn mint(spec: &TokenSpec, default_secret: Option<&str>) -> Result<String, JwtError> {
    mint_in(spec, default_secret, Path::new("."))
}

/// Like [`mint`], with `key` paths relative to `key_dir` (the scenario file's directory).
pub fn mint_in(
    spec: &TokenSpec,
    default_secret: Option<&str>,
    key_dir: &Path,
) -> Result<String, JwtError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let at = |offset_ms: i64| json!(now + offset_ms.div_euclid(1000));
    let mut claims = Map::new();
    if let Some(user) = &spec.user {
        claims.insert("userId".into(), json!(user));
    }
    for (key, value) in [("sub", &spec.sub), ("iss", &spec.iss)] {
        if let Some(value) = value {
            claims.insert(key.into(), json!(value));
        }
    }
    if let Some(aud) = &spec.aud {
        claims.insert("aud".into(), aud.clone());
    }
    if let Some(issued_at) = spec.issued_at {
        claims.insert("iat".into(), at(issued_at.0));
    }
    if let Some(not_before) = spec.not_before {
        claims.insert("nbf".into(), at(not_before.0));
    }
    if let Some(expires_in) = spec.expires_in {
        claims.insert("exp".into(), at(expires_in.0));
    }
    for (key, value) in &spec.claims {
        claims.insert(key.clone(), value.clone());
    }

    let unsigned = spec.alg.eq_ignore_ascii_case("none");
    let signer = if unsigned {
        None
    } else {
        let algorithm = algorithm(&spec.alg)?;
        Some((
            algorithm,
            encoding_key(spec, algorithm, default_secret, key_dir)?,
        ))
    };
    let mut header = Map::new();
    // The casing as written: `alg: NoNe` must reach the server as `NoNe`.
    header.insert("alg".into(), json!(spec.alg));
    header.insert("typ".into(), json!("JWT"));
    for (key, value) in &spec.header {
        header.insert(key.clone(), value.clone());
    }
    let header = B64.encode(Value::Object(header).to_string());

    let sign = |claims: &Map<String, Value>| -> Result<String, JwtError> {
        let message = format!(
            "{header}.{}",
            B64.encode(Value::Object(claims.clone()).to_string())
        );
        let signature = match &signer {
            None => String::new(),
            Some((algorithm, key)) => {
                jsonwebtoken::crypto::sign(message.as_bytes(), key, *algorithm)
                    .map_err(|e| JwtError::Sign(e.to_string()))?
            }
        };
        Ok(format!("{message}.{signature}"))
    };
    let mut token = sign(&claims)?;
    if let Some(size) = spec.pad_to
        && size > token.len()
    {
        // Base64 turns 3 bytes into 4; `"pad":"…",` costs about 9 more before encoding.
        let pad = ((size - token.len()) * 3 / 4).saturating_sub(9);
        claims.insert("pad".into(), json!("x".repeat(pad)));
        token = sign(&claims)?;
    }
    Ok(if spec.tamper {
        tamper(&token, &claims)
    } else {
        token
    })
}

fn algorithm(name: &str) -> Result<Algorithm, JwtError> {
    Ok(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => return Err(JwtError::Algorithm(other.to_owned())),
    })
}

fn encoding_key(
    spec: &TokenSpec,
    algorithm: Algorithm,
    default_secret: Option<&str>,
    key_dir: &Path,
) -> Result<EncodingKey, JwtError> {
    use Algorithm::*;
    let from_pem: fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey> = match algorithm {
        HS256 | HS384 | HS512 => {
            // An empty `secret: ""` is a secret too: the empty-key attack signs with it.
            let secret = spec
                .secret
                .as_deref()
                .or(default_secret)
                .ok_or(JwtError::NoSecret)?;
            return Ok(EncodingKey::from_secret(secret.as_bytes()));
        }
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => EncodingKey::from_rsa_pem,
        ES256 | ES384 => EncodingKey::from_ec_pem,
        EdDSA => EncodingKey::from_ed_pem,
    };
    let key = spec
        .key
        .as_deref()
        .ok_or_else(|| JwtError::NoKey(spec.alg.clone()))?;
    let path = key_dir.join(key);
    let pem = std::fs::read(&path).map_err(|e| JwtError::Key {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    from_pem(&pem).map_err(|e| JwtError::Key {
        path,
        detail: format!("not a {algorithm:?} private key in PEM ({e})"),
    })
}

/// Swaps the payload for one that claims more, keeping the old signature.
fn tamper(token: &str, claims: &Map<String, Value>) -> String {
    let mut parts = token.splitn(3, '.');
    let header = parts.next().unwrap_or_default();
    let _payload = parts.next();
    let signature = parts.next().unwrap_or_default();
    let mut forged = claims.clone();
    forged.insert("role".into(), json!("admin"));
    format!(
        "{header}.{}.{signature}",
        B64.encode(Value::Object(forged).to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::SignedMillis;
    use jsonwebtoken::{DecodingKey, Validation};

    const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes!!";

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

    fn part(token: &str, index: usize) -> Value {
        let text = token.split('.').nth(index).expect("a part");
        serde_json::from_slice(&B64.decode(text).expect("base64")).expect("json")
    }

    fn keys_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/keys")
    }

    #[test]
    fn good_and_bad_tokens() {
        assert!(verify(&mint(&spec(), Some(SECRET)).expect("mints"), SECRET));
        let expired = TokenSpec {
            expires_in: Some(SignedMillis(-3_600_000)),
            ..spec()
        };
        assert!(!verify(
            &mint(&expired, Some(SECRET)).expect("mints"),
            SECRET
        ));
        let tampered = TokenSpec {
            tamper: true,
            ..spec()
        };
        assert!(!verify(
            &mint(&tampered, Some(SECRET)).expect("mints"),
            SECRET
        ));
        let wrong = TokenSpec {
            secret: Some("another-secret-also-thirty-two-bytes".into()),
            ..spec()
        };
        assert!(!verify(&mint(&wrong, Some(SECRET)).expect("mints"), SECRET));
        assert_eq!(mint(&spec(), None), Err(JwtError::NoSecret));
        assert!(matches!(
            mint(
                &TokenSpec {
                    alg: "XS256".into(),
                    ..spec()
                },
                Some(SECRET)
            ),
            Err(JwtError::Algorithm(_))
        ));
    }

    #[test]
    fn alg_none_keeps_its_casing_and_has_no_signature() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let token = mint(
                &TokenSpec {
                    alg: alg.into(),
                    ..spec()
                },
                None,
            )
            .expect("mints");
            assert!(token.ends_with('.'), "{token}");
            assert_eq!(part(&token, 0)["alg"], json!(alg));
            assert!(!verify(&token, SECRET));
        }
    }

    #[test]
    fn claims_header_and_times() {
        let token = mint(
            &TokenSpec {
                user: None,
                sub: Some("alice".into()),
                iss: Some("https://issuer.example".into()),
                aud: Some(json!(["chat", "api"])),
                not_before: Some(SignedMillis(3_600_000)),
                issued_at: Some(SignedMillis(7_200_000)),
                header: [
                    ("kid".to_owned(), json!("../../../dev/null")),
                    ("crit".to_owned(), json!(["exp"])),
                ]
                .into(),
                ..spec()
            },
            Some(SECRET),
        )
        .expect("mints");
        let (header, claims) = (part(&token, 0), part(&token, 1));
        assert_eq!(header["kid"], json!("../../../dev/null"));
        assert_eq!(header["crit"], json!(["exp"]));
        assert_eq!(header["alg"], json!("HS256"));
        assert_eq!(claims["sub"], json!("alice"));
        assert_eq!(claims["iss"], json!("https://issuer.example"));
        assert_eq!(claims["aud"], json!(["chat", "api"]));
        assert!(claims.get("userId").is_none());
        let iat = claims["iat"].as_i64().expect("iat");
        let nbf = claims["nbf"].as_i64().expect("nbf");
        let exp = claims["exp"].as_i64().expect("exp");
        assert_eq!((nbf - exp, iat - exp), (0, 3600));
        // Still a valid HS256 signature: only the server's policy can refuse it.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_nbf = false;
        validation.validate_aud = false;
        assert!(
            jsonwebtoken::decode::<Value>(
                &token,
                &DecodingKey::from_secret(SECRET.as_bytes()),
                &validation
            )
            .is_ok()
        );
        let no_iat = mint(
            &TokenSpec {
                issued_at: None,
                ..spec()
            },
            Some(SECRET),
        )
        .expect("mints");
        assert!(part(&no_iat, 1).get("iat").is_none());
    }

    #[test]
    fn empty_secret_signs() {
        let token = mint(
            &TokenSpec {
                secret: Some(String::new()),
                ..spec()
            },
            Some(SECRET),
        )
        .expect("mints");
        assert!(verify(&token, "") && !verify(&token, SECRET));
    }

    #[test]
    fn rsa_and_ec_keys_from_pem_files() {
        for (alg, file, decoding) in [
            ("RS256", "rs256.pem", "rs256.pub.pem"),
            ("ES256", "es256.pem", "es256.pub.pem"),
        ] {
            let token = mint_in(
                &TokenSpec {
                    alg: alg.into(),
                    key: Some(file.into()),
                    ..spec()
                },
                Some(SECRET),
                &keys_dir(),
            )
            .expect("mints");
            let public = std::fs::read(keys_dir().join(decoding)).expect("public key");
            let (key, algorithm) = if alg == "RS256" {
                (DecodingKey::from_rsa_pem(&public), Algorithm::RS256)
            } else {
                (DecodingKey::from_ec_pem(&public), Algorithm::ES256)
            };
            let key = key.expect("a public key");
            assert!(
                jsonwebtoken::decode::<Value>(&token, &key, &Validation::new(algorithm)).is_ok(),
                "{alg}"
            );
            assert!(!verify(&token, SECRET));
        }
        assert_eq!(
            mint(
                &TokenSpec {
                    alg: "RS256".into(),
                    ..spec()
                },
                Some(SECRET)
            ),
            Err(JwtError::NoKey("RS256".into()))
        );
        let missing = mint_in(
            &TokenSpec {
                alg: "ES256".into(),
                key: Some("no-such.pem".into()),
                ..spec()
            },
            None,
            &keys_dir(),
        );
        assert!(matches!(missing, Err(JwtError::Key { .. })));
        // An RSA key is not an EC key: the error names the file, never its content.
        let Err(JwtError::Key { detail, .. }) = mint_in(
            &TokenSpec {
                alg: "ES256".into(),
                key: Some("rs256.pem".into()),
                ..spec()
            },
            None,
            &keys_dir(),
        ) else {
            panic!("an RSA key signed ES256");
        };
        assert!(!detail.contains("PRIVATE KEY"), "{detail}");
    }

    #[test]
    fn padded_to_about_the_size() {
        let token = mint(
            &TokenSpec {
                pad_to: Some(1_000_000),
                ..spec()
            },
            Some(SECRET),
        )
        .expect("mints");
        assert!(
            (990_000..=1_000_000).contains(&token.len()),
            "{}",
            token.len()
        );
        assert!(verify(&token, SECRET));
    }
}
