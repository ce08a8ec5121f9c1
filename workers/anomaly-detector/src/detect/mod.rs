//! Rule evaluation. Each message updates the bounded state of its user and
//! room (per partition: the key is the room) and of the process (first-seen
//! users), then every enabled rule's detector (`crate::detectors`, one type
//! per rule kind) looks at that state and may report a [`Hit`]. Cross-room
//! rules are not counted here: a line that may count for one is reported
//! back, sent to the by-game topic as a sighting, and counted by [`copies`]
//! where every copy of its game arrives. Time is
//! event time (`sent_at`, future times clamped to now), so replays judge
//! traffic as it happened.

pub mod copies;

use parking_lot::Mutex;
use std::hash::BuildHasher;

use parley_shared::{GameMessage, MessageKind};

pub use crate::detectors::state::{
    room_key, user_key, GlobalState, PartitionState, SpamTrack, StateSizes, UserState,
};
pub use crate::detectors::{Hit, MessageRef, MAX_EVIDENCE};
pub use copies::CopyState;

use crate::detectors::state::Recent;
use crate::detectors::{links, ContentRule, Detector, Observation, Scoped};
use crate::rules::{Kind, RuleSet};
use parley_moderation::rules::role_of;
use parley_moderation::text::normalize::Normalized;

/// A stable hash of normalized text (identity of "the same line").
pub fn text_hash(squeezed: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5041_524c).hash_one(squeezed)
}

/// Evaluates every rule on one message; hits are appended to `hits`, and
/// the cross-room rules the message may count for (long enough,
/// advertising, not exempt) to `copies`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    rules: &RuleSet,
    partition: &mut PartitionState,
    global: &Mutex<GlobalState>,
    message: &GameMessage,
    norm: &Normalized,
    now: i64,
    hits: &mut Vec<Hit>,
    copies: &mut Vec<usize>,
) {
    let at = message.sent_at.min(now);
    let hash = text_hash(&norm.squeezed);
    let chars = norm.folded.chars().count();
    let domains = links::domains(&message.content);
    let role = role_of(message);
    let is_chat = !matches!(message.kind, MessageKind::Join | MessageKind::Leave);
    // Users and rooms are keyed by hash, computed once per message.
    let user_key = user_key(&message.game_id, &message.user_id);
    let room_key = room_key(&message.room_id);
    let id = MessageRef::new(&message.message_id);

    // First-seen users are process-wide.
    let first_seen = {
        let mut g = global.lock();
        g.observe_user(user_key, at)
    };

    partition.set_user_window(rules.user_window);
    let recent = is_chat.then(|| Recent {
        at,
        hash,
        id: id.clone(),
        upper: saturate(norm.upper),
        letters: saturate(norm.letters),
        foreign_link: false,
    });
    let (user, room) = partition.entries(user_key, room_key, at, recent);
    // Joins and leaves add nothing to the user (only chat rules read it).
    let mut no_user = UserState::default();
    let user = user.unwrap_or(&mut no_user);
    room.count(at, &id);
    if message.kind == MessageKind::Join && first_seen {
        room.joined(at, user_key);
    } else if is_chat {
        room.posted(at, user_key, hash, &id);
    }

    let seen = Observation {
        message,
        norm,
        at,
        hash,
        chars,
        domains: &domains,
        is_chat,
        id: &id,
    };
    // Content rules: only those whose keywords or patterns matched.
    if is_chat && !rules.content_rules.is_empty() {
        let mut matched = Vec::new();
        rules.content.matches(norm, &mut matched);
        for spec in matched {
            let Some(&index) = rules.content_rules.get(spec) else {
                continue;
            };
            let rule = &rules.rules[index];
            if rule
                .exempt
                .covers(&message.user_id, &message.room_id, role.as_deref())
            {
                continue;
            }
            hits.push(ContentRule::hit(index, rule.category.as_str(), &seen));
        }
    }
    let mut state = Scoped { user, room };
    // Behavioural rules: the few that are not content rules (skipping
    // hundreds of content rules one by one was an eighth of the CPU).
    for &index in &rules.other_rules {
        let rule = &rules.rules[index];
        if rule
            .exempt
            .covers(&message.user_id, &message.room_id, role.as_deref())
        {
            continue;
        }
        // One match, each arm a concrete type: static dispatch.
        let hit = match &rule.kind {
            Kind::Flood(d) => d.observe(index, &seen, &mut state),
            Kind::Repetition(d) => d.observe(index, &seen, &mut state),
            Kind::Caps(d) => d.observe(index, &seen, &mut state),
            Kind::Links(d) => d.observe(index, &seen, &mut state),
            Kind::Length(d) => d.observe(index, &seen, &mut state),
            Kind::RateSpike(d) => d.observe(index, &seen, &mut state),
            Kind::Raid(d) => d.observe(index, &seen, &mut state),
            Kind::CrossRoom(d) => {
                if d.may_count(&seen) {
                    copies.push(index);
                }
                None
            }
            Kind::Content(_) => None,
        };
        if let Some(hit) = hit {
            hits.push(hit);
        }
    }
}

/// A count as kept in a user's recent messages.
fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
