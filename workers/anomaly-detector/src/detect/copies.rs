//! Cross-room copies, counted where every copy of a game arrives: the
//! by-game consumer's partition (key = `game_id`). Each [`Sighting`] adds
//! its user and room to the copy track of its rule, game and text; a rule
//! fires when a track holds enough users and rooms within its window.
//! Sightings are deduplicated by `message_id` (a replay of the source
//! records sends them again); tracks and the dedup set are bounded by age
//! and size.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::detectors::state::{median, room_key, user_key, SpamTrack};
use crate::detectors::{CrossRoomRule, Hit, MessageRef};
use crate::rules::{Kind, RuleSet, MAX_WINDOW};
use crate::sighting::Sighting;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One by-game partition's copy tracks and the sightings it has counted.
#[derive(Debug)]
pub struct CopyState {
    tracks: FastMap<u64, SpamTrack>,
    /// Counted sightings: `message_id` hash → event time.
    counted: FastMap<u64, i64>,
    max_counted: usize,
    clock: i64,
}

impl CopyState {
    /// Empty, remembering at most `max_counted` sightings for dedup (the
    /// older half is forgotten past it).
    pub fn new(max_counted: usize) -> Self {
        CopyState {
            tracks: FastMap::default(),
            counted: FastMap::default(),
            max_counted: max_counted.max(1024),
            clock: 0,
        }
    }

    /// Counts a sighting once: false if its `message_id` was counted.
    fn first_time(&mut self, message_id: &str, at: i64) -> bool {
        self.clock = self.clock.max(at);
        let id = foldhash::fast::FixedState::with_seed(23).hash_one(message_id);
        if self.counted.contains_key(&id) {
            return false;
        }
        if self.counted.len() >= self.max_counted {
            let horizon = median(self.counted.values().copied()).unwrap_or(0);
            self.counted.retain(|_, t| *t > horizon);
        }
        self.counted.insert(id, at);
        true
    }

    /// The track of `rule`'s copies of text `hash` in `game`, restarted if
    /// idle since before `since`.
    fn track(&mut self, rule: &str, game: &str, hash: u64, since: i64) -> &mut SpamTrack {
        let key = foldhash::fast::FixedState::with_seed(11).hash_one((rule, game, hash));
        let track = self.tracks.entry(key).or_default();
        if track.last_at < since {
            *track = SpamTrack::default();
        }
        track
    }

    /// Drops tracks and dedup entries older than the longest window.
    pub fn prune(&mut self) {
        let horizon = self.clock - MAX_WINDOW.as_millis() as i64;
        self.tracks.retain(|_, t| t.last_at > horizon);
        self.counted.retain(|_, at| *at > horizon);
    }

    /// Copy tracks and counted sightings held.
    pub fn sizes(&self) -> (usize, usize) {
        (self.tracks.len(), self.counted.len())
    }
}

/// Counts one sighting for the cross-room rules it names (those still
/// enabled); hits are appended to `hits`. A sighting counted before adds
/// nothing and fires nothing: false.
pub fn observe(
    rules: &RuleSet,
    state: &mut CopyState,
    sighting: &Sighting,
    hits: &mut Vec<Hit>,
) -> bool {
    if !state.first_time(&sighting.message_id, sighting.at) {
        return false;
    }
    let user = user_key(&sighting.game_id, &sighting.user_id);
    let room = room_key(&sighting.room_id);
    let id = MessageRef::new(&sighting.message_id);
    for &index in &rules.other_rules {
        let rule = &rules.rules[index];
        let Kind::CrossRoom(CrossRoomRule {
            min_users,
            min_rooms,
            window,
            ..
        }) = &rule.kind
        else {
            continue;
        };
        if !sighting.rules.contains(&rule.name) {
            continue;
        }
        let track = state.track(
            &rule.name,
            &sighting.game_id,
            sighting.text,
            sighting.at - window,
        );
        track.add(sighting.at, user, room, &id);
        if track.users.len() >= *min_users as usize && track.rooms.len() >= *min_rooms as usize {
            hits.push(Hit {
                rule: index,
                subject: format!("{:016x}", sighting.text),
                evidence: track.ids.iter().map(MessageRef::to_id).collect(),
                score: track.users.len() as f64 / f64::from(*min_users),
                summary: format!(
                    "{} users pasted the same text in {} rooms",
                    track.users.len(),
                    track.rooms.len()
                ),
                window_start: track.first_at,
            });
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn rules() -> RuleSet {
        RuleSet::parse(
            r#"[[rule]]
name = "spam"
kind = "cross_room"
category = "spam"
severity = "warning"
min_users = 3
min_rooms = 2
window = "10m"
signals = ["free", "claim"]"#,
            Path::new("test.toml"),
            Path::new("."),
        )
        .expect("rules")
    }

    fn sighting(user: &str, room: &str, id: &str, at: i64) -> Sighting {
        Sighting {
            v: 1,
            game_id: "g".into(),
            room_id: room.into(),
            user_id: user.into(),
            message_id: id.into(),
            at,
            text: 42,
            rules: vec!["spam".into()],
        }
    }

    fn fired(rules: &RuleSet, state: &mut CopyState, s: &Sighting) -> Vec<Hit> {
        let mut hits = Vec::new();
        observe(rules, state, s, &mut hits);
        hits
    }

    #[test]
    fn copies_from_any_instance_add_up_in_one_track() {
        let rules = rules();
        let mut state = CopyState::new(0);
        // Three users in two rooms: whichever instances read them.
        assert!(fired(&rules, &mut state, &sighting("a", "r1", "m1", T0)).is_empty());
        assert!(fired(&rules, &mut state, &sighting("b", "r1", "m2", T0 + 1)).is_empty());
        let hits = fired(&rules, &mut state, &sighting("c", "r2", "m3", T0 + 2));
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].evidence, ["m1", "m2", "m3"]);
        assert_eq!(hits[0].window_start, T0);
        assert_eq!(hits[0].subject, format!("{:016x}", 42));
    }

    #[test]
    fn a_replayed_sighting_counts_once() {
        let rules = rules();
        let mut state = CopyState::new(0);
        fired(&rules, &mut state, &sighting("a", "r1", "m1", T0));
        fired(&rules, &mut state, &sighting("b", "r2", "m2", T0 + 1));
        let mut hits = Vec::new();
        let replay = sighting("b", "r2", "m2", T0 + 1);
        assert!(!observe(&rules, &mut state, &replay, &mut hits));
        assert!(hits.is_empty());
        let hits = fired(&rules, &mut state, &sighting("c", "r2", "m3", T0 + 2));
        assert_eq!(hits[0].evidence, ["m1", "m2", "m3"], "no repeated id");
        assert_eq!(state.sizes(), (1, 3));
    }

    #[test]
    fn copies_outside_the_window_or_for_other_rules_do_not_count() {
        let rules = rules();
        let mut state = CopyState::new(0);
        fired(&rules, &mut state, &sighting("a", "r1", "m1", T0));
        fired(&rules, &mut state, &sighting("b", "r2", "m2", T0 + 1));
        // Eleven minutes later the track starts again.
        let late = T0 + 11 * 60_000;
        assert!(fired(&rules, &mut state, &sighting("c", "r3", "m3", late)).is_empty());
        let mut other = sighting("d", "r4", "m4", late + 1);
        other.rules = vec!["disabled-or-renamed".into()];
        assert!(fired(&rules, &mut state, &other).is_empty());
        // Pruned once the clock is past the longest window.
        fired(
            &rules,
            &mut state,
            &sighting("e", "r5", "m5", late + 2 * 3_600_000),
        );
        state.prune();
        assert_eq!(state.sizes(), (1, 1));
    }

    #[test]
    fn the_dedup_set_stays_within_its_cap() {
        let rules = rules();
        let mut state = CopyState::new(1024);
        for i in 0..5_000 {
            fired(
                &rules,
                &mut state,
                &sighting("a", "r1", &format!("m{i}"), T0 + i),
            );
        }
        assert!(state.sizes().1 <= 1024, "{:?}", state.sizes());
    }
}
