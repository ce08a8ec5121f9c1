use parking_lot::Mutex;
use std::path::Path;

use parley_shared::{GameMessage, MessageKind};

use super::*;
use crate::rules::RuleSet;
use crate::sighting::Sighting;
use crate::text::normalize::normalize;

fn rules(toml: &str) -> RuleSet {
    RuleSet::parse(toml, Path::new("test.toml"), Path::new(".")).expect("rules")
}

fn message(user: &str, room: &str, content: &str, at: i64) -> GameMessage {
    let json = serde_json::json!({
        "v": 1, "message_id": format!("m-{user}-{at}-{}", content.len()), "game_id": "g",
        "room_id": room, "user_id": user, "kind": "chat", "content": content, "sent_at": at,
    });
    GameMessage::decode(json.to_string().as_bytes()).expect("valid message")
}

struct Run {
    rules: RuleSet,
    partition: PartitionState,
    global: Mutex<GlobalState>,
    /// The by-game side: what sightings add up to.
    copies: CopyState,
}

impl Run {
    fn new(toml: &str) -> Run {
        Run {
            rules: rules(toml),
            partition: PartitionState::new(10_000),
            global: Mutex::new(GlobalState::new(10_000)),
            copies: CopyState::new(10_000),
        }
    }

    /// Rule names that fired on this message, here or (cross-room rules)
    /// where its sighting is counted.
    fn send(&mut self, m: &GameMessage) -> Vec<String> {
        let mut hits = Vec::new();
        let mut copies = Vec::new();
        let norm = normalize(&m.content);
        evaluate(
            &self.rules,
            &mut self.partition,
            &self.global,
            m,
            &norm,
            m.sent_at + 1,
            &mut hits,
            &mut copies,
        );
        if !copies.is_empty() {
            let names = copies
                .iter()
                .map(|&i| self.rules.rules[i].name.clone())
                .collect();
            let sighting = Sighting::of(m, m.sent_at, text_hash(&norm.squeezed), names);
            copies::observe(&self.rules, &mut self.copies, &sighting, &mut hits);
        }
        hits.iter()
            .map(|h| self.rules.rules[h.rule].name.clone())
            .collect()
    }
}

const T0: i64 = 1_800_000_000_000;

#[test]
fn flood_fires_at_the_threshold_within_the_window_only() {
    let mut run = Run::new(
        r#"[[rule]]
name = "flood"
kind = "flood"
category = "flood"
severity = "warning"
threshold = 5
window = "10s""#,
    );
    // Slow talker: 5 messages over 50 s — never a flood.
    for i in 0..5 {
        assert!(run
            .send(&message("slow", "r", &format!("line {i}"), T0 + i * 10_000))
            .is_empty());
    }
    let mut fired = Vec::new();
    for i in 0..6 {
        fired.push(run.send(&message("fast", "r", &format!("line {i}"), T0 + i * 500)));
    }
    assert!(fired[..4].iter().all(Vec::is_empty));
    assert_eq!(fired[4], ["flood"]);
}

#[test]
fn repetition_needs_the_same_normalized_text() {
    let mut run = Run::new(
        r#"[[rule]]
name = "rep"
kind = "repetition"
category = "repetition"
severity = "info"
threshold = 3
window = "1m""#,
    );
    assert!(run.send(&message("u", "r", "buy my stuff", T0)).is_empty());
    assert!(run
        .send(&message("u", "r", "something else", T0 + 1))
        .is_empty());
    assert!(run
        .send(&message("u", "r", "BUY my stuff!!", T0 + 2))
        .is_empty());
    assert_eq!(
        run.send(&message("u", "r", "buy  my  stuff", T0 + 3)),
        ["rep"]
    );
    assert!(run
        .send(&message("other", "r", "buy my stuff", T0 + 4))
        .is_empty());
}

#[test]
fn caps_and_length() {
    let mut run = Run::new(
        r#"[[rule]]
name = "caps"
kind = "caps"
category = "caps"
severity = "info"
ratio = 0.8
min_letters = 10
threshold = 2

[[rule]]
name = "long"
kind = "length"
category = "other"
severity = "info"
max_chars = 50"#,
    );
    assert!(
        run.send(&message("u", "r", "GG WP", T0)).is_empty(),
        "too short to shout"
    );
    assert!(run
        .send(&message("u", "r", "WHY IS NOBODY DEFENDING", T0 + 1))
        .is_empty());
    assert!(run
        .send(&message("u", "r", "Why is nobody defending", T0 + 2))
        .is_empty());
    assert_eq!(
        run.send(&message("u", "r", "DEFEND THE BASE NOW!!!", T0 + 3)),
        ["caps"]
    );
    assert_eq!(
        run.send(&message("v", "r", &"a".repeat(51), T0 + 4)),
        ["long"]
    );
}

#[test]
fn links_outside_the_allow_list() {
    let mut run = Run::new(
        r#"[[rule]]
name = "links"
kind = "links"
category = "links"
severity = "warning"
threshold = 2
allow_domains = ["youtube.com"]"#,
    );
    assert!(run
        .send(&message(
            "u",
            "r",
            "watch https://www.youtube.com/watch?v=1",
            T0
        ))
        .is_empty());
    assert!(run
        .send(&message("u", "r", "https://m.youtube.com/x", T0 + 1))
        .is_empty());
    assert!(run
        .send(&message("u", "r", "free stuff www.skinz4free.ru", T0 + 2))
        .is_empty());
    assert_eq!(
        run.send(&message("u", "r", "go to cheap-gold.shop now", T0 + 3)),
        ["links"]
    );
}

#[test]
fn cross_room_copies_need_users_rooms_and_an_advert() {
    let mut run = Run::new(
        r#"[[rule]]
name = "spam"
kind = "cross_room"
category = "spam"
severity = "warning"
min_users = 3
min_rooms = 2
window = "10m"
signals = ["free", "claim", "selling", "cheap"]"#,
    );
    // An ordinary line repeated everywhere is not spam.
    for (i, (u, r)) in [("a", "r1"), ("b", "r2"), ("c", "r3"), ("d", "r1")]
        .iter()
        .enumerate()
    {
        assert!(run
            .send(&message(u, r, "anyone selling iron ore?", T0 + i as i64))
            .is_empty());
    }
    let line = "FREE SKINS claim now at skinz4free.ru";
    assert!(run.send(&message("a", "r1", line, T0 + 10)).is_empty());
    assert!(run.send(&message("b", "r1", line, T0 + 11)).is_empty());
    assert_eq!(run.send(&message("c", "r2", line, T0 + 12)), ["spam"]);
}

#[test]
fn raids_are_new_users_joining_and_posting_the_same_text() {
    let mut run = Run::new(
        r#"[[rule]]
name = "raid"
kind = "raid"
category = "raid"
severity = "critical"
min_new_users = 5
min_same_text = 4
window = "1m""#,
    );
    // Regulars chatting and the same regular re-joining are not a raid.
    for i in 0..20 {
        run.send(&message(&format!("regular{i}"), "r", "hello there", T0 + i));
    }
    let mut fired = Vec::new();
    for i in 0..6 {
        let raider = format!("raider{i}");
        let mut join = message(&raider, "r", "", T0 + 100 + i * 2);
        join.kind = MessageKind::Join;
        run.send(&join);
        fired.push(run.send(&message(
            &raider,
            "r",
            "RAID RAID RAID 🚀",
            T0 + 101 + i * 2,
        )));
    }
    assert!(fired[..3].iter().all(Vec::is_empty), "{fired:?}");
    assert!(fired[4].contains(&"raid".to_owned()), "{fired:?}");
}

#[test]
fn rate_spikes_need_history_and_volume() {
    let mut run = Run::new(
        r#"[[rule]]
name = "spike"
kind = "rate_spike"
category = "other"
severity = "info"
sigmas = 5.0
min_messages = 30"#,
    );
    let mut at = T0;
    // Two minutes of ~3 messages per 10 s.
    for i in 0..36 {
        assert!(run
            .send(&message(&format!("u{i}"), "r", "hi", at))
            .is_empty());
        at += 3_333;
    }
    at += 10_000;
    let mut fired = 0;
    for i in 0..60 {
        fired += run
            .send(&message(&format!("burst{i}"), "r", "hi", at + i))
            .len();
    }
    assert_eq!(fired, 1, "one hit per bucket");
}

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
        let mut join = message(&format!("new-{i}"), &format!("room-{i}"), "", T0 + i * 100);
        join.kind = MessageKind::Join;
        run.send(&join);
        let (users, rooms) = run.partition.sizes();
        assert!(users <= 16 && rooms <= 16, "{users} users, {rooms} rooms");
    }
}
