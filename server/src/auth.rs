//! Authentication: HS256 JWTs naming a user by the `userId` claim, checked against the store.
//!
//! The same [`Authenticator`] serves the Socket.IO handshake and the HTTP API, so both refuse
//! exactly the same tokens with exactly the same messages (see `docs/protocol.md`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::store::{Role, Store, User};

/// Shortest secret accepted: HS256 keys shorter than its 256-bit output weaken it.
pub const MIN_SECRET_LEN: usize = 32;

/// Why a handshake or request was refused. The `Display` text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Authentication required")]
    MissingToken,
    #[error("Authentication failed")]
    InvalidToken,
    #[error("User not found or inactive")]
    UnknownOrInactiveUser,
    /// The lookup itself failed (the database is unreachable): the client learns only that it
    /// may try again later, never the driver's text.
    #[error("Service temporarily unavailable")]
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("JWT secret must be at least {MIN_SECRET_LEN} bytes long")]
    TooShort,
}

/// The user a socket or request acts as, attached to the socket after the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthUser {
    pub id: String,
    pub role: Role,
    pub email: String,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl From<User> for AuthUser {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            role: user.role,
            email: user.email,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    user_id: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

/// A JWT secret that is never printed: its `Debug` hides the bytes.
#[derive(Clone)]
pub struct JwtSecret(Arc<[u8]>);

impl JwtSecret {
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort);
        }
        Ok(Self(Arc::from(secret.as_bytes())))
    }

    /// A fresh random secret, for demo mode and tests.
    pub fn generate() -> Self {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(Arc::from(text.as_bytes()))
    }

    /// Signs a token for `user_id` that expires after `ttl`.
    pub fn mint(&self, user_id: &str, ttl: Duration) -> String {
        let now = unix_now();
        let claims = Claims {
            user_id: user_id.to_owned(),
            exp: now + ttl.as_secs(),
            iat: Some(now),
        };
        // Encoding an HS256 token with a byte key and a plain struct cannot fail.
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.0),
        )
        .unwrap_or_default()
    }
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Verifies tokens and resolves them to active users.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Arc<Validation>,
    store: Store,
}

impl Authenticator {
    pub fn new(secret: &JwtSecret, store: Store) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // No grace period: an expired token is expired, as in the Node original.
        validation.leeway = 0;
        // A token not valid yet is refused, as the Node original's jsonwebtoken does by default
        // (the Rust crate checks `nbf` only when asked).
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            key: DecodingKey::from_secret(&secret.0),
            validation: Arc::new(validation),
            store,
        }
    }

    /// Checks the signature, algorithm, `crit`, `exp`, `nbf` and `iat`, and returns the
    /// `userId` claim.
    pub fn verify(&self, token: &str) -> Result<String, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|_| AuthError::InvalidToken)?;
        // RFC 7515 4.1.11: `crit` lists extensions the recipient must understand or refuse the
        // token; this server understands none (the crate parses `crit` but does not act on it).
        if data.header.crit.is_some() {
            return Err(AuthError::InvalidToken);
        }
        // Issued in the future: a forged or mis-clocked issuer; no leeway, as for `exp`.
        if data.claims.iat.is_some_and(|iat| iat > unix_now()) {
            return Err(AuthError::InvalidToken);
        }
        Ok(data.claims.user_id)
    }

    /// Full check: a token is present, verifies, and names an active user.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<AuthUser, AuthError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MissingToken)?;
        let user_id = self.verify(token)?;
        match self.store.find_user(&user_id).await {
            Ok(Some(user)) if user.is_active() => Ok(user.into()),
            Ok(_) => Err(AuthError::UnknownOrInactiveUser),
            Err(error) => {
                // A known outage is logged once by the store's probe, not per handshake.
                if !error.is_unavailable() {
                    tracing::error!(%error, "user lookup failed during authentication");
                }
                Err(AuthError::Unavailable)
            }
        }
    }
}

/// The token of a Socket.IO handshake: `auth.token` first, else `Authorization: Bearer`.
pub fn handshake_token<'a>(
    auth: &'a serde_json::Value,
    authorization: Option<&'a str>,
) -> Option<&'a str> {
    auth.get("token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty())
        .or_else(|| authorization.and_then(bearer_token))
}

/// The token in an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
