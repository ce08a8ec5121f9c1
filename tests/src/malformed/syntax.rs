//! Records broken below the field level: not JSON, truncated, invalid
//! UTF-8, NUL bytes, too large, deeply nested.

use serde_json::json;

use super::{pad_to, room_key, splice_field, Corpus, CorpusRecord, Expected};
use super::{HUGE_BYTES, PARSE, ROOMS, SCHEMA, TOO_LARGE};
use parley_shared::message::MAX_RECORD_BYTES;

impl Corpus {
    pub(super) fn not_json(&mut self) {
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

    pub(super) fn truncated(&mut self) {
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

    pub(super) fn invalid_utf8(&mut self) {
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

    pub(super) fn nul_bytes(&mut self) {
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

    pub(super) fn too_large(&mut self) {
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

    pub(super) fn deep_nesting(&mut self) {
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
}
