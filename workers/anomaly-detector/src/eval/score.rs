//! Alerts against labels. An alert is true when one of its evidence
//! messages belongs to an incident of its category (or one the incident
//! also counts as, `also`); else it is a false alert. An incident is found
//! when an alert of its category is true for it. A second alert of one
//! rule for one incident is a repeat (the contract: one per cooldown).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use super::corpus::Corpus;
use crate::incidents::Alert;

/// The counts of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Alerts of this category.
    pub alerts: usize,
    /// Of them, true.
    pub true_alerts: usize,
    /// Incidents labelled with this category.
    pub incidents: usize,
    /// Of them, found.
    pub found: usize,
}

impl Tally {
    /// True alerts over alerts (1 when there is none).
    pub fn precision(&self) -> f64 {
        ratio(self.true_alerts, self.alerts)
    }

    /// Found incidents over incidents (1 when there is none).
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.incidents)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// A corpus's score.
#[derive(Debug, Clone, Default)]
pub struct Score {
    /// The corpus name (its language).
    pub corpus: String,
    /// Per category.
    pub categories: BTreeMap<String, Tally>,
    /// Benign messages.
    pub benign: usize,
    /// Alerts true for no incident.
    pub false_alerts: usize,
    /// Alerts of a rule for an incident it had alerted already.
    pub repeats: usize,
    /// Summaries of the false alerts, for the report (at most 20).
    pub false_examples: Vec<String>,
    /// Incidents not found, by id (at most 40).
    pub missed: Vec<String>,
}

impl Score {
    /// Scores `alerts` against the labels of `corpus`.
    pub fn of(corpus: &Corpus, alerts: &[Alert]) -> Score {
        let mut score = Score {
            corpus: corpus.name.clone(),
            ..Score::default()
        };
        // Incident id → (category, also).
        let mut incidents: HashMap<&str, (&str, &[String])> = HashMap::new();
        for line in &corpus.lines {
            match &line.incident {
                Some(id) => {
                    incidents.insert(id, (&line.label, &line.also));
                }
                None => score.benign += usize::from(line.kind == "chat"),
            }
        }
        for (category, _) in incidents.values() {
            score
                .categories
                .entry((*category).to_owned())
                .or_default()
                .incidents += 1;
        }
        let mut found: HashSet<&str> = HashSet::new();
        let mut alerted: HashSet<(&str, &str)> = HashSet::new();
        for alert in alerts {
            let tally = score
                .categories
                .entry(alert.category.to_owned())
                .or_default();
            tally.alerts += 1;
            let matching: Vec<&str> = alert
                .message_ids
                .iter()
                .filter_map(|id| corpus.index_of(id))
                .filter_map(|i| corpus.lines.get(i)?.incident.as_deref())
                .filter(|id| {
                    incidents.get(id).is_some_and(|(c, also)| {
                        *c == alert.category || also.iter().any(|a| a == alert.category)
                    })
                })
                .collect();
            if matching.is_empty() {
                score.false_alerts += 1;
                if score.false_examples.len() < 20 {
                    let texts: Vec<&str> = alert
                        .message_ids
                        .iter()
                        .filter_map(|id| corpus.lines.get(corpus.index_of(id)?))
                        .map(|l| l.text.as_str())
                        .take(3)
                        .collect();
                    score
                        .false_examples
                        .push(format!("{} ({}): {texts:?}", alert.rule, alert.category));
                }
                continue;
            }
            tally.true_alerts += 1;
            let mut repeat = true;
            for id in matching {
                if incidents.get(id).is_some_and(|(c, _)| *c == alert.category) {
                    found.insert(id);
                }
                repeat &= !alerted.insert((id, alert.rule.as_str()));
            }
            score.repeats += usize::from(repeat);
        }
        for (id, (category, _)) in &incidents {
            if found.contains(id) {
                if let Some(t) = score.categories.get_mut(*category) {
                    t.found += 1;
                }
            } else {
                score.missed.push((*id).to_owned());
            }
        }
        score.missed.sort();
        score.missed.truncate(40);
        score
    }

    /// False alerts over benign messages.
    pub fn false_alert_rate(&self) -> f64 {
        if self.benign == 0 {
            0.0
        } else {
            self.false_alerts as f64 / self.benign as f64
        }
    }

    /// The score as a Markdown table, one row per category, then the totals.
    pub fn table(&self) -> String {
        let mut out = format!(
            "corpus `{}`\n\n| category | incidents | found | recall | alerts | true | precision |\n|---|---:|---:|---:|---:|---:|---:|\n",
            self.corpus
        );
        for (category, t) in &self.categories {
            let _ = writeln!(
                out,
                "| {category} | {} | {} | {:.2} | {} | {} | {:.2} |",
                t.incidents,
                t.found,
                t.recall(),
                t.alerts,
                t.true_alerts,
                t.precision()
            );
        }
        let _ = writeln!(
            out,
            "\nbenign messages {}, false alerts {} ({:.3}%), repeated alerts {}",
            self.benign,
            self.false_alerts,
            100.0 * self.false_alert_rate(),
            self.repeats
        );
        out
    }
}
