//! parley-moderation: the moderation rules every worker that judges chat
//! text shares, so that anomaly-detector (alerts after delivery) and
//! websocket-sender (blocks before delivery) read one rule file the same
//! way and match text with one implementation.
//!
//! - [`rules`]: the rule file as written (TOML, [`rules::RuleFile`]), the
//!   checks every worker applies to it (names, cooldowns, `action`,
//!   `on_alert`, exemptions) and the compile of a content rule into a
//!   [`text::content::ContentSpec`]. The kinds a worker evaluates on its own
//!   state (floods, raids…) are compiled by that worker.
//! - [`text`]: normalization (case, Unicode tricks, leetspeak, spacing) and
//!   the content matcher (keywords, evasions, allow-lists, patterns).
//! - [`blocklist`]: the enabled content rules with `action = "block"`,
//!   checked on a message before it is published.
//!
//! Everything here is pure: no I/O but reading the rule file and its word
//! lists.

pub mod blocklist;
pub mod rules;
pub mod text;

pub use blocklist::{Author, Blocked, Blocklist, CheckScratch};
pub use rules::{RuleFile, RulesError};
