//! Alerts: every incident alerted under its category, and the repeats of an
//! incident's alert under one `alert_id` (cross-room spam included: its
//! copies are counted per game through the by-game topic, whichever
//! instance read which rooms).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use parley_tests::faults::Truth;
use parley_tests::read_all;
use serde_json::Value;

/// Reads the alerts until every incident has one (at most 90 s more);
/// returns them with (incidents detected, incidents missed, split pairs).
pub fn alerts_check(topic: &str, truth: &Truth) -> (Vec<Value>, usize, Vec<String>, usize) {
    let mut found = alerts(topic);
    let deadline = Instant::now() + Duration::from_secs(90);
    while alert_coverage(truth, &found, false).0 < truth.incidents.len()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_secs(5));
        found = alerts(topic);
    }
    let (detected, missed, split) = alert_coverage(truth, &found, true);
    (found, detected, missed, split)
}

fn alerts(topic: &str) -> Vec<Value> {
    read_all(topic, Duration::from_secs(60))
        .into_iter()
        .filter_map(|r| serde_json::from_slice(r.payload.as_deref()?).ok())
        .collect()
}

/// Incidents with an alert of their category, and (incident, rule) pairs
/// alerted under more than one `alert_id`.
fn alert_coverage(truth: &Truth, alerts: &[Value], explain: bool) -> (usize, Vec<String>, usize) {
    let mut detected: HashSet<&str> = HashSet::new();
    let mut ids: HashMap<(&str, &str), HashSet<&str>> = HashMap::new();
    for alert in alerts {
        let category = alert["category"].as_str().unwrap_or_default();
        let rule = alert["rule"].as_str().unwrap_or_default();
        let alert_id = alert["alert_id"].as_str().unwrap_or_default();
        for id in alert["message_ids"].as_array().into_iter().flatten() {
            let Some(incident) = id.as_str().and_then(|id| truth.incident_of.get(id)) else {
                continue;
            };
            if truth.incidents.get(incident).map(String::as_str) == Some(category) {
                detected.insert(incident);
                ids.entry((incident, rule)).or_default().insert(alert_id);
            }
        }
    }
    let missed: Vec<String> = truth
        .incidents
        .iter()
        .filter(|(i, _)| !detected.contains(i.as_str()))
        .map(|(i, c)| format!("{i} ({c})"))
        .collect();
    let mut split = 0;
    for ((incident, rule), alert_ids) in ids.iter().filter(|(_, s)| s.len() > 1) {
        split += 1;
        if !explain {
            continue;
        }
        eprintln!(
            "{incident} ({rule}) alerted under {} alert_ids:",
            alert_ids.len()
        );
        for a in alerts.iter().filter(|a| {
            a["rule"] == *rule && alert_ids.contains(a["alert_id"].as_str().unwrap_or_default())
        }) {
            let evidence: Vec<&str> = a["message_ids"]
                .as_array()
                .map(|m| m.iter().take(3).filter_map(Value::as_str).collect())
                .unwrap_or_default();
            eprintln!(
                "  {} room {} user {} window {}..{} detected {} evidence {:?}",
                a["alert_id"],
                a["room_id"],
                a["user_id"],
                a["window_start"],
                a["window_end"],
                a["detected_at"],
                evidence
            );
        }
    }
    (detected.len(), missed, split)
}
