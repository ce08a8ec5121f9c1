//! Rules together: exemptions, roles, and the bounds of the state.

use parley_shared::{GameMessage, MessageKind};

use super::testing::{join, message, Run, T0};
use super::PartitionState;

#[test]
fn exemptions_and_roles() {
    let mut run = Run::new(
        r#"[[rule]]
name = "long"
kind = "length"
category = "other"
severity = "info"
max_chars = 5
exempt = { users = ["bot"], rooms = ["lobby"], roles = ["system", "moderator"] }"#,
    );
    assert!(run.send(&message("bot", "r", "longer text", T0)).is_empty());
    assert!(run
        .send(&message("u", "lobby", "longer text", T0))
        .is_empty());
    let mut system = message("u", "r", "longer text", T0);
    system.kind = MessageKind::System;
    assert!(run.send(&system).is_empty());
    let json = serde_json::json!({
        "v": 1, "message_id": "m", "game_id": "g", "room_id": "r", "user_id": "mod",
        "kind": "chat", "content": "longer text", "sent_at": T0, "meta": {"role": "moderator"},
    });
    let moderator = GameMessage::decode(json.to_string().as_bytes()).expect("valid");
    assert!(run.send(&moderator).is_empty());
    assert_eq!(run.send(&message("u", "r", "longer text", T0)), ["long"]);
}

#[test]
fn joins_into_many_rooms_keep_rooms_within_the_cap() {
    // Found by `fuzz/` (evaluate_rules): joins touch a room but not the
    // user's time, so halving by users' times kept every room.
    let mut run = Run::new(
        r#"[[rule]]
name = "flood"
kind = "flood"
category = "flood"
severity = "warning"
threshold = 5
window = "10s""#,
    );
    run.partition = PartitionState::new(16);
    for i in 0..100 {
        run.send(&join(
            &format!("new-{i}"),
            &format!("room-{i}"),
            T0 + i * 100,
        ));
        let (users, rooms) = run.partition.sizes();
        assert!(users <= 16 && rooms <= 16, "{users} users, {rooms} rooms");
    }
}
