//! Moderation on this instance: the actions moderators (and the
//! anomaly-detector) take, read from `moderation-actions` by every instance
//! under its own group (docs/contracts.md, "Moderation actions").
//!
//! [`ledger`] (who is muted or banned where, which messages are deleted;
//! pure) ← [`pipeline`] (the actions group's step: each action folded in,
//! then the rooms retract the message or evict the banned user) — read
//! from the start of the topic at every start, so a restarted instance
//! enforces what was decided before it. [`acting`] is the other direction:
//! a moderator's `moderate` op or HTTP request validated, produced with
//! `acks=all` and answered with its `action_id`. The publish path asks
//! [`Moderation::held`] before producing.

pub mod acting;
pub mod ledger;
pub mod pipeline;

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

pub use acting::Acting;
pub use ledger::{Effect, Held, Ledger};
pub use pipeline::ActionFanout;

/// The ledger shared by the actions group, the publish path, subscribes,
/// recovery and history.
#[derive(Debug, Default)]
pub struct Moderation {
    ledger: RwLock<Ledger>,
    /// Set once the actions topic was read up to where it ended at start.
    caught_up: AtomicBool,
}

impl Moderation {
    /// Whether the actions decided before this process started are all in.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Marks the start-up read of the actions topic finished.
    pub fn set_caught_up(&self) {
        if !self.caught_up.swap(true, Ordering::AcqRel) {
            let (applied, held, deleted) = self.ledger.read().counts();
            tracing::info!(
                applied,
                held,
                deleted,
                "moderation actions read: mutes and bans enforced"
            );
        }
    }

    /// Why `user` may not publish to `room` now, if held back.
    pub fn held(&self, room: &str, user: &str, now_ms: i64) -> Option<Held> {
        self.ledger.read().held(room, user, now_ms)
    }

    /// Whether `user` is banned from `room` now.
    pub fn banned(&self, room: &str, user: &str, now_ms: i64) -> bool {
        self.ledger.read().banned(room, user, now_ms)
    }

    /// Whether the message of `room` whose `id_hash` is `hash` was deleted.
    pub fn is_deleted(&self, room: &str, hash: u64) -> bool {
        self.ledger.read().is_deleted(room, hash)
    }

    /// The ledger, to fold actions in.
    pub fn ledger(&self) -> &RwLock<Ledger> {
        &self.ledger
    }
}
