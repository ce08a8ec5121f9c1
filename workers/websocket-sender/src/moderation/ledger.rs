//! The moderation state of this instance, rebuilt from `moderation-actions`:
//! who is muted or banned in which room until when, and which messages were
//! deleted. Pure (no I/O): [`Ledger::apply`] folds one action in and says
//! what the rooms must do now ([`Effect`]).

use std::collections::{HashMap, HashSet};

use parley_shared::action::{ActionKind, ModerationAction};

use crate::fanout::registry::id_hash;

/// An expiry: ms since the epoch, or `None` for "until lifted".
pub type Until = Option<i64>;

/// The key a deletion is remembered by: the room's and the message id's
/// hashes together (a deletion in one room never hides another room's
/// message with the same id).
pub fn deletion_key(room: &str, message_hash: u64) -> u64 {
    id_hash(room).rotate_left(17) ^ message_hash
}

/// What the rooms must do after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Retract the message from the room's buffer and subscribers.
    Retract {
        /// The room.
        room_id: String,
        /// The message.
        message_id: String,
    },
    /// End the user's subscriptions to the room (4403).
    Evict {
        /// The room.
        room_id: String,
        /// The banned user.
        user_id: String,
    },
    /// Nothing beyond the state change (mute, unmute, unban, an expired ban).
    None,
}

/// What holds a user back in a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Restriction {
    mute: Option<Until>,
    ban: Option<Until>,
}

fn in_force(until: Option<Until>, now_ms: i64) -> bool {
    match until {
        None => false,
        Some(None) => true,
        Some(Some(at)) => at > now_ms,
    }
}

/// Why a user may not publish to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Muted, until then.
    Muted(Until),
    /// Banned, until then.
    Banned(Until),
}

impl Held {
    /// One sentence for the client.
    pub fn reason(self) -> String {
        let (what, until) = match self {
            Held::Muted(until) => ("muted", until),
            Held::Banned(until) => ("banned", until),
        };
        match until {
            Some(at) => format!("you are {what} in this room until {at} (ms since the epoch)"),
            None => format!("you are {what} in this room until a moderator lifts it"),
        }
    }
}

/// Mutes, bans and deletions.
#[derive(Debug, Default)]
pub struct Ledger {
    /// room → user → restriction.
    rooms: HashMap<String, HashMap<String, Restriction>>,
    /// [`deletion_key`] of every deleted message (room and `message_id`).
    deleted: HashSet<u64>,
    applied: u64,
}

impl Ledger {
    /// Folds `action` in (at `now_ms`, to tell expired bans apart).
    pub fn apply(&mut self, action: &ModerationAction, now_ms: i64) -> Effect {
        self.applied += 1;
        let room = &action.room_id;
        if action.action == ActionKind::DeleteMessage {
            let Some(message_id) = &action.message_id else {
                return Effect::None;
            };
            self.deleted.insert(deletion_key(room, id_hash(message_id)));
            return Effect::Retract {
                room_id: room.clone(),
                message_id: message_id.clone(),
            };
        }
        let Some(user) = &action.user_id else {
            return Effect::None;
        };
        let users = self.rooms.entry(room.clone()).or_default();
        let restriction = users.entry(user.clone()).or_default();
        match action.action {
            ActionKind::Mute => restriction.mute = Some(action.until),
            ActionKind::Unmute => restriction.mute = None,
            ActionKind::Ban => restriction.ban = Some(action.until),
            ActionKind::Unban => restriction.ban = None,
            ActionKind::DeleteMessage => {}
        }
        let banned = in_force(restriction.ban, now_ms);
        if *restriction == Restriction::default() {
            users.remove(user);
            if users.is_empty() {
                self.rooms.remove(room);
            }
        }
        if action.action == ActionKind::Ban && banned {
            Effect::Evict {
                room_id: room.clone(),
                user_id: user.clone(),
            }
        } else {
            Effect::None
        }
    }

    /// Why `user` may not publish to `room` at `now_ms`, if held back.
    pub fn held(&self, room: &str, user: &str, now_ms: i64) -> Option<Held> {
        let restriction = self.rooms.get(room)?.get(user)?;
        if in_force(restriction.ban, now_ms) {
            return restriction.ban.map(Held::Banned);
        }
        if in_force(restriction.mute, now_ms) {
            return restriction.mute.map(Held::Muted);
        }
        None
    }

    /// Whether `user` is banned from `room` at `now_ms`.
    pub fn banned(&self, room: &str, user: &str, now_ms: i64) -> bool {
        matches!(self.held(room, user, now_ms), Some(Held::Banned(_)))
    }

    /// Whether the message of `room` whose `id_hash` is `hash` was deleted.
    pub fn is_deleted(&self, room: &str, hash: u64) -> bool {
        !self.deleted.is_empty() && self.deleted.contains(&deletion_key(room, hash))
    }

    /// Forgets mutes and bans that expired before `now_ms`.
    pub fn sweep(&mut self, now_ms: i64) {
        self.rooms.retain(|_, users| {
            users.retain(|_, r| {
                if !in_force(r.mute, now_ms) {
                    r.mute = None;
                }
                if !in_force(r.ban, now_ms) {
                    r.ban = None;
                }
                *r != Restriction::default()
            });
            !users.is_empty()
        });
    }

    /// Actions applied so far, restrictions held, messages deleted.
    pub fn counts(&self) -> (u64, usize, usize) {
        let held = self.rooms.values().map(HashMap::len).sum();
        (self.applied, held, self.deleted.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn action(
        kind: ActionKind,
        user: Option<&str>,
        message: Option<&str>,
        until: Until,
    ) -> ModerationAction {
        ModerationAction {
            v: 1,
            action_id: format!("a-{kind}"),
            action: kind,
            room_id: "r".into(),
            user_id: user.map(Into::into),
            message_id: message.map(Into::into),
            until,
            reason: String::new(),
            actor: "mod".into(),
            alert_id: None,
            created_at: NOW,
        }
    }

    #[test]
    fn a_mute_holds_until_it_expires_or_is_lifted() {
        let mut ledger = Ledger::default();
        ledger.apply(
            &action(ActionKind::Mute, Some("u"), None, Some(NOW + 1000)),
            NOW,
        );
        assert_eq!(
            ledger.held("r", "u", NOW),
            Some(Held::Muted(Some(NOW + 1000)))
        );
        assert_eq!(ledger.held("r", "other", NOW), None);
        assert_eq!(ledger.held("other-room", "u", NOW), None);
        assert_eq!(ledger.held("r", "u", NOW + 1000), None, "expired");
        ledger.apply(&action(ActionKind::Mute, Some("u"), None, None), NOW);
        assert!(
            ledger.held("r", "u", NOW + 10_000_000).is_some(),
            "until lifted"
        );
        ledger.apply(&action(ActionKind::Unmute, Some("u"), None, None), NOW);
        assert_eq!(ledger.held("r", "u", NOW), None);
        assert_eq!(ledger.counts().1, 0, "nothing left held");
    }

    #[test]
    fn a_ban_evicts_refuses_and_outranks_a_mute_until_unbanned() {
        let mut ledger = Ledger::default();
        ledger.apply(&action(ActionKind::Mute, Some("u"), None, None), NOW);
        let effect = ledger.apply(&action(ActionKind::Ban, Some("u"), None, None), NOW);
        assert_eq!(
            effect,
            Effect::Evict {
                room_id: "r".into(),
                user_id: "u".into()
            }
        );
        assert!(ledger.banned("r", "u", NOW));
        assert_eq!(ledger.held("r", "u", NOW), Some(Held::Banned(None)));
        ledger.apply(&action(ActionKind::Unban, Some("u"), None, None), NOW);
        assert!(!ledger.banned("r", "u", NOW));
        assert_eq!(
            ledger.held("r", "u", NOW),
            Some(Held::Muted(None)),
            "the mute stays"
        );
    }

    #[test]
    fn a_ban_that_already_expired_evicts_nobody() {
        let mut ledger = Ledger::default();
        let effect = ledger.apply(
            &action(ActionKind::Ban, Some("u"), None, Some(NOW - 1)),
            NOW,
        );
        assert_eq!(effect, Effect::None);
        assert!(!ledger.banned("r", "u", NOW));
        ledger.sweep(NOW);
        assert_eq!(ledger.counts().1, 0);
    }

    #[test]
    fn a_deletion_is_remembered_and_retracts() {
        let mut ledger = Ledger::default();
        assert!(!ledger.is_deleted("r", id_hash("m1")));
        let effect = ledger.apply(
            &action(ActionKind::DeleteMessage, None, Some("m1"), None),
            NOW,
        );
        assert_eq!(
            effect,
            Effect::Retract {
                room_id: "r".into(),
                message_id: "m1".into()
            }
        );
        assert!(ledger.is_deleted("r", id_hash("m1")));
        assert!(!ledger.is_deleted("r", id_hash("m2")));
        assert!(
            !ledger.is_deleted("another-room", id_hash("m1")),
            "per room"
        );
    }

    #[test]
    fn held_reasons_say_until_when() {
        assert!(Held::Muted(Some(5))
            .reason()
            .contains("muted in this room until 5"));
        assert!(Held::Banned(None)
            .reason()
            .contains("until a moderator lifts it"));
    }
}
