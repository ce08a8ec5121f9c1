//! Keys from an identity provider's JWKS document: each key's algorithm is
//! fixed by the key itself (RSA → RS256, EC P-256 → ES256), never by a
//! token's header, so an HS256 token "signed" with a public key or an
//! `alg: none` token cannot pass. Fetching over HTTP and wiring into
//! [`crate::auth::TokenKeys`] come next; this holds the pure parts: the key
//! map and the refetch rate limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Why a JWKS document or one of its keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The document is not a JWKS (`{"keys":[...]}`).
    #[error("not a JWKS document: {0}")]
    Format(String),
    /// The document holds no usable signing key.
    #[error("the JWKS holds no usable RS256/ES256 signing key")]
    NoUsableKey,
}

/// Why no JWKS key verifies a token (all answered with HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// The header has no `kid`.
    #[error("token has no kid")]
    NoKid,
    /// No key has this `kid`: refetching the JWKS may help (rotation).
    #[error("unknown kid {0:?}")]
    UnknownKid(String),
    /// The header's `alg` is not the one the key fixes.
    #[error("algorithm {token:?} does not match the key's {key:?}")]
    AlgorithmMismatch {
        /// The token header's `alg`.
        token: Algorithm,
        /// The key's algorithm.
        key: Algorithm,
    },
}

/// One verification key with the only algorithm it accepts.
#[derive(Clone)]
pub struct JwksKey {
    /// The algorithm the key's type fixes.
    pub algorithm: Algorithm,
    /// The public key.
    pub key: DecodingKey,
}

/// The keys of one JWKS document, by `kid`.
#[derive(Clone, Default)]
pub struct JwksKeys {
    by_kid: HashMap<String, JwksKey>,
}

impl std::fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.by_kid.keys().collect();
        kids.sort();
        f.debug_struct("JwksKeys").field("kids", &kids).finish()
    }
}

impl JwksKeys {
    /// Parses a JWKS document; keys without a `kid`, for encryption, or of
    /// another type are skipped (an IdP may publish those too).
    pub fn parse(body: &[u8]) -> Result<Self, JwksError> {
        let set: JwkSet =
            serde_json::from_slice(body).map_err(|e| JwksError::Format(e.to_string()))?;
        let by_kid: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, usable_key(jwk)?)))
            .collect();
        if by_kid.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(JwksKeys { by_kid })
    }

    /// The key with this `kid`, if the document held it.
    pub fn get(&self, kid: &str) -> Option<&JwksKey> {
        self.by_kid.get(kid)
    }

    /// The key a token's header names, if its `alg` is the one that key
    /// fixes. [`KeyRefusal::UnknownKid`] is the caller's cue to refetch
    /// (within [`RefetchLimit`]).
    pub fn key_for(&self, header: &jsonwebtoken::Header) -> Result<&JwksKey, KeyRefusal> {
        let kid = header.kid.as_deref().ok_or(KeyRefusal::NoKid)?;
        let key = self
            .by_kid
            .get(kid)
            .ok_or_else(|| KeyRefusal::UnknownKid(kid.to_owned()))?;
        if header.alg != key.algorithm {
            return Err(KeyRefusal::AlgorithmMismatch {
                token: header.alg,
                key: key.algorithm,
            });
        }
        Ok(key)
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}

/// The algorithm the key's own type fixes, or `None` for a key Parley does
/// not verify with. A declared `alg` that disagrees with the type is refused.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(_) => None,
    }
}

fn usable_key(jwk: &Jwk) -> Option<JwksKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let algorithm = key_algorithm(jwk)?;
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(JwksKey { algorithm, key })
}

/// Allows a refetch on an unknown `kid` at most once per interval, so a
/// flood of tokens with made-up kids cannot hammer the identity provider.
#[derive(Debug, Clone)]
pub struct RefetchLimit {
    min_interval: Duration,
    last: Option<Instant>,
}

impl RefetchLimit {
    /// At most one refetch per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        RefetchLimit {
            min_interval,
            last: None,
        }
    }

    /// Whether a refetch may start `now`; if so, it is counted.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        let allowed = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.min_interval);
        if allowed {
            self.last = Some(now);
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, Validation};

    const RSA_PRIVATE: &str = include_str!("../testdata/jwks-test-rsa-private.pem");
    const EC_PRIVATE: &str = include_str!("../testdata/jwks-test-es256-private.pem");
    const RSA_N: &str = "toCoKD3gJLbmR7tgM5etJxXYHSJqUrWaUvUvit10Pjry4GDz9u2pM-BHEY-paPIq2tV_6iwdpNqn1ygMuOyZVjSZtZmEvUy85hnr4EWzise0SAYOefkWUYUpy6FTiopyJHQPzzDKZ4YM0IlgY1uSN-lKSPsjWeCUPIUTAVVlxE-be73Mus1VAkBowoU1aMPPL4B45H6Vo0xSfUe66UDVcxZFkLMRD0pBmzmLjDTTAxa4zROoTjqfvyb1dqlf9OqCQellVBjupncArFPjo-lIU3l_9sxCpzh2KLtufYB9riJ0XvPHW7xsJkiMr7OccycXRDM2Xuh28GxmJorw8OH6pQ";
    const EC_X: &str = "0nq2RMgRqiXjdn01bJC9svyDu4Xw--MAGdvUPqzt8kM";
    const EC_Y: &str = "Eond7LtLANaRVeRRpuo7JxMxjgk6eDStzI_09u0t1ro";

    fn jwks() -> String {
        format!(
            r#"{{"keys":[
              {{"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":"{RSA_N}","e":"AQAB"}},
              {{"kty":"EC","kid":"ec-1","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}},
              {{"kty":"RSA","kid":"enc-1","use":"enc","n":"{RSA_N}","e":"AQAB"}},
              {{"kty":"RSA","n":"{RSA_N}","e":"AQAB"}}
            ]}}"#
        )
    }

    fn token(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        let claims = serde_json::json!({"sub":"u1","exp":crate::auth::now_secs() + 60});
        jsonwebtoken::encode(&header, &claims, key).expect("sign")
    }

    /// Verifies the way the key fixes it: the header's `alg` must match.
    fn verify(keys: &JwksKeys, token: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        let Ok(k) = keys.key_for(&header) else {
            return false;
        };
        jsonwebtoken::decode::<serde_json::Value>(token, &k.key, &Validation::new(k.algorithm))
            .is_ok()
    }

    #[test]
    fn signing_keys_are_kept_by_kid_with_the_algorithm_their_type_fixes() {
        let keys = JwksKeys::parse(jwks().as_bytes()).expect("jwks");
        assert_eq!(
            keys.len(),
            2,
            "{keys:?}: the encryption key and the kid-less one are skipped"
        );
        assert_eq!(
            keys.get("rsa-1").map(|k| k.algorithm),
            Some(Algorithm::RS256)
        );
        assert_eq!(
            keys.get("ec-1").map(|k| k.algorithm),
            Some(Algorithm::ES256)
        );
    }

    #[test]
    fn rs256_and_es256_tokens_verify_and_confused_ones_do_not() {
        let keys = JwksKeys::parse(jwks().as_bytes()).expect("jwks");
        let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa");
        let ec = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec");
        assert!(verify(&keys, &token(Algorithm::RS256, "rsa-1", &rsa)));
        assert!(verify(&keys, &token(Algorithm::ES256, "ec-1", &ec)));
        // The right signature under the wrong kid, and an unknown kid.
        assert!(!verify(&keys, &token(Algorithm::ES256, "rsa-1", &ec)));
        assert!(!verify(&keys, &token(Algorithm::RS256, "gone", &rsa)));
        // HS256 with the RSA public modulus as the secret.
        let confused = EncodingKey::from_secret(RSA_N.as_bytes());
        assert!(!verify(&keys, &token(Algorithm::HS256, "rsa-1", &confused)));
        // alg: none.
        let good = token(Algorithm::RS256, "rsa-1", &rsa);
        let body = good.split('.').nth(1).expect("payload");
        // {"alg":"none","kid":"rsa-1"}
        let none = format!("eyJhbGciOiJub25lIiwia2lkIjoicnNhLTEifQ.{body}.");
        assert!(!verify(&keys, &none));
        let header = jsonwebtoken::decode_header(confused_token(&confused)).expect("header");
        assert_eq!(
            keys.key_for(&header).err(),
            Some(KeyRefusal::AlgorithmMismatch {
                token: Algorithm::HS256,
                key: Algorithm::RS256
            })
        );
        let mut unknown = jsonwebtoken::Header::new(Algorithm::RS256);
        unknown.kid = Some("next".into());
        assert_eq!(
            keys.key_for(&unknown).err(),
            Some(KeyRefusal::UnknownKid("next".into()))
        );
    }

    fn confused_token(key: &EncodingKey) -> String {
        token(Algorithm::HS256, "rsa-1", key)
    }

    #[test]
    fn a_declared_alg_that_disagrees_with_the_key_type_is_refused() {
        let doc = format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"k","alg":"HS256","n":"{RSA_N}","e":"AQAB"}}]}}"#
        );
        assert_eq!(
            JwksKeys::parse(doc.as_bytes()).err(),
            Some(JwksError::NoUsableKey)
        );
        assert!(matches!(
            JwksKeys::parse(b"<html>"),
            Err(JwksError::Format(_))
        ));
        assert_eq!(
            JwksKeys::parse(br#"{"keys":[]}"#).err(),
            Some(JwksError::NoUsableKey)
        );
    }

    #[test]
    fn refetches_are_limited_to_one_per_interval() {
        let mut limit = RefetchLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(limit.try_acquire(t0));
        assert!(!limit.try_acquire(t0 + Duration::from_secs(1)));
        assert!(!limit.try_acquire(t0 + Duration::from_secs(9)));
        assert!(limit.try_acquire(t0 + Duration::from_secs(10)));
    }
}
