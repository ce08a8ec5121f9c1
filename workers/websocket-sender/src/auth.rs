//! JWT verification (HS256 with `PARLEY_JWT_SECRET`, optionally RS256) and
//! what a verified token grants: rooms, role, expiry.

use std::collections::HashSet;
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parley_shared::config::Secret;
use serde::{Deserialize, Serialize};

/// Shortest HS256 secret accepted, in bytes (the hash size, RFC 7518 §3.2).
pub const MIN_HS256_SECRET: usize = 32;
/// A user's role, from the `role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A player: sees `visibility: all` records of its rooms.
    Viewer,
    /// Also sees moderators-only records and alerts.
    Moderator,
    /// Same as moderator here.
    Admin,
    /// A game server: may publish for its players (author, kind,
    /// visibility); sees what a viewer sees.
    Service,
}

impl Role {
    /// The claim's value (`viewer`, `moderator`, `admin`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

/// The claims Parley reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Role.
    pub role: Role,
    /// Rooms the user may join; `["*"]` for all.
    pub rooms: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The game the token was issued for; needed to publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<String>,
}

/// What a verified token allows.
#[derive(Debug, Clone)]
pub struct Grant {
    /// User id.
    pub user: String,
    /// Role.
    pub role: Role,
    /// `None`: every room.
    rooms: Option<HashSet<String>>,
    /// Expiry, seconds since the epoch.
    pub expires_at: u64,
    /// The `game` claim, if any.
    pub game: Option<String>,
}

impl Grant {
    /// Whether the token allows `room`.
    pub fn allows_room(&self, room: &str) -> bool {
        self.rooms.as_ref().is_none_or(|rooms| rooms.contains(room))
    }

    /// Whether moderators-only records and alerts may reach this user.
    pub fn sees_moderators(&self) -> bool {
        matches!(self.role, Role::Moderator | Role::Admin)
    }
}

/// Why a token was refused (all answered with HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header and no `token` parameter.
    #[error("missing token")]
    Missing,
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// Bad signature, algorithm, format or claims.
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl AuthError {
    /// Metric label.
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Expired => "expired",
            AuthError::Invalid(_) => "invalid",
        }
    }
}

/// Verification (and, with a secret, signing) keys.
#[derive(Clone)]
pub struct TokenKeys {
    hmac: Option<(DecodingKey, EncodingKey)>,
    rsa: Option<DecodingKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("hs256", &self.hmac.is_some())
            .field("rs256", &self.rsa.is_some())
            .finish()
    }
}

impl TokenKeys {
    /// Keys from the HS256 secret and/or an RS256 public key file.
    pub fn from_config(secret: Option<&Secret>, public_key: Option<&Path>) -> Result<Self, String> {
        let secret = secret.filter(|s| !s.is_empty());
        if let Some(s) = secret {
            if s.expose().len() < MIN_HS256_SECRET {
                return Err(format!(
                    "the JWT secret is {} bytes; HS256 needs at least {MIN_HS256_SECRET} (RFC 7518 §3.2), e.g. `head -c 32 /dev/urandom | base64`",
                    s.expose().len()
                ));
            }
        }
        let hmac = secret.map(|s| Self::hs256(s.expose()));
        let rsa = match public_key {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Some(
                    DecodingKey::from_rsa_pem(&pem)
                        .map_err(|e| format!("{} is not an RSA public key: {e}", path.display()))?,
                )
            }
            None => None,
        };
        if hmac.is_none() && rsa.is_none() {
            return Err(
                "set PARLEY_JWT_SECRET (or --jwt-secret), or --jwt-public-key-file".to_owned(),
            );
        }
        Ok(TokenKeys { hmac, rsa })
    }

    fn hs256(secret: &str) -> (DecodingKey, EncodingKey) {
        (
            DecodingKey::from_secret(secret.as_bytes()),
            EncodingKey::from_secret(secret.as_bytes()),
        )
    }

    /// Verifies signature, algorithm and expiry, and reads the grant.
    pub fn verify(&self, token: &str) -> Result<Grant, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hmac.as_ref().map(|(d, _)| d),
            Algorithm::RS256 => self.rsa.as_ref(),
            _ => None,
        }
        .ok_or_else(|| AuthError::Invalid(format!("algorithm {:?} not accepted", header.alg)))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e.to_string()),
        })?;
        let claims = data.claims;
        if claims.sub.is_empty() {
            return Err(AuthError::Invalid("empty sub".into()));
        }
        let rooms = if claims.rooms.iter().any(|r| r == "*") {
            None
        } else {
            Some(claims.rooms.into_iter().collect())
        };
        Ok(Grant {
            user: claims.sub,
            role: claims.role,
            rooms,
            expires_at: claims.exp,
            game: claims.game.filter(|g| !g.is_empty()),
        })
    }

    /// Signs `claims` with the HS256 secret.
    pub fn mint(&self, claims: &Claims) -> Result<String, String> {
        let (_, key) = self
            .hmac
            .as_ref()
            .ok_or("minting needs PARLEY_JWT_SECRET (HS256)")?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).map_err(|e| e.to_string())
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_config(
            Some(&Secret::new("test-secret-0123456789-0123456789ab")),
            None,
        )
        .expect("keys")
    }

    fn claims(role: Role, rooms: &[&str], exp: u64) -> Claims {
        Claims {
            sub: "u1".into(),
            role,
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            exp,
            game: None,
        }
    }

    #[test]
    fn a_valid_token_grants_its_rooms_and_role() {
        let k = keys();
        let t = k
            .mint(&claims(Role::Viewer, &["r1", "r2"], now_secs() + 60))
            .expect("mint");
        let g = k.verify(&t).expect("valid");
        assert!(g.allows_room("r1") && !g.allows_room("r3"));
        assert!(!g.sees_moderators());
        let t = k
            .mint(&claims(Role::Moderator, &["*"], now_secs() + 60))
            .expect("mint");
        let g = k.verify(&t).expect("valid");
        assert!(g.allows_room("anything") && g.sees_moderators());
    }

    #[test]
    fn expired_wrong_signature_and_alg_none_are_refused() {
        let k = keys();
        let old = k
            .mint(&claims(Role::Admin, &["*"], now_secs() - 600))
            .expect("mint");
        assert_eq!(k.verify(&old).err(), Some(AuthError::Expired));

        let other = TokenKeys::from_config(
            Some(&Secret::new("another-secret-xyz-0123456789abcdef")),
            None,
        )
        .expect("keys")
        .mint(&claims(Role::Admin, &["*"], now_secs() + 60))
        .expect("mint");
        assert!(matches!(k.verify(&other), Err(AuthError::Invalid(_))));

        // {"alg":"none"} with the same claims and no signature.
        let good = k
            .mint(&claims(Role::Admin, &["*"], now_secs() + 60))
            .expect("mint");
        let body = good.split('.').nth(1).expect("payload");
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
        assert!(matches!(k.verify(&none), Err(AuthError::Invalid(_))));
        assert!(matches!(k.verify("garbage"), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn a_secret_or_key_is_required() {
        assert!(TokenKeys::from_config(None, None).is_err());
        assert!(TokenKeys::from_config(Some(&Secret::new("")), None).is_err());
        let short = TokenKeys::from_config(Some(&Secret::new("change-me")), None);
        assert!(short.is_err_and(|e| e.contains("at least 32")));
    }
}
