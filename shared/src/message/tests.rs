//! Unit and property tests for GameMessage decoding.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn sample() -> GameMessage {
    GameMessage {
        v: 1,
        message_id: "01J9Z3K6W8Q4R5T6Y7U8I9O0PA".to_owned(),
        game_id: "starfall".to_owned(),
        room_id: "starfall/eu-lobby-7".to_owned(),
        user_id: "u-1042".to_owned(),
        user_name: Some("Kestrel".to_owned()),
        kind: MessageKind::Chat,
        content: "gg wp 🎉".to_owned(),
        sent_at: 1_763_769_600_000,
        visibility: Visibility::All,
        meta: Some(Meta::from_json(r#"{"platform":"pc","locale":"en-US"}"#).expect("valid meta")),
    }
}

fn sample_json() -> Value {
    serde_json::to_value(sample()).expect("serializable")
}

fn decode_value(value: &Value) -> Result<GameMessage, DecodeError> {
    GameMessage::decode(&serde_json::to_vec(value).expect("serializable"))
}

#[test]
fn sample_round_trips() {
    let message = sample();
    let bytes = message.to_json().expect("serializable");
    assert_eq!(GameMessage::decode(&bytes), Ok(message));
}

#[test]
fn unknown_fields_are_ignored_and_optionals_default() {
    let text = r#"{"v":1,"message_id":"m1","game_id":"g","room_id":"r","user_id":"u",
        "kind":"emote","content":"","sent_at":5,"future_field":[1,2,3],
        "visibility":null,"user_name":null,"meta":null}"#;
    let message = GameMessage::decode(text.as_bytes()).expect("valid");
    assert_eq!(message.kind, MessageKind::Other("emote".to_owned()));
    assert_eq!(message.visibility, Visibility::All);
    assert_eq!(message.user_name, None);
    assert_eq!(message.meta, None);
}

#[test]
fn meta_keeps_its_exact_text() {
    let text = r#"{"v":1,"message_id":"m1","game_id":"g","room_id":"r","user_id":"u",
        "kind":"chat","content":"hi","sent_at":5,"meta":{"b":1,  "a":[true]}}"#;
    let message = GameMessage::decode(text.as_bytes()).expect("valid");
    assert_eq!(
        message.meta.expect("meta").as_json(),
        r#"{"b":1,  "a":[true]}"#
    );
}

/// Every field GameMessage v1 requires.
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

#[test]
fn each_missing_required_field_is_a_schema_error() {
    for field in REQUIRED {
        let mut value = sample_json();
        value.as_object_mut().expect("object").remove(field);
        let err = decode_value(&value).expect_err(field);
        assert_eq!(err.kind(), DecodeErrorKind::Schema, "{field}: {err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn field_rules_are_enforced() {
    let cases: Vec<(&str, Value)> = vec![
        ("message_id", json!("")),
        ("message_id", json!("x".repeat(65))),
        ("game_id", json!("g".repeat(65))),
        ("room_id", json!("r".repeat(129))),
        ("user_id", json!("")),
        ("kind", json!("")),
        ("content", json!("c".repeat(MAX_CONTENT_BYTES + 1))),
        ("content", json!("")),
        ("content", json!(" \t\n")),
        ("sent_at", json!(-1)),
        ("sent_at", json!("yesterday")),
        ("visibility", json!("everyone")),
        ("meta", json!([1, 2])),
        ("v", json!(0)),
    ];
    for (field, bad) in cases {
        let mut value = sample_json();
        value[field] = bad.clone();
        let err = decode_value(&value).expect_err(field);
        assert_eq!(err.kind(), DecodeErrorKind::Schema, "{field}={bad}: {err}");
    }
}

#[test]
fn limits_count_characters_and_bytes_as_specified() {
    let mut value = sample_json();
    // 64 four-byte characters is a valid id (the limit is in characters).
    value["message_id"] = json!("🎮".repeat(64));
    // 4096 bytes of content is the limit, inclusive.
    value["content"] = json!("é".repeat(MAX_CONTENT_BYTES / 2));
    assert!(decode_value(&value).is_ok());
}

#[test]
fn future_versions_are_kept_when_they_parse_as_v1() {
    let mut value = sample_json();
    value["v"] = json!(2);
    value["reactions"] = json!({"👍": 3});
    assert_eq!(decode_value(&value).expect("parses as v1").v, 2);

    let future = json!({"v": 3, "id": "x", "payload": {"text": "hi"}});
    let err = decode_value(&future).expect_err("not v1");
    assert_eq!(err.kind(), DecodeErrorKind::Schema);
    assert!(
        matches!(err, DecodeError::UnsupportedVersion { version: 3, .. }),
        "{err}"
    );
}

#[test]
fn well_formed_json_of_the_wrong_type_is_a_schema_error_whatever_serde_calls_it() {
    // serde_json reports these as syntax errors, yet the text is JSON.
    let cases: Vec<(&str, Value)> = vec![
        ("visibility", json!(1)),
        ("visibility", json!(["moderators"])),
        ("visibility", json!(true)),
    ];
    for (field, bad) in cases {
        let mut value = sample_json();
        value[field] = bad.clone();
        let err = decode_value(&value).expect_err(field);
        assert_eq!(err.kind(), DecodeErrorKind::Schema, "{field}={bad}: {err}");
    }
    let text = sample_json().to_string();
    for raw in [r#""a\ud800b""#, r#""\udc00""#, "1e999", "-1e400"] {
        for field in ["content", "sent_at"] {
            let spliced = format!("{},\"{field}\":{raw}}}", &text[..text.len() - 1]);
            let err = GameMessage::decode(spliced.as_bytes()).expect_err(raw);
            assert_eq!(err.kind(), DecodeErrorKind::Schema, "{field}={raw}: {err}");
        }
    }
}

#[test]
fn bytes_that_are_not_json_are_parse_errors() {
    for payload in [&b"{\"v\":1,"[..], b"not json", b"\xff\xfe{}", b"", b"{}}"] {
        let err = GameMessage::decode(payload).expect_err("invalid");
        assert_eq!(err.kind(), DecodeErrorKind::Parse, "{payload:?}: {err}");
    }
    assert_eq!(
        GameMessage::decode_record(None, None),
        Err(DecodeError::EmptyPayload)
    );
}

#[test]
fn oversize_records_are_rejected_before_parsing() {
    let payload = vec![b' '; MAX_RECORD_BYTES + 1];
    let err = GameMessage::decode(&payload).expect_err("too large");
    assert_eq!(err.kind(), DecodeErrorKind::TooLarge);
    assert_eq!(err.kind().as_str(), "too-large");
}

#[test]
fn deep_nesting_never_crashes() {
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    // Deep nesting in an unknown field is skipped like any unknown field.
    let mut text = sample_json().to_string();
    text.pop();
    text.push_str(&format!(",\"x\":{deep}}}"));
    assert!(GameMessage::decode(text.as_bytes()).is_ok());
    // In a known field it is a wrong type; at the top level, not an object.
    let in_meta = sample_json().to_string().replace(r#""gg wp 🎉""#, &deep);
    assert!(GameMessage::decode(in_meta.as_bytes()).is_err());
    assert!(GameMessage::decode(deep.as_bytes()).is_err());
}

#[test]
fn key_must_match_room() {
    let bytes = sample().to_json().expect("serializable");
    let room = sample().room_id;
    assert!(GameMessage::decode_record(Some(room.as_bytes()), Some(&bytes)).is_ok());
    assert!(GameMessage::decode_record(None, Some(&bytes)).is_ok());
    let err = GameMessage::decode_record(Some(b"other-room"), Some(&bytes)).expect_err("mismatch");
    assert_eq!(err.kind(), DecodeErrorKind::Schema);
}

#[test]
fn error_reasons_are_one_line() {
    let err = GameMessage::decode(b"{\n\"v\": 1,\n\"message_id\": 7\n}").expect_err("bad");
    assert!(!err.to_string().contains('\n'), "{err}");
}

fn id(max: usize) -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!("[a-zA-Z0-9_:/.\\-é🎮]{{1,{max}}}")).expect("regex")
}

fn content() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|mut s| {
        while s.len() > MAX_CONTENT_BYTES {
            s.pop();
        }
        s
    })
}

prop_compose! {
    fn valid_message()(
        v in 1u32..4,
        message_id in id(MAX_MESSAGE_ID_CHARS),
        game_id in id(MAX_GAME_ID_CHARS),
        room_id in id(MAX_ROOM_ID_CHARS),
        user_id in id(MAX_USER_ID_CHARS),
        user_name in proptest::option::of(any::<String>()),
        kind in prop_oneof![
            Just(MessageKind::Chat), Just(MessageKind::System),
            Just(MessageKind::Join), Just(MessageKind::Leave),
            "[a-z]{1,12}".prop_map(|k| MessageKind::from(k.as_str())),
        ],
        content in content(),
        sent_at in 0i64..4_102_444_800_000,
        moderators in any::<bool>(),
        meta in proptest::option::of(("[a-z]{1,8}", any::<String>())),
    ) -> GameMessage {
        // An empty chat line is invalid; other kinds may be empty.
        let content = if kind == MessageKind::Chat && content.trim().is_empty() {
            "x".to_owned()
        } else {
            content
        };
        GameMessage {
            v, message_id, game_id, room_id, user_id, user_name, kind, content, sent_at,
            visibility: if moderators { Visibility::Moderators } else { Visibility::All },
            meta: meta.map(|(k, val)| {
                Meta::from_json(&json!({ k: val }).to_string()).expect("object")
            }),
        }
    }
}

/// A way to break a valid message, and the error kind it must produce.
#[derive(Debug, Clone)]
enum Breakage {
    RemoveField(&'static str),
    EmptyField(&'static str),
    WrongType(&'static str),
    OversizeContent,
    Truncate(usize),
    InvalidUtf8(usize),
    OversizeRecord,
}

fn breakage() -> impl Strategy<Value = Breakage> {
    let required = prop::sample::select(REQUIRED.to_vec());
    let ids = prop::sample::select(vec!["message_id", "game_id", "room_id", "user_id"]);
    prop_oneof![
        required.clone().prop_map(Breakage::RemoveField),
        ids.prop_map(Breakage::EmptyField),
        required.prop_map(Breakage::WrongType),
        Just(Breakage::OversizeContent),
        (1usize..10_000).prop_map(Breakage::Truncate),
        any::<usize>().prop_map(Breakage::InvalidUtf8),
        Just(Breakage::OversizeRecord),
    ]
}

fn apply(message: &GameMessage, breakage: &Breakage) -> (Vec<u8>, DecodeErrorKind) {
    let mut value = serde_json::to_value(message).expect("serializable");
    let object = value.as_object_mut().expect("object");
    let schema = DecodeErrorKind::Schema;
    match breakage {
        Breakage::RemoveField(field) => {
            object.remove(*field);
        }
        Breakage::EmptyField(field) => {
            object.insert((*field).to_owned(), json!(""));
        }
        Breakage::WrongType(field) => {
            object.insert((*field).to_owned(), json!({"not": "a scalar"}));
        }
        Breakage::OversizeContent => {
            object.insert(
                "content".to_owned(),
                json!("x".repeat(MAX_CONTENT_BYTES + 1)),
            );
        }
        Breakage::Truncate(cut) => {
            let bytes = serde_json::to_vec(&value).expect("serializable");
            let keep = cut % bytes.len();
            // A cut inside a multi-byte character is a parse error too.
            return (bytes[..keep].to_vec(), DecodeErrorKind::Parse);
        }
        Breakage::InvalidUtf8(at) => {
            let mut bytes = serde_json::to_vec(&value).expect("serializable");
            let at = at % bytes.len();
            bytes.insert(at, 0xFF);
            return (bytes, DecodeErrorKind::Parse);
        }
        Breakage::OversizeRecord => {
            object.insert("padding".to_owned(), json!("p".repeat(MAX_RECORD_BYTES)));
            return (
                serde_json::to_vec(&value).expect("ok"),
                DecodeErrorKind::TooLarge,
            );
        }
    }
    (serde_json::to_vec(&value).expect("serializable"), schema)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_valid_message_round_trips(message in valid_message()) {
        let bytes = message.to_json().expect("serializable");
        let key = message.room_id.clone();
        prop_assert_eq!(GameMessage::decode_record(Some(key.as_bytes()), Some(&bytes)), Ok(message));
    }

    #[test]
    fn every_broken_message_is_rejected_with_its_kind(
        message in valid_message(),
        breakage in breakage(),
    ) {
        let (bytes, expected) = apply(&message, &breakage);
        let result = GameMessage::decode(&bytes);
        prop_assert!(result.is_err(), "accepted {:?}", breakage);
        let err = result.expect_err("checked");
        prop_assert_eq!(err.kind(), expected, "{:?}: {}", breakage, err);
        prop_assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = GameMessage::decode_record(Some(b"room"), Some(&bytes));
    }

    #[test]
    fn arbitrary_json_objects_never_panic(value in arbitrary_json()) {
        let _ = decode_value(&value);
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map(
                prop::sample::select(vec![
                    "v".to_owned(),
                    "message_id".to_owned(),
                    "room_id".to_owned(),
                    "content".to_owned(),
                    "sent_at".to_owned(),
                    "meta".to_owned(),
                ]),
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
