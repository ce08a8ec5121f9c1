//! Replays a corpus through the detector's steps, as the two consumer
//! groups run them (`pipeline` then `by_game`), with event time as the
//! clock: every cooldown, window and incident sees the corpus's own pace.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use parley_moderation::text::normalize::{normalize_into, Normalized};

use super::corpus::{Corpus, START_MS};
use crate::detect::{copies, evaluate, text_hash, CopyState, GlobalState, PartitionState};
use crate::incidents::{incident_key, Alert, Incidents};
use crate::rules::RuleSet;
use crate::sighting::Sighting;

/// Users and rooms kept (the detector's default bounds are larger; the
/// corpus holds far fewer).
const MAX_STATE: usize = 100_000;

/// Every alert the rules raise on the corpus (incident openings only, in order).
pub fn replay(rules: &RuleSet, corpus: &Corpus) -> Vec<Alert> {
    let mut partition = PartitionState::new(MAX_STATE);
    let global = Mutex::new(GlobalState::new(MAX_STATE));
    let mut copy_state = CopyState::new(MAX_STATE);
    let mut incidents = Incidents::default();
    let mut norm = Normalized::default();
    let (mut hits, mut copy_hits, mut copy_rules) = (Vec::new(), Vec::new(), Vec::new());
    let mut alerts = Vec::new();
    let base = Instant::now();
    for index in 0..corpus.lines.len() {
        let Some(message) = corpus.message(index) else {
            continue;
        };
        let now = message.sent_at;
        let wall = base + Duration::from_millis((now - START_MS).max(0) as u64);
        incidents.resolve_quiet(wall);
        normalize_into(&message.content, &mut norm);
        hits.clear();
        copy_rules.clear();
        evaluate(
            rules,
            &mut partition,
            &global,
            &message,
            &norm,
            now,
            &mut hits,
            &mut copy_rules,
        );
        for hit in &hits {
            let rule = &rules.rules[hit.rule];
            let key = incident_key(rules, hit, (&message).into());
            alerts.extend(incidents.observe(&key, rule, hit, (&message).into(), now, wall));
        }
        if copy_rules.is_empty() {
            continue;
        }
        let names = copy_rules
            .iter()
            .map(|&i| rules.rules[i].name.clone())
            .collect();
        let sighting = Sighting::of(&message, now, text_hash(&norm.squeezed), names);
        copy_hits.clear();
        copies::observe(rules, &mut copy_state, &sighting, &mut copy_hits);
        for hit in &copy_hits {
            let rule = &rules.rules[hit.rule];
            let key = incident_key(rules, hit, (&sighting).into());
            alerts.extend(incidents.observe(&key, rule, hit, (&sighting).into(), now, wall));
        }
    }
    alerts
}
