//! `raid`: at least `min_new_users` first-seen users joining a room within
//! `window`, and `min_same_text` of them posting the same text.

use super::{Detector, Hit, Observation, Scoped};

/// New accounts arriving together and saying the same thing.
#[derive(Debug, Clone)]
pub struct RaidRule {
    /// First-seen users joining.
    pub min_new_users: u32,
    /// Of them with the same text.
    pub min_same_text: u32,
    /// Window (ms).
    pub window: i64,
}

impl Detector for RaidRule {
    fn observe(&self, rule: usize, seen: &Observation<'_>, state: &mut Scoped<'_>) -> Option<Hit> {
        if !seen.is_chat {
            return None;
        }
        state
            .room
            .raid(
                seen.at - self.window,
                seen.hash,
                self.min_new_users,
                self.min_same_text,
            )
            .map(|(joined, same, ids, start)| Hit {
                rule,
                subject: String::new(),
                evidence: ids,
                score: same as f64 / self.min_same_text as f64,
                summary: format!(
                    "{joined} new users joined {} and {same} posted the same text",
                    seen.message.room_id
                ),
                window_start: start,
            })
    }
}

#[cfg(test)]
mod tests {

    use crate::detect::testing::{join, message, Run, T0};

    #[test]
    fn raids_are_new_users_joining_and_posting_the_same_text() {
        let mut run = Run::new(
            r#"[[rule]]
    name = "raid"
    kind = "raid"
    category = "raid"
    severity = "critical"
    min_new_users = 5
    min_same_text = 4
    window = "1m""#,
        );
        // Regulars chatting and the same regular re-joining are not a raid.
        for i in 0..20 {
            run.send(&message(&format!("regular{i}"), "r", "hello there", T0 + i));
        }
        let mut fired = Vec::new();
        for i in 0..6 {
            let raider = format!("raider{i}");
            run.send(&join(&raider, "r", T0 + 100 + i * 2));
            fired.push(run.send(&message(
                &raider,
                "r",
                "RAID RAID RAID 🚀",
                T0 + 101 + i * 2,
            )));
        }
        assert!(fired[..3].iter().all(Vec::is_empty), "{fired:?}");
        assert!(fired[4].contains(&"raid".to_owned()), "{fired:?}");
    }
}
