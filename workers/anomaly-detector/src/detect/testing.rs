//! The test harness of the detectors: rule files in, rule names out.

use parking_lot::Mutex;
use std::path::Path;

use parley_shared::GameMessage;

use super::*;
use crate::rules::RuleSet;
use crate::sighting::Sighting;
use parley_moderation::text::normalize::normalize;

/// The rules of a test file.
pub(crate) fn rules(toml: &str) -> RuleSet {
    RuleSet::parse(toml, Path::new("test.toml"), Path::new(".")).expect("rules")
}

/// A chat message by `user` in `room` at `at`.
pub(crate) fn message(user: &str, room: &str, content: &str, at: i64) -> GameMessage {
    let json = serde_json::json!({
        "v": 1, "message_id": format!("m-{user}-{at}-{}", content.len()), "game_id": "g",
        "room_id": room, "user_id": user, "kind": "chat", "content": content, "sent_at": at,
    });
    GameMessage::decode(json.to_string().as_bytes()).expect("valid message")
}

/// A `join` record (empty content) by `user` in `room` at `at`.
pub(crate) fn join(user: &str, room: &str, at: i64) -> GameMessage {
    let json = serde_json::json!({
        "v": 1, "message_id": format!("j-{user}-{room}-{at}"), "game_id": "g",
        "room_id": room, "user_id": user, "kind": "join", "content": "", "sent_at": at,
    });
    GameMessage::decode(json.to_string().as_bytes()).expect("valid join")
}

/// A detector's whole path, the by-game side included, on one partition.
pub(crate) struct Run {
    pub(crate) rules: RuleSet,
    pub(crate) partition: PartitionState,
    global: Mutex<GlobalState>,
    /// The by-game side: what sightings add up to.
    copies: CopyState,
}

impl Run {
    /// A run of the rules in `toml`.
    pub(crate) fn new(toml: &str) -> Run {
        Run {
            rules: rules(toml),
            partition: PartitionState::new(10_000),
            global: Mutex::new(GlobalState::new(10_000)),
            copies: CopyState::new(10_000),
        }
    }

    /// Rule names that fired on this message, here or (cross-room rules)
    /// where its sighting is counted.
    pub(crate) fn send(&mut self, m: &GameMessage) -> Vec<String> {
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

/// A start time.
pub(crate) const T0: i64 = 1_800_000_000_000;
