//! A deterministic corpus of bad — and oddly good — `game-messages`
//! records for the bad-input test (`tests/tests/bad_input.rs`): invalid
//! JSON, truncated records, invalid UTF-8, NUL bytes, wrong types, missing
//! and null fields, unknown future `v`, 10 MiB payloads, deep nesting, huge
//! strings and odd Unicode. Each record says what the decoder must make of
//! it (docs/contracts.md "GameMessage v1", `parley_shared::message`): the DLQ
//! `error.kind`, or valid — odd Unicode in `content` is a valid message,
//! odd Unicode that breaks a field rule is not.

use parley_shared::DecodeErrorKind;
use serde_json::{json, Map, Value};

mod fields;
mod syntax;

/// Size of the largest records in the corpus: 10 MiB.
pub const HUGE_BYTES: usize = 10 * 1024 * 1024;

/// What the decoder must make of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A valid GameMessage, processed like any other.
    Valid {
        /// Its `message_id`.
        message_id: String,
        /// Its `room_id`.
        room_id: String,
    },
    /// Dead-lettered with this `error.kind`.
    Invalid(DecodeErrorKind),
}

/// One record of the corpus.
#[derive(Debug, Clone)]
pub struct CorpusRecord {
    /// Which category of bad input it exercises (e.g. `truncated`).
    pub category: &'static str,
    /// Kafka key (usually the room).
    pub key: Option<Vec<u8>>,
    /// Kafka payload (`None`: a tombstone).
    pub payload: Option<Vec<u8>>,
    /// What the decoder must make of it.
    pub expected: Expected,
}

impl CorpusRecord {
    /// The expected DLQ `error.kind`, or `None` for a valid record.
    pub fn expected_kind(&self) -> Option<DecodeErrorKind> {
        match self.expected {
            Expected::Invalid(kind) => Some(kind),
            Expected::Valid { .. } => None,
        }
    }
}

/// Strange but valid text: direction marks and overrides, joiners,
/// combining marks, BOM, noncharacters, private use, separators.
pub const ODD_TEXT: [&str; 24] = [
    "\u{200F}مرحبا\u{200F} 123",
    "\u{202E}txet desrever\u{202C} ok",
    "\u{200E}left\u{200F}right\u{061C}arabic",
    "👨\u{200D}👩\u{200D}👧\u{200D}👦 family",
    "🏳\u{FE0F}\u{200D}🌈 flag",
    "a\u{200B}b\u{200C}c\u{200D}d\u{2060}e",
    "Z\u{0351}\u{0345}\u{036E}\u{0342}\u{0334}a\u{0308}\u{0301}\u{0327}l\u{0330}g\u{034E}o",
    "e\u{0301}\u{0301}\u{0301}\u{0301}\u{0301}\u{0301}\u{0301}\u{0301}",
    "\u{FEFF}bom inside\u{FEFF}",
    "\u{FFFD}\u{FFFF}\u{FFFE} nonchars",
    "\u{E000}\u{F8FF}\u{10FFFF} private",
    "line\u{2028}sep\u{2029}para\u{0085}nel",
    "tags 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
    "👋🏽👋🏿 skin tones",
    "🇫🇷🇯🇵 flags",
    "नमस्ते दुनिया",
    "สวัสดีครับ",
    "\u{1100}\u{1161}\u{11A8} jamo",
    "שלום עולם 42",
    "᠎mongolian\u{180E}sep",
    "x\u{034F}y grapheme joiner",
    "\u{00AD}soft\u{00AD}hyphen",
    "tab\there and\nnewline",
    "quote \" backslash \\ slash /",
];

/// The corpus: every category, about 1,100 records the decoder must
/// dead-letter and a couple of hundred odd valid ones, in a fixed order.
/// `sent_at` of valid records starts at `base_ms`.
pub fn corpus(base_ms: i64) -> Vec<CorpusRecord> {
    let mut c = Corpus {
        records: Vec::new(),
        seq: 0,
        base_ms,
    };
    c.not_json();
    c.truncated();
    c.invalid_utf8();
    c.nul_bytes();
    c.wrong_types();
    c.out_of_range_numbers();
    c.missing_fields();
    c.null_fields();
    c.future_versions();
    c.too_large();
    c.deep_nesting();
    c.huge_strings();
    c.odd_unicode();
    c.keys_and_duplicates();
    c.records
}

/// A plain valid record number `n` in `room` (ids `ok-<n>`), for the valid
/// traffic around the corpus.
pub fn plain(n: usize, room: &str, sent_at: i64) -> CorpusRecord {
    let message = json!({
        "v": 1,
        "message_id": format!("ok-{n:06}"),
        "game_id": "bad-input",
        "room_id": room,
        "user_id": format!("u-{}", n % 17),
        "kind": "chat",
        "content": format!("plain message {n}"),
        "sent_at": sent_at,
    });
    CorpusRecord {
        category: "plain",
        key: Some(room.as_bytes().to_vec()),
        payload: Some(message.to_string().into_bytes()),
        expected: Expected::Valid {
            message_id: format!("ok-{n:06}"),
            room_id: room.to_owned(),
        },
    }
}

/// Rooms of the corpus's records.
pub const ROOMS: [&str; 4] = ["bi-room-0", "bi-room-1", "bi-room-2", "bi-room-3"];
/// Room of the valid records produced without a key.
pub const KEYLESS_ROOM: &str = "bi-keyless";

const REQUIRED: [&str; 8] = [
    "v",
    "message_id",
    "game_id",
    "room_id",
    "user_id",
    "kind",
    "content",
    "sent_at",
];

const PARSE: DecodeErrorKind = DecodeErrorKind::Parse;
const SCHEMA: DecodeErrorKind = DecodeErrorKind::Schema;
const TOO_LARGE: DecodeErrorKind = DecodeErrorKind::TooLarge;

struct Corpus {
    records: Vec<CorpusRecord>,
    seq: usize,
    base_ms: i64,
}

impl Corpus {
    /// A fresh valid message as a JSON object: unique id, one of [`ROOMS`].
    fn message(&mut self) -> Map<String, Value> {
        self.seq += 1;
        let n = self.seq;
        let object = json!({
            "v": 1,
            "message_id": format!("odd-{n:05}"),
            "game_id": "bad-input",
            "room_id": ROOMS[n % ROOMS.len()],
            "user_id": format!("u-{}", n % 13),
            "user_name": "Kestrel",
            "kind": (["chat", "system", "join", "leave"][n % 4]),
            "content": format!("odd record {n} — ünïcödé 🎮"),
            "sent_at": self.base_ms + n as i64,
            "meta": {"platform": "pc", "locale": "en-US"},
        });
        match object {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn bad(
        &mut self,
        category: &'static str,
        key: Option<&[u8]>,
        payload: Vec<u8>,
        kind: DecodeErrorKind,
    ) {
        self.records.push(CorpusRecord {
            category,
            key: key.map(<[u8]>::to_vec),
            payload: Some(payload),
            expected: Expected::Invalid(kind),
        });
    }

    /// A broken message object, keyed by its room when it has one.
    fn bad_object(
        &mut self,
        category: &'static str,
        object: &Map<String, Value>,
        kind: DecodeErrorKind,
    ) {
        let key = room_key(object);
        let payload = serde_json::to_vec(object).unwrap_or_default();
        self.bad(category, Some(&key), payload, kind);
    }

    fn valid_object(&mut self, category: &'static str, object: &Map<String, Value>) {
        let payload = serde_json::to_vec(object).unwrap_or_default();
        self.valid_bytes(category, object, payload);
    }

    fn valid_bytes(
        &mut self,
        category: &'static str,
        object: &Map<String, Value>,
        payload: Vec<u8>,
    ) {
        let text = |f: &str| {
            object
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let room_id = text("room_id");
        self.records.push(CorpusRecord {
            category,
            key: Some(room_id.as_bytes().to_vec()),
            payload: Some(payload),
            expected: Expected::Valid {
                message_id: text("message_id"),
                room_id,
            },
        });
    }
}

/// The record key for a message object: its `room_id`, or a placeholder.
fn room_key(object: &Map<String, Value>) -> Vec<u8> {
    object
        .get("room_id")
        .and_then(Value::as_str)
        .unwrap_or("bi-room-none")
        .as_bytes()
        .to_vec()
}

/// Pads `object` with an unknown field so its JSON is exactly `size` bytes.
fn pad_to(object: &mut Map<String, Value>, size: usize) {
    object.insert("padding".into(), json!(""));
    let base = serde_json::to_vec(object).map(|b| b.len()).unwrap_or(0);
    object.insert(
        "padding".into(),
        json!("p".repeat(size.saturating_sub(base))),
    );
}

/// The object's JSON with `field` set to raw JSON `value` (added last).
fn splice_field(object: &Map<String, Value>, field: &str, value: &str) -> String {
    let mut object = object.clone();
    object.remove(field);
    let text = serde_json::to_string(&object).unwrap_or_default();
    format!("{},\"{field}\":{value}}}", &text[..text.len() - 1])
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use parley_shared::GameMessage;

    use super::*;

    #[test]
    fn the_decoder_agrees_with_every_expectation() {
        let records = corpus(1_764_000_000_000);
        let mut wrong = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let got = GameMessage::decode_record(r.key.as_deref(), r.payload.as_deref());
            let ok = match (&r.expected, &got) {
                (
                    Expected::Valid {
                        message_id,
                        room_id,
                    },
                    Ok(m),
                ) => &m.message_id == message_id && &m.room_id == room_id,
                (Expected::Invalid(kind), Err(e)) => e.kind() == *kind,
                _ => false,
            };
            if !ok {
                let head: String = r
                    .payload
                    .as_deref()
                    .map(|p| String::from_utf8_lossy(&p[..p.len().min(160)]).into_owned())
                    .unwrap_or_default();
                wrong.push(format!(
                    "#{i} {}: expected {:?}, got {:?}: {head}",
                    r.category,
                    r.expected,
                    got.map(|m| m.message_id)
                        .map_err(|e| (e.kind(), e.to_string()))
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} disagreements:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn covers_every_category_with_over_a_thousand_bad_records() {
        let records = corpus(0);
        let mut per_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for r in &records {
            let entry = per_category.entry(r.category).or_default();
            match r.expected {
                Expected::Invalid(_) => entry.0 += 1,
                Expected::Valid { .. } => entry.1 += 1,
            }
        }
        let bad: usize = per_category.values().map(|c| c.0).sum();
        assert!(bad >= 1000, "{bad} bad records: {per_category:?}");
        for category in [
            "not-json",
            "truncated",
            "invalid-utf8",
            "nul-bytes",
            "wrong-type",
            "missing-field",
            "null-field",
            "future-version",
            "too-large",
            "deep-nesting",
            "huge-string",
            "odd-unicode",
        ] {
            assert!(
                per_category.get(category).is_some_and(|c| c.0 > 0),
                "{category}: {per_category:?}"
            );
        }
        let huge = records
            .iter()
            .filter(|r| r.payload.as_ref().is_some_and(|p| p.len() == HUGE_BYTES))
            .count();
        assert_eq!(huge, 2);
        for kind in DecodeErrorKind::ALL {
            assert!(
                records.iter().any(|r| r.expected_kind() == Some(kind)),
                "{kind}"
            );
        }
    }

    #[test]
    fn valid_ids_are_unique_and_the_corpus_is_deterministic() {
        let a = corpus(5);
        let b = corpus(5);
        assert_eq!(a.len(), b.len());
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.payload == y.payload && x.key == y.key));
        let mut ids = HashSet::new();
        for r in &a {
            if let Expected::Valid { message_id, .. } = &r.expected {
                assert!(ids.insert(message_id.clone()), "duplicate {message_id}");
            }
        }
    }
}
