//! `repetition`: a user repeating the same normalized line `threshold`
//! times within `window` (lines shorter than `min_chars` do not count).

use super::{Detector, Hit, Observation, Scoped};

/// The same line again and again from one user.
#[derive(Debug, Clone)]
pub struct RepetitionRule {
    /// Repeats.
    pub threshold: u32,
    /// Window (ms).
    pub window: i64,
    /// Minimum characters.
    pub min_chars: usize,
}

impl Detector for RepetitionRule {
    fn observe(&self, rule: usize, seen: &Observation<'_>, state: &mut Scoped<'_>) -> Option<Hit> {
        if !(seen.is_chat && seen.chars >= self.min_chars) {
            return None;
        }
        let hash = seen.hash;
        let found = state
            .user
            .matching(seen.at - self.window, self.threshold, |r| r.hash == hash)?;
        let message = seen.message;
        Some(Hit {
            subject: format!("{hash:016x}"),
            ..Hit::counted(rule, self.threshold, found, |n| {
                format!(
                    "{} repeated the same line {n} times in {}",
                    message.user_id, message.room_id
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::{message, Run, T0};

    #[test]
    fn repetition_needs_the_same_normalized_text() {
        let mut run = Run::new(
            r#"[[rule]]
    name = "rep"
    kind = "repetition"
    category = "repetition"
    severity = "info"
    threshold = 3
    window = "1m""#,
        );
        assert!(run.send(&message("u", "r", "buy my stuff", T0)).is_empty());
        assert!(run
            .send(&message("u", "r", "something else", T0 + 1))
            .is_empty());
        assert!(run
            .send(&message("u", "r", "BUY my stuff!!", T0 + 2))
            .is_empty());
        assert_eq!(
            run.send(&message("u", "r", "buy  my  stuff", T0 + 3)),
            ["rep"]
        );
        assert!(run
            .send(&message("other", "r", "buy my stuff", T0 + 4))
            .is_empty());
    }
}
