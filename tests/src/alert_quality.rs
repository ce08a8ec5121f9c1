//! Alert quality against loadgen's ground truth: per category, precision
//! (alerts whose evidence belongs to an incident of that category) and
//! recall (incidents with at least one alert of their category), and the
//! false-alert rate (alerts whose evidence is only benign messages, per
//! benign message).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

/// Categories loadgen labels.
pub const CATEGORIES: [&str; 7] = [
    "toxicity",
    "spam",
    "flood",
    "raid",
    "repetition",
    "links",
    "caps",
];

#[derive(Debug, Deserialize)]
struct TruthLine {
    label: String,
    message_id: Option<String>,
    incident_id: Option<String>,
}

/// One category's figures.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CategoryQuality {
    /// Incidents in the truth.
    pub incidents: usize,
    /// Of them, with an alert of their category.
    pub detected: usize,
    /// Alerts of this category.
    pub alerts: usize,
    /// Of them, backed by an incident of this category.
    pub correct: usize,
}

impl CategoryQuality {
    /// detected / incidents (1 when there were none).
    pub fn recall(&self) -> f64 {
        if self.incidents == 0 {
            1.0
        } else {
            self.detected as f64 / self.incidents as f64
        }
    }

    /// correct / alerts (1 when there were none).
    pub fn precision(&self) -> f64 {
        if self.alerts == 0 {
            1.0
        } else {
            self.correct as f64 / self.alerts as f64
        }
    }
}

/// The whole evaluation.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Quality {
    /// Per category.
    pub categories: BTreeMap<String, CategoryQuality>,
    /// Benign messages in the truth.
    pub benign: usize,
    /// Alerts whose evidence holds only benign messages.
    pub false_alerts: usize,
    /// Alerts in total.
    pub alerts: usize,
}

impl Quality {
    /// false_alerts / benign.
    pub fn false_rate(&self) -> f64 {
        self.false_alerts as f64 / self.benign.max(1) as f64
    }

    /// A Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| category | incidents | detected | recall | alerts | precision |\n|---|---:|---:|---:|---:|---:|\n",
        );
        for (name, q) in &self.categories {
            out.push_str(&format!(
                "| {name} | {} | {} | {:.3} | {} | {:.3} |\n",
                q.incidents,
                q.detected,
                q.recall(),
                q.alerts,
                q.precision()
            ));
        }
        out.push_str(&format!(
            "\nfalse alerts: {} on {} benign messages ({:.4}%)\n",
            self.false_alerts,
            self.benign,
            self.false_rate() * 100.0
        ));
        out
    }
}

/// Alerts with the same `alert_id` (an incident's updates) merged into one,
/// evidence united, in first-seen order.
pub fn merge_updates(alerts: &[Value]) -> Vec<Value> {
    let mut order: Vec<String> = Vec::new();
    let mut merged: HashMap<String, Value> = HashMap::new();
    for (i, alert) in alerts.iter().enumerate() {
        let id = alert["alert_id"]
            .as_str()
            .map_or_else(|| format!("#{i}"), str::to_owned);
        match merged.get_mut(&id) {
            Some(existing) => {
                let mut ids: Vec<Value> = existing["message_ids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for m in alert["message_ids"].as_array().into_iter().flatten() {
                    if !ids.contains(m) {
                        ids.push(m.clone());
                    }
                }
                existing["message_ids"] = Value::Array(ids);
            }
            None => {
                order.push(id.clone());
                merged.insert(id, alert.clone());
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| merged.remove(&id))
        .collect()
}

/// Scores `alerts` (Alert v1 JSON values; updates of one `alert_id` count
/// once) against loadgen's truth lines.
pub fn evaluate(truth_jsonl: &str, alerts: &[Value]) -> Quality {
    let alerts = merge_updates(alerts);
    let mut incident_of: HashMap<String, String> = HashMap::new();
    let mut category_of: HashMap<String, String> = HashMap::new();
    let mut benign_ids: HashSet<String> = HashSet::new();
    let mut quality = Quality::default();
    for name in CATEGORIES {
        quality
            .categories
            .insert(name.to_owned(), CategoryQuality::default());
    }
    for line in truth_jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(t) = serde_json::from_str::<TruthLine>(line) else {
            continue;
        };
        let Some(id) = t.message_id else { continue };
        match (t.label.as_str(), t.incident_id) {
            ("benign", _) => {
                quality.benign += 1;
                benign_ids.insert(id);
            }
            ("malformed", _) => {}
            (label, Some(incident)) => {
                category_of
                    .entry(incident.clone())
                    .or_insert_with(|| label.to_owned());
                incident_of.insert(id, incident);
            }
            _ => {}
        }
    }
    for category in category_of.values() {
        quality
            .categories
            .entry(category.clone())
            .or_default()
            .incidents += 1;
    }
    let mut detected: HashSet<String> = HashSet::new();
    for alert in &alerts {
        quality.alerts += 1;
        let category = alert["category"].as_str().unwrap_or("other").to_owned();
        let evidence: Vec<&str> = alert["message_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let incidents: HashSet<&String> = evidence
            .iter()
            .filter_map(|id| incident_of.get(*id))
            .collect();
        let matching: Vec<&String> = incidents
            .iter()
            .copied()
            .filter(|i| category_of.get(*i) == Some(&category))
            .collect();
        let entry = quality.categories.entry(category.clone()).or_default();
        entry.alerts += 1;
        if !matching.is_empty() {
            entry.correct += 1;
            detected.extend(matching.into_iter().cloned());
        }
        if incidents.is_empty() && evidence.iter().all(|id| benign_ids.contains(*id)) {
            quality.false_alerts += 1;
        }
    }
    for incident in &detected {
        if let Some(category) = category_of.get(incident) {
            quality
                .categories
                .entry(category.clone())
                .or_default()
                .detected += 1;
        }
    }
    quality
}

/// Why the figures are not perfect: the incidents without an alert of
/// their category and the alerts not backed by one, with message texts
/// from `contents` (message_id → content).
pub fn explain(truth_jsonl: &str, alerts: &[Value], contents: &HashMap<String, String>) -> String {
    let alerts = merge_updates(alerts);
    let mut members: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut incident_of: HashMap<String, String> = HashMap::new();
    for line in truth_jsonl.lines() {
        let Ok(t) = serde_json::from_str::<TruthLine>(line) else {
            continue;
        };
        if let (Some(id), Some(incident)) = (t.message_id, t.incident_id) {
            incident_of.insert(id.clone(), incident.clone());
            let entry = members
                .entry(incident)
                .or_insert_with(|| (t.label.clone(), Vec::new()));
            entry.1.push(id);
        }
    }
    let text = |id: &str| contents.get(id).cloned().unwrap_or_default();
    let mut out = String::new();
    let mut detected: HashSet<String> = HashSet::new();
    for alert in &alerts {
        let category = alert["category"].as_str().unwrap_or("");
        let ids: Vec<&str> = alert["message_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let backing: Vec<&String> = ids
            .iter()
            .filter_map(|id| incident_of.get(*id))
            .filter(|i| members.get(*i).is_some_and(|(c, _)| c == category))
            .collect();
        if backing.is_empty() {
            out.push_str(&format!(
                "unbacked {category} alert {} ({}): {:?}\n",
                alert["rule"],
                alert["summary"],
                ids.iter()
                    .take(4)
                    .map(|id| (
                        incident_of
                            .get(*id)
                            .and_then(|i| members.get(i))
                            .map(|m| m.0.clone())
                            .unwrap_or("benign".into()),
                        text(id)
                    ))
                    .collect::<Vec<_>>()
            ));
        }
        detected.extend(backing.into_iter().cloned());
    }
    for (incident, (category, ids)) in &members {
        if !detected.contains(incident) {
            out.push_str(&format!(
                "missed {category} {incident} ({} messages): {:?}\n",
                ids.len(),
                ids.iter().take(4).map(|id| text(id)).collect::<Vec<_>>()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_alerts_against_incidents() {
        let truth = [
            r#"{"label":"benign","message_id":"b1"}"#,
            r#"{"label":"benign","message_id":"b2"}"#,
            r#"{"label":"flood","message_id":"f1","incident_id":"i1"}"#,
            r#"{"label":"flood","message_id":"f2","incident_id":"i1"}"#,
            r#"{"label":"caps","message_id":"c1","incident_id":"i2"}"#,
        ]
        .join("\n");
        let alerts = vec![
            serde_json::json!({"category": "flood", "message_ids": ["f1", "f2"]}),
            serde_json::json!({"category": "flood", "message_ids": ["b1"]}),
            serde_json::json!({"category": "repetition", "message_ids": ["f2"]}),
        ];
        let q = evaluate(&truth, &alerts);
        assert_eq!(q.categories["flood"].recall(), 1.0);
        assert_eq!(q.categories["flood"].precision(), 0.5);
        assert_eq!(q.categories["caps"].recall(), 0.0);
        assert_eq!(q.categories["repetition"].precision(), 0.0);
        assert_eq!(q.false_alerts, 1);
        assert_eq!(q.benign, 2);
    }
}
