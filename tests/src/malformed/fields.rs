//! Records that are JSON objects with a field broken: wrong types, out of
//! range, missing, null, future versions, huge strings, odd Unicode, keys
//! and duplicates.

use serde_json::{json, Value};

use super::{
    room_key, splice_field, truncate_chars, Corpus, KEYLESS_ROOM, ODD_TEXT, REQUIRED, ROOMS, SCHEMA,
};
use parley_shared::message::{
    MAX_CONTENT_BYTES, MAX_MESSAGE_ID_CHARS, MAX_ROOM_ID_CHARS, MAX_USER_ID_CHARS,
};

impl Corpus {
    pub(super) fn wrong_types(&mut self) {
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
    pub(super) fn out_of_range_numbers(&mut self) {
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

    pub(super) fn missing_fields(&mut self) {
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

    pub(super) fn null_fields(&mut self) {
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

    pub(super) fn future_versions(&mut self) {
        for v in 2..=21 {
            // Still parses as v1: kept (docs/contracts.md), new fields ignored.
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

    pub(super) fn huge_strings(&mut self) {
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

    pub(super) fn odd_unicode(&mut self) {
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

    pub(super) fn keys_and_duplicates(&mut self) {
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
