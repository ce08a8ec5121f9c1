//! Rule evaluation. Each message updates the bounded state of its user and
//! room (per partition: the key is the room) and of the process (first-seen
//! users), then every enabled rule looks at that state and may report a
//! [`Hit`]. Cross-room rules are not counted here: a line that may count
//! for one is reported back, sent to the by-game topic as a sighting, and
//! counted by [`copies`] where every copy of its game arrives. Time is
//! event time (`sent_at`, future times clamped to now), so replays judge
//! traffic as it happened.

pub mod copies;
pub mod links;
pub mod message_ref;
mod state;

use parking_lot::Mutex;
use std::hash::BuildHasher;

use parley_shared::{GameMessage, MessageKind};

pub use copies::CopyState;
pub use message_ref::MessageRef;
use state::Recent;
pub use state::{
    room_key, user_key, GlobalState, PartitionState, SpamTrack, StateSizes, UserState,
};

use crate::incidents::Origin;
use crate::rules::{Kind, RuleSet, Scope};
use crate::text::normalize::Normalized;

/// Evidence kept per alert (Alert v1: at most 50).
pub const MAX_EVIDENCE: usize = 50;

/// A rule that fired on a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the rule in the rule set.
    pub rule: usize,
    /// Extra incident key (e.g. the copied text), besides the scope key.
    pub subject: String,
    /// `message_id`s that show it, oldest first (≤ 50).
    pub evidence: Vec<String>,
    /// How far past the threshold (1.0 = at it).
    pub score: f64,
    /// One human sentence.
    pub summary: String,
    /// Earliest `sent_at` of the evidence.
    pub window_start: i64,
}

/// A stable hash of normalized text (identity of "the same line").
pub fn text_hash(squeezed: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5041_524c).hash_one(squeezed)
}

/// The message author's role for exemptions: `system` for system messages,
/// else `meta.role` when present.
pub fn role_of(message: &GameMessage) -> Option<String> {
    if message.kind == MessageKind::System {
        return Some("system".into());
    }
    let meta = message.meta.as_ref()?.as_json();
    if !meta.contains("\"role\"") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct RoleMeta {
        role: Option<String>,
    }
    serde_json::from_str::<RoleMeta>(meta).ok()?.role
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

    let caps = |ratio: f64, min_letters: usize| {
        norm.letters >= min_letters && norm.upper as f64 >= ratio * norm.letters as f64
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
            hits.push(Hit {
                rule: index,
                subject: String::new(),
                evidence: vec![message.message_id.clone()],
                score: 1.0,
                summary: format!(
                    "{} posted {} content in {}",
                    message.user_id,
                    rule.category.as_str(),
                    message.room_id
                ),
                window_start: at,
            });
        }
    }
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
        let hit = match &rule.kind {
            Kind::Flood { threshold, window } if is_chat => user
                .matching(at - window, *threshold, |_| true)
                .map(|(n, ids, start)| Hit {
                    rule: index,
                    subject: String::new(),
                    evidence: ids,
                    score: n as f64 / *threshold as f64,
                    summary: format!(
                        "{} sent {n} messages in {}s in {}",
                        message.user_id,
                        window / 1000,
                        message.room_id
                    ),
                    window_start: start,
                }),
            Kind::Repetition {
                threshold,
                window,
                min_chars,
            } if is_chat && chars >= *min_chars => user
                .matching(at - window, *threshold, |r| r.hash == hash)
                .map(|(n, ids, start)| Hit {
                    rule: index,
                    subject: format!("{hash:016x}"),
                    evidence: ids,
                    score: n as f64 / *threshold as f64,
                    summary: format!(
                        "{} repeated the same line {n} times in {}",
                        message.user_id, message.room_id
                    ),
                    window_start: start,
                }),
            Kind::Caps {
                ratio,
                min_letters,
                threshold,
                window,
            } if is_chat && caps(*ratio, *min_letters) => {
                let shouted = |r: &Recent| {
                    r.letters as usize >= *min_letters
                        && f64::from(r.upper) >= ratio * f64::from(r.letters)
                };
                user.matching(at - window, *threshold, shouted)
                    .map(|(n, ids, start)| Hit {
                        rule: index,
                        subject: String::new(),
                        evidence: ids,
                        score: n as f64 / *threshold as f64,
                        summary: format!(
                            "{} shouted in capitals {n} times in {}",
                            message.user_id, message.room_id
                        ),
                        window_start: start,
                    })
            }
            Kind::Links {
                allow_domains,
                threshold,
                window,
            } if is_chat => {
                let foreign: Vec<&String> = domains
                    .iter()
                    .filter(|d| !links::allowed(d, allow_domains))
                    .collect();
                if foreign.is_empty() {
                    None
                } else {
                    user.mark_foreign_link(&id);
                    let linked = |r: &Recent| r.foreign_link;
                    user.matching(at - window, *threshold, linked)
                        .map(|(n, ids, start)| Hit {
                            rule: index,
                            subject: String::new(),
                            evidence: ids,
                            score: n as f64 / *threshold as f64,
                            summary: format!(
                                "{} posted links to {} in {}",
                                message.user_id, foreign[0], message.room_id
                            ),
                            window_start: start,
                        })
                }
            }
            Kind::Length { max_chars }
                if message.content.len() > *max_chars
                    && message.content.chars().count() > *max_chars =>
            {
                let length = message.content.chars().count();
                Some(Hit {
                    rule: index,
                    subject: String::new(),
                    evidence: vec![message.message_id.clone()],
                    score: length as f64 / *max_chars as f64,
                    summary: format!(
                        "{} posted a {length}-character message in {}",
                        message.user_id, message.room_id
                    ),
                    window_start: at,
                })
            }
            Kind::RateSpike {
                sigmas,
                min_messages,
                alpha,
            } => room
                .spike(*sigmas, *min_messages, *alpha)
                .map(|(n, mean, ids, start)| Hit {
                    rule: index,
                    subject: String::new(),
                    evidence: ids,
                    score: n as f64 / mean.max(1.0),
                    summary: format!(
                        "{} had {n} messages in 10s (usual {mean:.1})",
                        message.room_id
                    ),
                    window_start: start,
                }),
            Kind::Raid {
                min_new_users,
                min_same_text,
                window,
            } if is_chat => room
                .raid(at - window, hash, *min_new_users, *min_same_text)
                .map(|(joined, same, ids, start)| Hit {
                    rule: index,
                    subject: String::new(),
                    evidence: ids,
                    score: same as f64 / *min_same_text as f64,
                    summary: format!(
                        "{joined} new users joined {} and {same} posted the same text",
                        message.room_id
                    ),
                    window_start: start,
                }),
            Kind::CrossRoom {
                min_chars,
                signals,
                min_signals,
                allow_domains,
                ..
            } if is_chat
                && chars >= *min_chars
                && (domains.iter().any(|d| !links::allowed(d, allow_domains))
                    || signals.count(&norm.folded) >= *min_signals) =>
            {
                copies.push(index);
                None
            }
            _ => None,
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

/// The incident key of a hit: scope key plus subject.
pub fn incident_key(rules: &RuleSet, hit: &Hit, message: Origin<'_>) -> String {
    let rule = &rules.rules[hit.rule];
    let scope = match rule.scope {
        Scope::User => format!("user:{}:{}", message.game_id, message.user_id),
        Scope::Room => format!("room:{}", message.room_id),
        Scope::Game => format!("game:{}", message.game_id),
        Scope::Global => "global".to_owned(),
    };
    format!("{}|{scope}|{}", rule.name, hit.subject)
}

#[cfg(test)]
mod tests;
