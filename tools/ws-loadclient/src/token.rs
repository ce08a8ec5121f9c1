//! HS256 connection tokens, minted locally for thousands of clients. The
//! claims suit both servers: Parley reads `sub`, `role`, `rooms`, `exp`
//! and, to publish, `game`; Centrifugo reads `sub` and `exp` and ignores
//! the rest.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// The claims of a viewer token.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    role: &'a str,
    rooms: &'a [&'a str],
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    game: Option<&'a str>,
}

/// Mints HS256 tokens with one secret.
pub struct TokenMinter {
    key: EncodingKey,
    header: Header,
    exp: u64,
}

impl TokenMinter {
    /// A minter whose tokens expire `ttl` from now.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        TokenMinter {
            key: EncodingKey::from_secret(secret),
            header: Header::new(Algorithm::HS256),
            exp: (now + ttl).as_secs(),
        }
    }

    /// A viewer token for `user` allowed into `rooms`.
    pub fn viewer(&self, user: &str, rooms: &[&str]) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user,
            role: "viewer",
            rooms,
            exp: self.exp,
            game: None,
        };
        Ok(jsonwebtoken::encode(&self.header, &claims, &self.key)?)
    }

    /// A viewer token for `user` that may also publish to `rooms` of `game`
    /// (Parley needs the `game` claim to publish).
    pub fn player(&self, user: &str, rooms: &[&str], game: &str) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user,
            role: "viewer",
            rooms,
            exp: self.exp,
            game: Some(game),
        };
        Ok(jsonwebtoken::encode(&self.header, &claims, &self.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn tokens_verify_with_the_same_secret() {
        let minter = TokenMinter::new(b"s3cret", Duration::from_secs(3600));
        let token = minter.viewer("u1", &["r1", "r2"]).expect("mint");
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(b"s3cret"),
            &Validation::new(Algorithm::HS256),
        )
        .expect("verify");
        assert_eq!(data.claims["sub"], "u1");
        assert_eq!(data.claims["role"], "viewer");
        assert_eq!(data.claims["rooms"][1], "r2");
        assert!(data.claims.get("game").is_none());
        let player = minter.player("u2", &["r1"], "g1").expect("mint");
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &player,
            &DecodingKey::from_secret(b"s3cret"),
            &Validation::new(Algorithm::HS256),
        )
        .expect("verify");
        assert_eq!(data.claims["game"], "g1");
        assert_eq!(data.claims["role"], "viewer");
        assert!(jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(b"other"),
            &Validation::new(Algorithm::HS256),
        )
        .is_err());
    }
}
