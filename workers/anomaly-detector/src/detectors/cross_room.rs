//! `cross_room`: the same advert pasted by `min_users` users in `min_rooms`
//! rooms of a game within `window`. Here only whether a line may count: long
//! enough, and an advert (a link outside `allow_domains`, or `min_signals`
//! signal words); `detect::copies` counts the copies where every room of
//! the game arrives (the by-game topic).

use super::links;
use super::Observation;

/// Copy-paste spam across rooms.
#[derive(Debug, Clone)]
pub struct CrossRoomRule {
    /// Distinct users.
    pub min_users: u32,
    /// Distinct rooms.
    pub min_rooms: u32,
    /// Window (ms).
    pub window: i64,
    /// Minimum characters.
    pub min_chars: usize,
    /// Spam signal words (normalized), as one automaton.
    pub signals: Signals,
    /// Signal words needed without a foreign link.
    pub min_signals: usize,
    /// Domains whose links are not advertising.
    pub allow_domains: Vec<String>,
}

impl CrossRoomRule {
    /// Whether `seen` may count as a copy (then a sighting is sent).
    pub fn may_count(&self, seen: &Observation<'_>) -> bool {
        seen.is_chat
            && seen.chars >= self.min_chars
            && (seen
                .domains
                .iter()
                .any(|d| !links::allowed(d, &self.allow_domains))
                || self.signals.count(&seen.norm.folded) >= self.min_signals)
    }
}

/// Words that make a copied text an advert, found in one pass.
#[derive(Debug, Clone)]
pub struct Signals {
    words: Option<aho_corasick::AhoCorasick>,
}

impl Signals {
    /// The automaton of `words` (normalized), or why it cannot be built.
    pub fn new(words: &[String]) -> Result<Signals, String> {
        let folded: Vec<String> = words
            .iter()
            .map(|w| parley_moderation::text::normalize::normalize(w).folded)
            .filter(|w| !w.is_empty())
            .collect();
        if folded.is_empty() {
            return Ok(Signals { words: None });
        }
        let automaton = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&folded)
            .map_err(|e| format!("signals: {e}"))?;
        Ok(Signals {
            words: Some(automaton),
        })
    }

    /// Distinct signal words occurring as whole words in `text`.
    pub fn count(&self, text: &str) -> usize {
        let Some(words) = &self.words else {
            return 0;
        };
        let mut seen: Vec<usize> = Vec::new();
        for m in words.find_iter(text) {
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            let whole = !before.is_some_and(char::is_alphanumeric)
                && !after.is_some_and(char::is_alphanumeric);
            if whole && !seen.contains(&m.pattern().as_usize()) {
                seen.push(m.pattern().as_usize());
            }
        }
        seen.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::{message, Run, T0};

    #[test]
    fn cross_room_copies_need_users_rooms_and_an_advert() {
        let mut run = Run::new(
            r#"[[rule]]
    name = "spam"
    kind = "cross_room"
    category = "spam"
    severity = "warning"
    min_users = 3
    min_rooms = 2
    window = "10m"
    signals = ["free", "claim", "selling", "cheap"]"#,
        );
        // An ordinary line repeated everywhere is not spam.
        for (i, (u, r)) in [("a", "r1"), ("b", "r2"), ("c", "r3"), ("d", "r1")]
            .iter()
            .enumerate()
        {
            assert!(run
                .send(&message(u, r, "anyone selling iron ore?", T0 + i as i64))
                .is_empty());
        }
        let line = "FREE SKINS claim now at skinz4free.ru";
        assert!(run.send(&message("a", "r1", line, T0 + 10)).is_empty());
        assert!(run.send(&message("b", "r1", line, T0 + 11)).is_empty());
        assert_eq!(run.send(&message("c", "r2", line, T0 + 12)), ["spam"]);
    }
}
