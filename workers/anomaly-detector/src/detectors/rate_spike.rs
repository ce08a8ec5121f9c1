//! `rate_spike`: a room's 10-second message count far above its usual
//! rate (`sigmas` deviations over the moving mean, at least
//! `min_messages`), once per bucket.

use super::{Detector, Hit, Observation, Scoped};

/// A sudden burst of traffic in a room.
#[derive(Debug, Clone)]
pub struct RateSpikeRule {
    /// Standard deviations.
    pub sigmas: f64,
    /// Volume guard.
    pub min_messages: u32,
    /// EWMA weight.
    pub alpha: f64,
}

impl Detector for RateSpikeRule {
    fn observe(&self, rule: usize, seen: &Observation<'_>, state: &mut Scoped<'_>) -> Option<Hit> {
        state
            .room
            .spike(self.sigmas, self.min_messages, self.alpha)
            .map(|(n, mean, ids, start)| Hit {
                rule,
                subject: String::new(),
                evidence: ids,
                score: n as f64 / mean.max(1.0),
                summary: format!(
                    "{} had {n} messages in 10s (usual {mean:.1})",
                    seen.message.room_id
                ),
                window_start: start,
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::{message, Run, T0};

    #[test]
    fn rate_spikes_need_history_and_volume() {
        let mut run = Run::new(
            r#"[[rule]]
    name = "spike"
    kind = "rate_spike"
    category = "other"
    severity = "info"
    sigmas = 5.0
    min_messages = 30"#,
        );
        let mut at = T0;
        // Two minutes of ~3 messages per 10 s.
        for i in 0..36 {
            assert!(run
                .send(&message(&format!("u{i}"), "r", "hi", at))
                .is_empty());
            at += 3_333;
        }
        at += 10_000;
        let mut fired = 0;
        for i in 0..60 {
            fired += run
                .send(&message(&format!("burst{i}"), "r", "hi", at + i))
                .len();
        }
        assert_eq!(fired, 1, "one hit per bucket");
    }
}
