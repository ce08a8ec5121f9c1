//! `repetition`: a user repeating the same normalized line `threshold`
//! times within `window` (lines shorter than `min_chars` do not count).

use super::{Detector, Hit, Observation, RoomState, UserState};

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
    fn observe(
        &self,
        rule: usize,
        seen: &Observation<'_>,
        user: &mut UserState,
        _room: &mut RoomState,
    ) -> Option<Hit> {
        if !(seen.is_chat && seen.chars >= self.min_chars) {
            return None;
        }
        let (message, hash) = (seen.message, seen.hash);
        user.matching(seen.at - self.window, self.threshold, |r| r.hash == hash)
            .map(|(n, ids, start)| Hit {
                rule,
                subject: format!("{hash:016x}"),
                evidence: ids,
                score: n as f64 / self.threshold as f64,
                summary: format!(
                    "{} repeated the same line {n} times in {}",
                    message.user_id, message.room_id
                ),
                window_start: start,
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
