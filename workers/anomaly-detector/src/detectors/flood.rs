//! `flood`: a user sending `threshold` chat messages within `window`.

use super::{Detector, Hit, Observation, Scoped};

/// Too many messages from one user in a short time.
#[derive(Debug, Clone)]
pub struct FloodRule {
    /// Messages.
    pub threshold: u32,
    /// Window (ms).
    pub window: i64,
}

impl Detector for FloodRule {
    fn observe(&self, rule: usize, seen: &Observation<'_>, state: &mut Scoped<'_>) -> Option<Hit> {
        if !seen.is_chat {
            return None;
        }
        let found = state
            .user
            .matching(seen.at - self.window, self.threshold, |_| true)?;
        let message = seen.message;
        Some(Hit::counted(rule, self.threshold, found, |n| {
            format!(
                "{} sent {n} messages in {}s in {}",
                message.user_id,
                self.window / 1000,
                message.room_id
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::{message, Run, T0};

    #[test]
    fn flood_fires_at_the_threshold_within_the_window_only() {
        let mut run = Run::new(
            r#"[[rule]]
    name = "flood"
    kind = "flood"
    category = "flood"
    severity = "warning"
    threshold = 5
    window = "10s""#,
        );
        // Slow talker: 5 messages over 50 s — never a flood.
        for i in 0..5 {
            assert!(run
                .send(&message("slow", "r", &format!("line {i}"), T0 + i * 10_000))
                .is_empty());
        }
        let mut fired = Vec::new();
        for i in 0..6 {
            fired.push(run.send(&message("fast", "r", &format!("line {i}"), T0 + i * 500)));
        }
        assert!(fired[..4].iter().all(Vec::is_empty));
        assert_eq!(fired[4], ["flood"]);
    }
}
