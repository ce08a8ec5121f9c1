//! Detectors: one type per rule kind, each in its own file, looking at one
//! message ([`Observation`]) and the bounded state of its user and room
//! ([`state`]) and saying whether its rule fires ([`Hit`]). The rule set
//! holds them in one enum (`rules::Kind`) and `detect::evaluate` matches
//! on it, so every call is static (no boxed trait object per message).
//!
//! - Per user: [`FloodRule`], [`RepetitionRule`], [`CapsRule`],
//!   [`LinksRule`], [`LengthRule`] (one message).
//! - Per room: [`RaidRule`], [`RateSpikeRule`].
//! - Matched by the content automaton: [`ContentRule`].
//! - Counted per game, through the by-game topic: [`CrossRoomRule`] (here
//!   only whether a line may count; `detect::copies` counts).

pub mod caps;
pub mod content;
pub mod cross_room;
pub mod flood;
pub mod length;
pub mod links;
pub mod message_ref;
pub mod raid;
pub mod rate_spike;
pub mod repetition;
pub mod state;

use parley_shared::GameMessage;

pub use caps::CapsRule;
pub use content::ContentRule;
pub use cross_room::{CrossRoomRule, Signals};
pub use flood::FloodRule;
pub use length::LengthRule;
pub use links::LinksRule;
pub use message_ref::MessageRef;
pub use raid::RaidRule;
pub use rate_spike::RateSpikeRule;
pub use repetition::RepetitionRule;
pub use state::{RoomState, UserState};

use parley_moderation::text::normalize::Normalized;

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

/// What every detector sees of one message, computed once per message.
pub struct Observation<'a> {
    /// The message.
    pub message: &'a GameMessage,
    /// Its normalized text.
    pub norm: &'a Normalized,
    /// Event time (`sent_at`, future times clamped to now).
    pub at: i64,
    /// Hash of the normalized text (`detect::text_hash`).
    pub hash: u64,
    /// Characters of the folded text.
    pub chars: usize,
    /// Domains linked in the content.
    pub domains: &'a [String],
    /// A chat message (not a join or leave).
    pub is_chat: bool,
    /// `message_id`, for evidence.
    pub id: &'a MessageRef,
}

/// The state one message touched (it already holds the message).
pub struct Scoped<'s> {
    /// Its user's recent messages.
    pub user: &'s mut UserState,
    /// Its room's activity.
    pub room: &'s mut RoomState,
}

/// A rule kind that looks at one message and the state of its user and
/// room, and may fire.
pub trait Detector {
    /// The hit of rule number `rule` on `seen`, if it fires.
    fn observe(&self, rule: usize, seen: &Observation<'_>, state: &mut Scoped<'_>) -> Option<Hit>;
}

impl Hit {
    /// The hit of rule `rule` when `n` of a user's recent messages matched
    /// and `threshold` were needed: `found` is `(n, evidence, earliest
    /// time)`, as `UserState::matching` says; `summary` gets `n`.
    pub fn counted(
        rule: usize,
        threshold: u32,
        found: (usize, Vec<String>, i64),
        summary: impl FnOnce(usize) -> String,
    ) -> Hit {
        let (n, evidence, window_start) = found;
        Hit {
            rule,
            subject: String::new(),
            evidence,
            score: n as f64 / threshold as f64,
            summary: summary(n),
            window_start,
        }
    }
}
