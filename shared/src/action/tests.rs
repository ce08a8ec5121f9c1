use super::*;

fn request(json: &str) -> ActionRequest {
    serde_json::from_str(json).expect("a request")
}

const NOW: i64 = 1_800_000_000_000;

#[test]
fn a_mute_request_becomes_an_action_whose_actor_is_the_token() {
    let action = request(
        r#"{"action":"mute","room_id":"r1","user_id":"u1","until":1800000600000,"reason":"spam"}"#,
    )
    .into_action("mod-7", "a-1".into(), NOW)
    .expect("valid");
    assert_eq!(action.actor, "mod-7");
    assert_eq!(action.v, 1);
    assert_eq!(action.created_at, NOW);
    assert!(action.in_force_at(NOW + 1));
    assert!(!action.in_force_at(1_800_000_600_000));
    let back =
        ModerationAction::decode_record(Some(&action.to_json().expect("json"))).expect("decodes");
    assert_eq!(back, action);
}

#[test]
fn a_request_cannot_name_its_actor() {
    let err = serde_json::from_str::<ActionRequest>(
        r#"{"action":"ban","room_id":"r","user_id":"u","actor":"someone-else"}"#,
    )
    .expect_err("actor is not a request field");
    assert!(err.to_string().contains("actor"), "{err}");
}

#[test]
fn each_kind_needs_its_own_target() {
    let cases = [
        (
            r#"{"action":"delete_message","room_id":"r"}"#,
            "message_id is required",
        ),
        (
            r#"{"action":"delete_message","room_id":"r","message_id":"m","user_id":"u"}"#,
            "user_id is not for delete_message",
        ),
        (
            r#"{"action":"mute","room_id":"r"}"#,
            "user_id is required by mute",
        ),
        (
            r#"{"action":"unban","room_id":"r","user_id":"u","message_id":"m"}"#,
            "message_id is only for delete_message",
        ),
        (
            r#"{"action":"unmute","room_id":"r","user_id":"u","until":1900000000000}"#,
            "until is only for mute and ban",
        ),
        (
            r#"{"action":"ban","room_id":" ","user_id":"u"}"#,
            "room_id must not be empty",
        ),
        (
            r#"{"action":"ban","room_id":"r","user_id":"u","until":1000}"#,
            "not in the future",
        ),
    ];
    for (json, expected) in cases {
        let err = request(json)
            .into_action("m", "a".into(), NOW)
            .expect_err(json);
        assert!(err.to_string().contains(expected), "{json}: {err}");
        assert_eq!(err.kind(), "schema");
    }
}

#[test]
fn bad_records_say_why_with_their_dlq_kind() {
    let cases: [(&[u8], &str); 4] = [
        (b"not json", "parse"),
        (br#"{"v":2,"action_id":"a","action":"ban","room_id":"r","user_id":"u","actor":"m","created_at":1}"#, "schema"),
        (br#"{"v":1,"action_id":"a","action":"shout","room_id":"r","actor":"m","created_at":1}"#, "parse"),
        (br#"{"v":1,"action_id":"","action":"ban","room_id":"r","user_id":"u","actor":"m","created_at":1}"#, "schema"),
    ];
    for (payload, kind) in cases {
        let err = ModerationAction::decode_record(Some(payload)).expect_err("refused");
        assert_eq!(err.kind(), kind, "{err}");
    }
    let big = vec![b' '; MAX_ACTION_RECORD_BYTES + 1];
    assert_eq!(
        ModerationAction::decode_record(Some(&big)).map_err(|e| e.kind()),
        Err("too-large")
    );
    assert_eq!(
        ModerationAction::decode_record(None).map_err(|e| e.kind()),
        Err("parse")
    );
}

#[test]
fn kinds_read_and_print_their_wire_names() {
    for kind in ActionKind::ALL {
        assert_eq!(kind.as_str().parse::<ActionKind>(), Ok(kind));
        assert_eq!(
            serde_json::to_string(&kind).expect("json"),
            format!("\"{kind}\"")
        );
    }
    assert!("kick".parse::<ActionKind>().is_err());
}

#[test]
fn actors_fall_into_three_classes() {
    assert_eq!(ActorClass::of("mod-7"), ActorClass::Moderator);
    assert_eq!(ActorClass::of(DETECTOR_ACTOR), ActorClass::Detector);
    assert_eq!(ActorClass::of("operator:alice"), ActorClass::Operator);
    // Only the exact detector name and the operator prefix are special.
    assert_eq!(ActorClass::of("anomaly-detector-2"), ActorClass::Moderator);
    assert_eq!(ActorClass::of("operator"), ActorClass::Moderator);
    let labels: Vec<&str> = ActorClass::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(labels, ["moderator", "detector", "operator"]);
}
