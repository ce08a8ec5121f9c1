//! Bad records for `--malformed-ratio`: each kind says how it breaks a valid
//! payload and which DLQ `error.kind` the decoder must give it.

use parley_shared::message::{MAX_CONTENT_BYTES, MAX_RECORD_BYTES};
use parley_shared::DecodeErrorKind;
use rand::Rng;
use serde_json::Value;

/// Ways loadgen breaks a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedKind {
    /// Valid JSON cut short.
    TruncatedJson,
    /// Text that is not JSON at all.
    NotJson,
    /// A byte sequence that is not UTF-8 inside the content.
    InvalidUtf8,
    /// A required field removed.
    MissingField,
    /// `sent_at` as a string.
    WrongType,
    /// `content` over 4096 bytes.
    ContentTooLong,
    /// A record over 64 KiB.
    Oversize,
    /// A future schema version of another shape.
    FutureVersion,
}

impl MalformedKind {
    /// Every kind, in a fixed order.
    pub const ALL: [MalformedKind; 8] = [
        Self::TruncatedJson,
        Self::NotJson,
        Self::InvalidUtf8,
        Self::MissingField,
        Self::WrongType,
        Self::ContentTooLong,
        Self::Oversize,
        Self::FutureVersion,
    ];

    /// The name written to the truth file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TruncatedJson => "truncated-json",
            Self::NotJson => "not-json",
            Self::InvalidUtf8 => "invalid-utf8",
            Self::MissingField => "missing-field",
            Self::WrongType => "wrong-type",
            Self::ContentTooLong => "content-too-long",
            Self::Oversize => "oversize",
            Self::FutureVersion => "future-version",
        }
    }

    /// The `error.kind` the decoder must report.
    pub fn expected_error(&self) -> DecodeErrorKind {
        match self {
            Self::TruncatedJson | Self::NotJson | Self::InvalidUtf8 => DecodeErrorKind::Parse,
            Self::MissingField | Self::WrongType | Self::ContentTooLong | Self::FutureVersion => {
                DecodeErrorKind::Schema
            }
            Self::Oversize => DecodeErrorKind::TooLarge,
        }
    }

    /// A random kind.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Self::ALL[rng.random_range(0..Self::ALL.len())]
    }

    /// Breaks a valid JSON payload this way.
    pub fn corrupt<R: Rng + ?Sized>(&self, rng: &mut R, valid: &[u8]) -> Vec<u8> {
        match self {
            Self::TruncatedJson => {
                let cut = rng.random_range(1..valid.len().max(2));
                valid[..cut.min(valid.len())].to_vec()
            }
            Self::NotJson => b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            Self::InvalidUtf8 => {
                let mut bytes = valid.to_vec();
                let at = find_subslice(&bytes, b"\"content\":\"").map_or(0, |at| at + 11);
                bytes.splice(at..at, [0xC3, 0x28, 0xFF]);
                bytes
            }
            Self::MissingField => edit_json(valid, |object| {
                let field = ["message_id", "room_id", "user_id", "sent_at", "game_id"]
                    [rng.random_range(0..5)];
                object.remove(field);
            }),
            Self::WrongType => edit_json(valid, |object| {
                object.insert(
                    "sent_at".into(),
                    Value::String("2026-11-21T10:00:00Z".into()),
                );
            }),
            Self::ContentTooLong => edit_json(valid, |object| {
                object.insert(
                    "content".into(),
                    Value::String("a".repeat(MAX_CONTENT_BYTES + 100)),
                );
            }),
            Self::Oversize => edit_json(valid, |object| {
                object.insert(
                    "padding".into(),
                    Value::String("x".repeat(MAX_RECORD_BYTES + 1)),
                );
            }),
            Self::FutureVersion => {
                br#"{"v":7,"id":"evt-1","body":{"text":"hi"},"ts":"now"}"#.to_vec()
            }
        }
    }
}

fn edit_json(valid: &[u8], edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(valid) {
        Ok(Value::Object(mut object)) => {
            edit(&mut object);
            serde_json::to_vec(&object).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_shared::GameMessage;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const VALID: &[u8] = br#"{"v":1,"message_id":"m-1","game_id":"g","room_id":"r","user_id":"u","kind":"chat","content":"hello there","sent_at":1}"#;

    #[test]
    fn every_kind_gets_its_expected_error() {
        assert!(GameMessage::decode(VALID).is_ok());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..50 {
            for kind in MalformedKind::ALL {
                let bad = kind.corrupt(&mut rng, VALID);
                let err = GameMessage::decode(&bad).expect_err(kind.name());
                assert_eq!(err.kind(), kind.expected_error(), "{}: {err}", kind.name());
            }
        }
    }
}
