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

#[test]
fn the_blocklist_blocks_what_the_detector_matches() {
    use parley_moderation::blocklist::{Blocklist, CheckScratch};
    use std::path::Path;

    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/anomaly-detector/rules.toml");
    let blocklist = Blocklist::load(&path).expect("shipped rules");
    let block: Vec<&str> = blocklist.rule_names().collect();
    assert!(!block.is_empty());
    let mut run = Run::new("");
    run.rules = crate::rules::RuleSet::load(&path).expect("shipped rules");
    let mut scratch = CheckScratch::default();
    let refused = [
        "kys",
        "k y s",
        "KYS!!",
        "k.y.s",
        "kill yourself",
        "k1ll y0urs3lf",
        "kill-yourself",
        "ｋｉｌｌ ｙｏｕｒｓｅｌｆ",
        "kіll yоurself",
        "go die",
        "hope u die",
        "i know where you live",
        "ill swat you",
        "i'll dox you",
        "gonna doxx u",
        "find you irl",
        "n i g g e r",
        "f4gg0t",
        "r3tard",
    ];
    let delivered = [
        "you idiot",
        "ur trash",
        "gg wp",
        "nice kill streak",
        "I killed him",
        "die already boss",
        "spic and span",
        "maine coon",
        "skys the limit",
        "chink in the armor",
        "swat team inbound",
    ];
    let texts = refused.iter().map(|t| (t, true));
    for (i, (text, refuse)) in texts
        .chain(delivered.iter().map(|t| (t, false)))
        .enumerate()
    {
        let message = message(&format!("u{i}"), "r", text, T0 + i as i64);
        let fired = run.send(&message);
        let detected = fired.iter().find(|name| block.contains(&name.as_str()));
        let blocked = blocklist.check_message(&message, &mut scratch);
        assert_eq!(
            blocked.map(|b| b.rule),
            detected.map(String::as_str),
            "{text:?}"
        );
        assert_eq!(blocked.is_some(), refuse, "{text:?}");
    }
    // Exempt roles pass both: the system, and `meta.role`.
    let mut system = message("game", "r", "kys", T0);
    system.kind = MessageKind::System;
    assert!(run
        .send(&system)
        .iter()
        .all(|n| !block.contains(&n.as_str())));
    assert_eq!(blocklist.check_message(&system, &mut scratch), None);
    let json = serde_json::json!({
        "v": 1, "message_id": "mod-1", "game_id": "g", "room_id": "r", "user_id": "mod",
        "kind": "chat", "content": "kys", "sent_at": T0, "meta": {"role": "moderator"},
    });
    let moderator = GameMessage::decode(json.to_string().as_bytes()).expect("valid");
    assert!(run
        .send(&moderator)
        .iter()
        .all(|n| !block.contains(&n.as_str())));
    assert_eq!(blocklist.check_message(&moderator, &mut scratch), None);
}
