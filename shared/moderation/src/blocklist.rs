//! The publish-path check: the enabled content rules with
//! `action = "block"`, compiled into one [`ContentMatcher`] and checked on a
//! message before it is published. The same normalizer and matcher as
//! anomaly-detector's content rules, and the same exemptions, so a line is
//! blocked exactly when the detector would match it with that rule.
//!
//! A check allocates nothing once its [`CheckScratch`] has grown to the
//! message sizes it sees, unless a rule matches (the matcher then works out
//! the allow-listed words) or the text has a spaced-out candidate.

use std::path::Path;

use parley_shared::{GameMessage, MessageKind};

use crate::rules::{
    self, role_of, Category, CheckedRule, Exempt, RuleAction, RulesError, Severity,
};
use crate::text::content::{ContentMatcher, ContentSpec};
use crate::text::normalize::{normalize_into, Normalized};

/// The block rules of one rule file; cheap to share between threads.
#[derive(Debug)]
pub struct Blocklist {
    matcher: ContentMatcher,
    /// Matcher spec index → its rule.
    rules: Vec<BlockRule>,
}

/// One block rule: what a refusal names, and whom it ignores.
#[derive(Debug)]
struct BlockRule {
    name: String,
    category: Category,
    severity: Severity,
    exempt: Exempt,
}

/// Why a message was refused: the first block rule (in file order) it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked<'a> {
    /// The rule's name (what an alert about the refusal names).
    pub rule: &'a str,
    /// The rule's category.
    pub category: Category,
    /// The rule's severity (of the alert about the refusal).
    pub severity: Severity,
}

/// Who wrote a message, as the exemptions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Author<'a> {
    /// The author's user id.
    pub user: &'a str,
    /// The room it is published to.
    pub room: &'a str,
    /// The author's role (`viewer`, `moderator`…, or `system`), if known.
    pub role: Option<&'a str>,
}

/// Buffers a check reuses: keep one per thread or connection.
#[derive(Debug, Default)]
pub struct CheckScratch {
    norm: Normalized,
    matched: Vec<usize>,
}

impl Blocklist {
    /// Reads and checks a rule file (as [`rules::load`]) and compiles its block rules.
    pub fn load(path: &Path) -> Result<Blocklist, RulesError> {
        Self::from_rules(&rules::load(path)?)
    }

    /// Parses and checks rule-file text (as [`rules::parse`]) and compiles its block rules.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Blocklist, RulesError> {
        Self::from_rules(&rules::parse(text, path, base)?)
    }

    /// Compiles the enabled content rules of `rules` whose action is `block`.
    pub fn from_rules(rules: &[CheckedRule]) -> Result<Blocklist, RulesError> {
        let mut specs: Vec<ContentSpec> = Vec::new();
        let mut blocking = Vec::new();
        for rule in rules {
            let def = &rule.def;
            let Some(spec) = &rule.content else { continue };
            if !def.enabled || def.action != RuleAction::Block {
                continue;
            }
            specs.push(spec.clone());
            blocking.push(BlockRule {
                name: def.name.clone(),
                category: def.category,
                severity: def.severity,
                exempt: rule.exempt.clone(),
            });
        }
        let matcher = ContentMatcher::new(&specs).map_err(|e| RulesError::Invalid {
            rule: "block".into(),
            message: e.to_string(),
        })?;
        Ok(Blocklist {
            matcher,
            rules: blocking,
        })
    }

    /// Number of block rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no block rule (every check passes).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The block rules' names, in file order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// The first block rule `content` by `author` breaks, if any.
    pub fn check(
        &self,
        content: &str,
        author: Author<'_>,
        scratch: &mut CheckScratch,
    ) -> Option<Blocked<'_>> {
        if self.rules.is_empty() {
            return None;
        }
        normalize_into(content, &mut scratch.norm);
        scratch.matched.clear();
        self.matcher.matches(&scratch.norm, &mut scratch.matched);
        scratch.matched.iter().find_map(|&spec| {
            let rule = self.rules.get(spec)?;
            if rule.exempt.covers(author.user, author.room, author.role) {
                return None;
            }
            Some(Blocked {
                rule: &rule.name,
                category: rule.category,
                severity: rule.severity,
            })
        })
    }

    /// [`check`](Self::check) of a whole message as anomaly-detector judges
    /// it: joins and leaves pass, and the role is `system` for system
    /// messages, else `meta.role`. Only for messages whose `meta` a trusted
    /// producer wrote; for a player's publish, call `check` with the role
    /// from the token.
    pub fn check_message(
        &self,
        message: &GameMessage,
        scratch: &mut CheckScratch,
    ) -> Option<Blocked<'_>> {
        if matches!(message.kind, MessageKind::Join | MessageKind::Leave) {
            return None;
        }
        let role = role_of(message);
        let author = Author {
            user: &message.user_id,
            room: &message.room_id,
            role: role.as_deref(),
        };
        self.check(&message.content, author, scratch)
    }
}

#[cfg(test)]
mod tests;
