//! `length`: one message longer than `max_chars` characters.

use super::{Detector, Hit, Observation, Scoped};

/// A wall of text.
#[derive(Debug, Clone)]
pub struct LengthRule {
    /// Characters.
    pub max_chars: usize,
}

impl Detector for LengthRule {
    fn observe(&self, rule: usize, seen: &Observation<'_>, _state: &mut Scoped<'_>) -> Option<Hit> {
        let message = seen.message;
        // Bytes first: counting characters only when it may be too long.
        if !(message.content.len() > self.max_chars
            && message.content.chars().count() > self.max_chars)
        {
            return None;
        }
        let length = message.content.chars().count();
        Some(Hit {
            rule,
            subject: String::new(),
            evidence: vec![message.message_id.clone()],
            score: length as f64 / self.max_chars as f64,
            summary: format!(
                "{} posted a {length}-character message in {}",
                message.user_id, message.room_id
            ),
            window_start: seen.at,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::{message, Run, T0};

    #[test]
    fn length_counts_characters_not_bytes() {
        let mut run = Run::new(
            r#"[[rule]]
name = "long"
kind = "length"
category = "other"
severity = "info"
max_chars = 50"#,
        );
        // 100 bytes, 50 characters: at the limit, not past it.
        assert!(run.send(&message("u", "r", &"é".repeat(50), T0)).is_empty());
        assert_eq!(
            run.send(&message("u", "r", &"é".repeat(51), T0 + 1)),
            ["long"]
        );
    }
}
