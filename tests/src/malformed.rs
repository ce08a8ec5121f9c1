//! A deterministic corpus of bad — and oddly good — `game-messages`
//! records for the bad-input test (`tests/tests/bad_input.rs`): invalid
//! JSON, truncated records, invalid UTF-8, NUL bytes, wrong types, missing
//! and null fields, unknown future `v`, 10 MiB payloads, deep nesting, huge
//! strings and odd Unicode. Each record says what the decoder must make of
//! it (INTERFACES.md "GameMessage v1", `parley_shared::message`): the DLQ
//! `error.kind`, or valid — odd Unicode in `content` is a valid message,
//! odd Unicode that breaks a field rule is not.

use parley_shared::message::{
    MAX_CONTENT_BYTES, MAX_MESSAGE_ID_CHARS, MAX_RECORD_BYTES, MAX_ROOM_ID_CHARS, MAX_USER_ID_CHARS,
};
use parley_shared::DecodeErrorKind;
use serde_json::{json, Map, Value};

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

    fn not_json(&mut self) {
        const TEXTS: [&str; 40] = [
            "not json",
            "<html><body>502 Bad Gateway</body></html>",
            "{",
            "}",
            "{}}",
            "{'v':1}",
            "{v:1}",
            "{\"v\":1,}",
            "[1,2,",
            "NaN",
            "Infinity",
            "-Infinity",
            "undefined",
            "-",
            "01",
            "\"unterminated",
            "{\"v\":1 \"message_id\":\"x\"}",
            "/* comment */ {}",
            "{} // trailing comment",
            "{}{}",
            "{\"v\":1}{\"v\":1}",
            "{\"v\":1}garbage",
            "garbage{\"v\":1}",
            "   ",
            "\t\r\n",
            "true false",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":\"\\x41\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\" 1}",
            "{1:2}",
            "{\"a\":[1,2,]}",
            "\u{FEFF}{\"v\":1}",
            "v=1&message_id=x",
            "<?xml version=\"1.0\"?><v>1</v>",
            "\u{1F600}",
        ];
        // Valid JSON, but not an object: the wrong shape.
        const NOT_OBJECTS: [&str; 8] = [
            "null",
            "true",
            "42",
            "-1.5e3",
            "\"string\"",
            "[]",
            "[1,2,3]",
            "{}",
        ];
        let keys: [Option<&[u8]>; 4] = [
            Some(ROOMS[0].as_bytes()),
            None,
            Some(b"\xff\xfe"),
            Some(b""),
        ];
        for key in keys {
            for text in TEXTS {
                self.bad("not-json", key, text.as_bytes().to_vec(), PARSE);
            }
            for text in NOT_OBJECTS {
                self.bad("not-json", key, text.as_bytes().to_vec(), SCHEMA);
            }
            // Empty payload and no payload at all (a tombstone).
            self.bad("not-json", key, Vec::new(), PARSE);
            self.records.push(CorpusRecord {
                category: "not-json",
                key: key.map(<[u8]>::to_vec),
                payload: None,
                expected: Expected::Invalid(PARSE),
            });
        }
    }

    fn truncated(&mut self) {
        for _ in 0..3 {
            let object = self.message();
            let key = room_key(&object);
            let bytes = serde_json::to_vec(&object).unwrap_or_default();
            // Every proper prefix is broken JSON (or cuts a character in two).
            for cut in (1..bytes.len()).step_by(3) {
                self.bad("truncated", Some(&key), bytes[..cut].to_vec(), PARSE);
            }
        }
    }

    fn invalid_utf8(&mut self) {
        const SEQUENCES: [&[u8]; 11] = [
            b"\xff",
            b"\xfe",
            b"\xc0\x80",             // overlong NUL
            b"\xc3\x28",             // bad continuation
            b"\xe2\x82",             // cut short
            b"\xed\xa0\x80",         // a UTF-16 surrogate
            b"\xf4\x90\x80\x80",     // above U+10FFFF
            b"\x80",                 // lone continuation
            b"\xf0\x9f\x98",         // an emoji cut short
            b"caf\xe9",              // Latin-1
            b"\xf8\x88\x80\x80\x80", // 5-byte form
        ];
        for (i, bad) in SEQUENCES.iter().enumerate() {
            let object = self.message();
            let key = room_key(&object);
            let text = String::from_utf8(serde_json::to_vec(&object).unwrap_or_default())
                .unwrap_or_default();
            let anchors = [
                "\"content\":\"",
                "\"message_id\":\"",
                "\"room_id\":\"",
                "\"user_name\":\"",
                "\"kind",
                "\"locale\":\"",
                "\"meta\":",
            ];
            let mut positions: Vec<usize> = anchors
                .iter()
                .filter_map(|a| text.find(a).map(|at| at + a.len()))
                .collect();
            positions.extend([0, 1, text.len() - 1, text.len()]);
            for at in positions {
                let mut bytes = text.as_bytes().to_vec();
                bytes.splice(at..at, bad.iter().copied());
                self.bad("invalid-utf8", Some(&key), bytes, PARSE);
            }
            // A valid payload under a key that is not UTF-8: not its room.
            let mut bad_key = key.clone();
            bad_key.extend_from_slice(bad);
            self.bad(
                "invalid-utf8",
                Some(&bad_key),
                text.clone().into_bytes(),
                SCHEMA,
            );
            if i == 0 {
                // Nothing but bad bytes.
                self.bad("invalid-utf8", Some(&key), vec![0xff; 300], PARSE);
            }
        }
    }

    fn nul_bytes(&mut self) {
        for _ in 0..8 {
            let object = self.message();
            let key = room_key(&object);
            let text = String::from_utf8(serde_json::to_vec(&object).unwrap_or_default())
                .unwrap_or_default();
            let anchors = [
                "\"content\":\"",
                "\"message_id\":\"",
                "\"sent_at\":",
                "\"v\"",
                ",",
            ];
            let mut positions: Vec<usize> = anchors
                .iter()
                .filter_map(|a| text.find(a).map(|at| at + a.len()))
                .collect();
            positions.extend([0, text.len() - 1, text.len()]);
            for at in positions {
                let mut bytes = text.as_bytes().to_vec();
                bytes.insert(at, 0);
                self.bad("nul-bytes", Some(&key), bytes, PARSE);
            }
        }
        for len in [1, 2, 100, 4096] {
            self.bad("nul-bytes", Some(ROOMS[1].as_bytes()), vec![0; len], PARSE);
        }
        // An escaped NUL is a valid character of a valid string.
        for field in ["content", "user_name", "content"] {
            let mut object = self.message();
            object.insert(field.into(), json!("nul \u{0000} inside \u{0000}"));
            self.valid_object("nul-bytes", &object);
        }
    }

    fn wrong_types(&mut self) {
        let wrong = [
            json!(7),
            json!(-1.5),
            json!(true),
            json!([]),
            json!({"nested": 1}),
            json!(["a"]),
        ];
        for field in REQUIRED {
            for value in &wrong {
                if value.is_number() && (field == "v" || field == "sent_at") {
                    continue; // 7 is a fine version (kept as v1) and time
                }
                for _ in 0..2 {
                    let mut object = self.message();
                    // A string is the right type for every field but v and sent_at.
                    object.insert(field.into(), value.clone());
                    self.bad_object("wrong-type", &object, SCHEMA);
                }
            }
        }
        let more = [
            ("v", json!("1")),
            ("v", json!(1.0)),
            ("v", json!(1.5)),
            ("sent_at", json!("1764000000000")),
            ("sent_at", json!("2026-11-21T10:00:00Z")),
            ("sent_at", json!(1.764e12)),
            ("sent_at", json!(1764000000000.5)),
            ("sent_at", json!(u64::MAX)),
            ("sent_at", json!(-5)),
            ("user_name", json!(5)),
            ("user_name", json!(["x"])),
            ("user_name", json!({"first": "x"})),
            ("visibility", json!("everyone")),
            ("visibility", json!("ALL")),
            ("visibility", json!(1)),
            ("visibility", json!(["moderators"])),
            ("visibility", json!(true)),
            ("meta", json!("platform=pc")),
            ("meta", json!(5)),
            ("meta", json!([1, 2])),
            ("meta", json!(true)),
            ("kind", json!("")),
            ("message_id", json!("")),
            ("room_id", json!("")),
            ("user_id", json!("")),
            ("game_id", json!("")),
        ];
        for (field, value) in more {
            for _ in 0..2 {
                let mut object = self.message();
                object.insert(field.into(), value.clone());
                self.bad_object("wrong-type", &object, SCHEMA);
            }
        }
    }

    /// Numbers JSON allows but no field can hold; serde_json calls them
    /// syntax errors, the decoder a wrong type.
    fn out_of_range_numbers(&mut self) {
        for raw in ["1e999", "-1e400", "123456789012345678901234567890"] {
            for field in ["v", "sent_at", "content"] {
                let object = self.message();
                let text = splice_field(&object, field, raw);
                self.bad(
                    "wrong-type",
                    Some(&room_key(&object)),
                    text.into_bytes(),
                    SCHEMA,
                );
            }
        }
    }

    fn missing_fields(&mut self) {
        for (i, field) in REQUIRED.iter().enumerate() {
            for _ in 0..3 {
                let mut object = self.message();
                object.remove(*field);
                self.bad_object("missing-field", &object, SCHEMA);
            }
            for other in &REQUIRED[i + 1..] {
                let mut object = self.message();
                object.remove(*field);
                object.remove(*other);
                self.bad_object("missing-field", &object, SCHEMA);
            }
        }
        let mut object = self.message();
        object.retain(|k, _| k == "v");
        self.bad_object("missing-field", &object, SCHEMA);
        // Optional fields may be left out.
        let mut object = self.message();
        for optional in ["user_name", "visibility", "meta"] {
            object.remove(optional);
        }
        self.valid_object("missing-field", &object);
    }

    fn null_fields(&mut self) {
        for field in REQUIRED {
            for _ in 0..3 {
                let mut object = self.message();
                object.insert(field.into(), Value::Null);
                self.bad_object("null-field", &object, SCHEMA);
            }
        }
        // Optional fields may be null (visibility null = the default).
        for optional in ["user_name", "visibility", "meta"] {
            for _ in 0..3 {
                let mut object = self.message();
                object.insert(optional.into(), Value::Null);
                self.valid_object("null-field", &object);
            }
        }
        let mut object = self.message();
        for field in REQUIRED {
            object.insert(field.into(), Value::Null);
        }
        self.bad_object("null-field", &object, SCHEMA);
    }

    fn future_versions(&mut self) {
        for v in 2..=21 {
            // Still parses as v1: kept (INTERFACES.md), new fields ignored.
            let mut object = self.message();
            object.insert("v".into(), json!(v));
            object.insert("reactions".into(), json!({"👍": v}));
            self.valid_object("future-version", &object);
            // Another shape: dead-lettered as schema.
            let other =
                json!({"v": v, "id": format!("evt-{v}"), "body": {"text": "hi"}, "ts": "now"});
            self.bad(
                "future-version",
                Some(ROOMS[2].as_bytes()),
                other.to_string().into_bytes(),
                SCHEMA,
            );
            // v1 shape but a required field gone.
            let mut object = self.message();
            object.insert("v".into(), json!(v));
            object.remove("content");
            self.bad_object("future-version", &object, SCHEMA);
        }
        for v in [
            json!(0),
            json!(-1),
            json!(4_294_967_296_u64),
            json!(i64::MIN),
            json!("2"),
            json!(2.0),
            json!(null),
        ] {
            let mut object = self.message();
            object.insert("v".into(), v);
            self.bad_object("future-version", &object, SCHEMA);
        }
        let mut object = self.message();
        object.insert("v".into(), json!(u32::MAX));
        self.valid_object("future-version", &object);
    }

    fn too_large(&mut self) {
        // Exactly the limit is fine; one byte more is not.
        let mut object = self.message();
        pad_to(&mut object, MAX_RECORD_BYTES);
        self.valid_object("too-large", &object);
        for size in [
            MAX_RECORD_BYTES + 1,
            MAX_RECORD_BYTES + 2,
            100_000,
            250_000,
            512 * 1024,
            1_000_000,
            1024 * 1024,
            1024 * 1024 + 1,
            2 * 1024 * 1024,
        ] {
            let mut object = self.message();
            pad_to(&mut object, size);
            self.bad_object("too-large", &object, TOO_LARGE);
        }
        // Size is checked before anything else: garbage, NULs, bad UTF-8.
        self.bad(
            "too-large",
            Some(ROOMS[3].as_bytes()),
            vec![b'x'; 70_000],
            TOO_LARGE,
        );
        self.bad(
            "too-large",
            Some(ROOMS[3].as_bytes()),
            vec![0; 70_000],
            TOO_LARGE,
        );
        self.bad(
            "too-large",
            Some(ROOMS[3].as_bytes()),
            vec![0xff; 70_000],
            TOO_LARGE,
        );
        let mut content = self.message();
        content.insert("content".into(), json!("c".repeat(MAX_RECORD_BYTES)));
        self.bad_object("too-large", &content, TOO_LARGE);
        // Two 10 MiB records: a message padded by an unknown field, and noise.
        let mut object = self.message();
        pad_to(&mut object, HUGE_BYTES);
        self.bad_object("too-large", &object, TOO_LARGE);
        let noise: Vec<u8> = (0..HUGE_BYTES).map(|i| (i * 7 + i / 251) as u8).collect();
        self.bad("too-large", Some(ROOMS[0].as_bytes()), noise, TOO_LARGE);
    }

    fn deep_nesting(&mut self) {
        for depth in [10, 127, 128, 129, 1_000, 10_000] {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            // Well-formed nesting is the wrong shape at any depth: the decoder
            // stops at the first bracket where a field wants a scalar and
            // skips the rest iteratively (no recursion, no depth limit).
            // At the top level: an array (or object) that is no message.
            let top_kind = SCHEMA;
            self.bad(
                "deep-nesting",
                Some(ROOMS[1].as_bytes()),
                arrays.clone().into_bytes(),
                top_kind,
            );
            self.bad(
                "deep-nesting",
                Some(ROOMS[1].as_bytes()),
                objects.clone().into_bytes(),
                top_kind,
            );
            // In a field that wants a string or a number: a wrong type.
            for field in ["content", "sent_at", "user_id"] {
                let object = self.message();
                let text = splice_field(&object, field, &arrays);
                let kind = SCHEMA;
                self.bad(
                    "deep-nesting",
                    Some(&room_key(&object)),
                    text.into_bytes(),
                    kind,
                );
            }
            // Unterminated nesting: broken JSON.
            self.bad(
                "deep-nesting",
                Some(ROOMS[1].as_bytes()),
                "[".repeat(depth).into_bytes(),
                PARSE,
            );
            // In an unknown field, or inside `meta`: skipped or kept as text.
            let object = self.message();
            let text = splice_field(&object, "extension", &arrays);
            self.valid_bytes("deep-nesting", &object, text.into_bytes());
            let object = self.message();
            let text = splice_field(&object, "meta", &format!("{{\"deep\":{objects}}}"));
            self.valid_bytes("deep-nesting", &object, text.into_bytes());
            // `meta` must be an object, however deep the array.
            let object = self.message();
            let text = splice_field(&object, "meta", &arrays);
            self.bad(
                "deep-nesting",
                Some(&room_key(&object)),
                text.into_bytes(),
                SCHEMA,
            );
        }
    }

    fn huge_strings(&mut self) {
        let limits = [
            ("message_id", MAX_MESSAGE_ID_CHARS),
            ("room_id", MAX_ROOM_ID_CHARS),
            ("user_id", MAX_USER_ID_CHARS),
            ("game_id", 64),
        ];
        for (field, max) in limits {
            for unit in ["x", "é", "🎮"] {
                // At the limit in characters (not bytes): valid.
                let mut object = self.message();
                let n = self.seq;
                let prefix = format!("{n}-");
                let value = format!("{prefix}{}", unit.repeat(max - prefix.len()));
                object.insert(field.into(), json!(value));
                self.valid_object("huge-string", &object);
                // One character more: schema.
                let mut object = self.message();
                object.insert(field.into(), json!(unit.repeat(max + 1)));
                self.bad_object("huge-string", &object, SCHEMA);
            }
        }
        for (unit, count) in [
            ("a", MAX_CONTENT_BYTES),
            ("é", MAX_CONTENT_BYTES / 2),
            ("🎮", MAX_CONTENT_BYTES / 4),
        ] {
            let mut object = self.message();
            object.insert("content".into(), json!(unit.repeat(count)));
            self.valid_object("huge-string", &object);
            let mut object = self.message();
            object.insert("content".into(), json!(format!("{}b", unit.repeat(count))));
            self.bad_object("huge-string", &object, SCHEMA);
        }
        for len in [10_000, 30_000, 60_000] {
            let mut object = self.message();
            object.insert("content".into(), json!("w".repeat(len)));
            self.bad_object("huge-string", &object, SCHEMA);
            // No rule limits a display name or an unknown field.
            let mut object = self.message();
            object.insert("user_name".into(), json!("n".repeat(len)));
            self.valid_object("huge-string", &object);
            let mut object = self.message();
            object.insert("extension".into(), json!("e".repeat(len)));
            self.valid_object("huge-string", &object);
        }
        // Escapes count after decoding: 4096 escaped bytes are fine.
        let object = self.message();
        let escaped = format!("\"{}\"", "\\u0041".repeat(MAX_CONTENT_BYTES));
        self.valid_bytes(
            "huge-string",
            &object,
            splice_field(&object, "content", &escaped).into_bytes(),
        );
        let object = self.message();
        let escaped = format!("\"{}\"", "\\u0041".repeat(MAX_CONTENT_BYTES + 1));
        self.bad(
            "huge-string",
            Some(&room_key(&object)),
            splice_field(&object, "content", &escaped).into_bytes(),
            SCHEMA,
        );
    }

    fn odd_unicode(&mut self) {
        for (i, odd) in ODD_TEXT.iter().enumerate() {
            // Odd text where the schema allows any string: valid.
            for field in ["content", "user_name", "kind"] {
                let mut object = self.message();
                object.insert(field.into(), json!(odd));
                self.valid_object("odd-unicode", &object);
            }
            let mut object = self.message();
            object.insert("meta".into(), json!({ *odd: odd, "role": odd }));
            self.valid_object("odd-unicode", &object);
            let mut object = self.message();
            let id = format!("odd-{}-{}", self.seq, truncate_chars(odd, 40));
            object.insert("message_id".into(), json!(id));
            object.insert(
                "user_id".into(),
                json!(truncate_chars(odd, MAX_USER_ID_CHARS)),
            );
            self.valid_object("odd-unicode", &object);
            // An odd room name, keyed by exactly its bytes: valid.
            let mut object = self.message();
            object.insert("room_id".into(), json!(format!("bi-odd-{i}-{odd}")));
            self.valid_object("odd-unicode", &object);
        }
        let decomposed = "e\u{0301}"; // é as two characters
        let rule_breakers = [
            ("user_id", "\u{200D}".repeat(MAX_USER_ID_CHARS + 1)),
            (
                "message_id",
                decomposed.repeat(MAX_MESSAGE_ID_CHARS / 2 + 1),
            ),
            ("room_id", "\u{200F}".repeat(MAX_ROOM_ID_CHARS + 1)),
            ("game_id", "\u{FEFF}".repeat(65)),
            ("content", "\u{0301}".repeat(MAX_CONTENT_BYTES / 2 + 1)),
            ("content", "\u{200D}".repeat(MAX_CONTENT_BYTES / 3 + 1)),
            (
                "content",
                "👨\u{200D}👩\u{200D}👧\u{200D}👦".repeat(MAX_CONTENT_BYTES / 25 + 1),
            ),
            (
                "content",
                format!("{}{}", "Z\u{0351}\u{0345}".repeat(1000), "!".repeat(100)),
            ),
        ];
        for (field, value) in rule_breakers {
            for _ in 0..4 {
                let mut object = self.message();
                object.insert(field.into(), json!(value));
                self.bad_object("odd-unicode", &object, SCHEMA);
            }
        }
        // Keys that look like the room but are other bytes.
        let rooms = [
            ("café", "cafe\u{0301}"),
            ("cafe\u{0301}", "café"),
            ("\u{200F}bi-room-0", "bi-room-0"),
            ("bi-room-0\u{200B}", "bi-room-0"),
            ("\u{FEFF}bi-room-0", "bi-room-0"),
            ("bi‐room‐0", "bi-room-0"), // U+2010 hyphens
        ];
        for (key, room) in rooms {
            for _ in 0..3 {
                let mut object = self.message();
                object.insert("room_id".into(), json!(room));
                let payload = serde_json::to_vec(&object).unwrap_or_default();
                self.bad("odd-unicode", Some(key.as_bytes()), payload, SCHEMA);
            }
        }
        // Lone surrogate escapes are JSON but no text: a field rule broken.
        for escape in [
            "\\ud800",
            "\\udc00",
            "\\ud800x",
            "\\udbff\\u0041",
            "\\ud83d",
        ] {
            for field in ["content", "user_name"] {
                let object = self.message();
                let text = splice_field(&object, field, &format!("\"a{escape}b\""));
                self.bad(
                    "odd-unicode",
                    Some(&room_key(&object)),
                    text.into_bytes(),
                    SCHEMA,
                );
            }
        }
        // A surrogate pair escape is one emoji: valid.
        let object = self.message();
        let text = splice_field(&object, "content", "\"\\ud83d\\ude00 escaped\"");
        self.valid_bytes("odd-unicode", &object, text.into_bytes());
    }

    fn keys_and_duplicates(&mut self) {
        for _ in 0..4 {
            let object = self.message();
            let payload = serde_json::to_vec(&object).unwrap_or_default();
            let room = room_key(&object);
            let mut upper = room.clone();
            upper.make_ascii_uppercase();
            let spaced = [room.as_slice(), b" "].concat();
            for key in [b"other-room".to_vec(), Vec::new(), upper, spaced] {
                self.bad("key-mismatch", Some(&key), payload.clone(), SCHEMA);
            }
        }
        // No key at all: the producer chose no partition; valid. (A room of
        // their own: its records land on any partition.)
        for _ in 0..3 {
            let mut object = self.message();
            object.insert("room_id".into(), json!(KEYLESS_ROOM));
            let payload = serde_json::to_vec(&object).unwrap_or_default();
            self.valid_bytes("key-mismatch", &object, payload);
            if let Some(last) = self.records.last_mut() {
                last.key = None;
            }
        }
        // Duplicate fields are refused, even with equal values.
        for field in ["v", "message_id", "content", "sent_at", "meta"] {
            for _ in 0..2 {
                let object = self.message();
                let text = serde_json::to_string(&object).unwrap_or_default();
                let value = object.get(field).map(Value::to_string).unwrap_or_default();
                let doubled = format!("{{\"{field}\":{value},{}", &text[1..]);
                self.bad(
                    "duplicate-field",
                    Some(&room_key(&object)),
                    doubled.into_bytes(),
                    SCHEMA,
                );
            }
        }
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
