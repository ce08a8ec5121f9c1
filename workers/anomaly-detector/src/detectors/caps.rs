//! `caps`: a user shouting (a share `ratio` of at least `min_letters`
//! letters in capitals) `threshold` times within `window`.

use super::state::Recent;
use super::{Detector, Hit, Observation, Scoped};

/// Shouting in capitals, again and again.
#[derive(Debug, Clone)]
pub struct CapsRule {
    /// Uppercase share.
    pub ratio: f64,
    /// Minimum letters.
    pub min_letters: usize,
    /// Messages.
    pub threshold: u32,
    /// Window (ms).
    pub window: i64,
}

impl Detector for CapsRule {
    fn observe(&self, rule: usize, seen: &Observation<'_>, state: &mut Scoped<'_>) -> Option<Hit> {
        if !seen.is_chat {
            return None;
        }
        let norm = seen.norm;
        if !(norm.letters >= self.min_letters
            && norm.upper as f64 >= self.ratio * norm.letters as f64)
        {
            return None;
        }
        let shouted = |r: &Recent| {
            r.letters as usize >= self.min_letters
                && f64::from(r.upper) >= self.ratio * f64::from(r.letters)
        };
        let found = state
            .user
            .matching(seen.at - self.window, self.threshold, shouted)?;
        let message = seen.message;
        Some(Hit::counted(rule, self.threshold, found, |n| {
            format!(
                "{} shouted in capitals {n} times in {}",
                message.user_id, message.room_id
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::{message, Run, T0};

    #[test]
    fn caps_and_length() {
        let mut run = Run::new(
            r#"[[rule]]
    name = "caps"
    kind = "caps"
    category = "caps"
    severity = "info"
    ratio = 0.8
    min_letters = 10
    threshold = 2

    [[rule]]
    name = "long"
    kind = "length"
    category = "other"
    severity = "info"
    max_chars = 50"#,
        );
        assert!(
            run.send(&message("u", "r", "GG WP", T0)).is_empty(),
            "too short to shout"
        );
        assert!(run
            .send(&message("u", "r", "WHY IS NOBODY DEFENDING", T0 + 1))
            .is_empty());
        assert!(run
            .send(&message("u", "r", "Why is nobody defending", T0 + 2))
            .is_empty());
        assert_eq!(
            run.send(&message("u", "r", "DEFEND THE BASE NOW!!!", T0 + 3)),
            ["caps"]
        );
        assert_eq!(
            run.send(&message("v", "r", &"a".repeat(51), T0 + 4)),
            ["long"]
        );
    }
}
