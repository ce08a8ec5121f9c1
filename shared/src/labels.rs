//! Metric label values with a cap (e.g. `game`): the first `max` values seen
//! get their own label, later ones fold into `other`, so series stay bounded
//! whatever producers send.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

/// Label of games past the cap.
pub const OTHER: &str = "other";

/// A game's label and its dense index (0 = `other`), for per-game arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameLabel {
    /// Dense index; `other` is 0.
    pub index: usize,
    /// Label value.
    pub name: Arc<str>,
}

/// Process-wide game → label map.
#[derive(Debug)]
pub struct GameLabels {
    max: usize,
    labels: RwLock<HashMap<String, GameLabel>>,
    other: GameLabel,
}

impl GameLabels {
    /// Up to `max` games get their own label.
    pub fn new(max: usize) -> Self {
        GameLabels {
            max,
            labels: RwLock::new(HashMap::new()),
            other: GameLabel {
                index: 0,
                name: Arc::from(OTHER),
            },
        }
    }

    /// The label of `game_id`.
    pub fn label(&self, game_id: &str) -> GameLabel {
        if let Some(label) = self.labels.read().get(game_id) {
            return label.clone();
        }
        let mut labels = self.labels.write();
        if let Some(label) = labels.get(game_id) {
            return label.clone();
        }
        if labels.len() >= self.max || game_id == OTHER {
            return self.other.clone();
        }
        let label = GameLabel {
            index: labels.len() + 1,
            name: Arc::from(game_id),
        };
        labels.insert(game_id.to_owned(), label.clone());
        label
    }

    /// Games with their own label.
    pub fn tracked(&self) -> usize {
        self.labels.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn games_past_the_cap_fold_into_other() {
        let games = GameLabels::new(2);
        assert_eq!((&*games.label("a").name, games.label("a").index), ("a", 1));
        assert_eq!(&*games.label("b").name, "b");
        assert_eq!(
            (&*games.label("c").name, games.label("c").index),
            ("other", 0)
        );
        assert_eq!(&*games.label("a").name, "a", "known games keep their label");
        assert_eq!(games.tracked(), 2);
    }
}
