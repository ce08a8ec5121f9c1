//! `content`: keywords or patterns in one message. Every content rule is
//! matched at once by the rule set's automaton; a match is a hit.

use super::{Hit, Observation};

/// A content rule: its keywords and patterns are spec `spec` of the rule
/// set's content matcher.
#[derive(Debug, Clone)]
pub struct ContentRule {
    /// Index into the matcher's specs.
    pub spec: usize,
}

impl ContentRule {
    /// The hit of rule number `rule` (alert category `category`) whose
    /// content matched `seen`.
    pub fn hit(rule: usize, category: &str, seen: &Observation<'_>) -> Hit {
        let message = seen.message;
        Hit {
            rule,
            subject: String::new(),
            evidence: vec![message.message_id.clone()],
            score: 1.0,
            summary: format!(
                "{} posted {category} content in {}",
                message.user_id, message.room_id
            ),
            window_start: seen.at,
        }
    }
}
