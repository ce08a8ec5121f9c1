//! Game labels with a cap: the first `max` games seen get their own label,
//! later ones fold into `other`, so series stay bounded whatever producers
//! send.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Label of games past the cap.
pub const OTHER: &str = "other";

/// Process-wide game → label map.
#[derive(Debug)]
pub struct GameLabels {
    max: usize,
    labels: RwLock<HashMap<String, Arc<str>>>,
    other: Arc<str>,
}

impl GameLabels {
    /// Up to `max` games get their own label.
    pub fn new(max: usize) -> Self {
        GameLabels {
            max,
            labels: RwLock::new(HashMap::new()),
            other: Arc::from(OTHER),
        }
    }

    /// The label of `game_id`.
    pub fn label(&self, game_id: &str) -> Arc<str> {
        if let Some(label) = self
            .labels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(game_id)
        {
            return Arc::clone(label);
        }
        let mut labels = self.labels.write().unwrap_or_else(|p| p.into_inner());
        if let Some(label) = labels.get(game_id) {
            return Arc::clone(label);
        }
        if labels.len() >= self.max || game_id == OTHER {
            return Arc::clone(&self.other);
        }
        let label: Arc<str> = Arc::from(game_id);
        labels.insert(game_id.to_owned(), Arc::clone(&label));
        label
    }

    /// Games with their own label.
    pub fn tracked(&self) -> usize {
        self.labels.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn games_past_the_cap_fold_into_other() {
        let games = GameLabels::new(2);
        assert_eq!(&*games.label("a"), "a");
        assert_eq!(&*games.label("b"), "b");
        assert_eq!(&*games.label("c"), "other");
        assert_eq!(&*games.label("a"), "a", "known games keep their label");
        assert_eq!(games.tracked(), 2);
    }
}
