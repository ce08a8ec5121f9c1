//! A short chat script through the anomaly-detector's rule evaluation with
//! the default rules (deploy/anomaly-detector/rules.toml and its word
//! lists), then into incidents, as the detector step does; a line that
//! may count for a cross-room rule goes through its sighting into the
//! copy tracks, as the by-game step does.
//!
//! The input is text, one event per line (see [`parley_fuzz::script`]), so
//! seeds and crash inputs are readable:
//! `ROOM [GAME/]USER KIND[@ROLE] GAP_MS[xTIMES] TEXT`, plus `tick` and
//! `skew MS` lines.
//!
//! `FUZZ_SHOW_HITS=1` prints every hit, to read a seed or a crash input.
//!
//! Checks: no panic; every hit names a rule, carries 1–50 evidence ids and a
//! finite score; every alert is Alert v1 JSON with 1–50 message ids; state
//! stays within its caps (users, rooms, first-seen users).
#![no_main]

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use anomaly_detector::detect::{
    copies, evaluate, text_hash, CopyState, GlobalState, Hit, PartitionState, MAX_EVIDENCE,
};
use anomaly_detector::incidents::{incident_key, Alert, Incidents};
use anomaly_detector::sighting::Sighting;
use libfuzzer_sys::fuzz_target;
use parley_fuzz::script::{self, Line, Script};
use parley_moderation::text::normalize::normalize;

/// Users (and rooms) per partition: small, so pruning runs.
const MAX_USERS: usize = 16;
/// First-seen users remembered (the detector's floor).
const MAX_SEEN: usize = 1024;
/// Messages evaluated per input at most.
const MAX_MESSAGES: usize = 4096;

fuzz_target!(|script: Script| {
    let rules = parley_fuzz::default_rules();
    let mut partition = PartitionState::new(MAX_USERS);
    let global = Mutex::new(GlobalState::new(MAX_SEEN));
    let mut copy_tracks = CopyState::new(MAX_SEEN);
    let mut copied: Vec<usize> = Vec::new();
    let mut incidents = Incidents::default();
    let wall0 = Instant::now();
    let (mut at, mut latest, mut skew) = (script::T0, script::T0, 0i64);
    let mut hits: Vec<Hit> = Vec::new();
    let mut evaluated = 0;

    for line in &script.lines {
        let event = match line {
            Line::Skew(ms) => {
                skew = *ms;
                continue;
            }
            Line::Tick => {
                partition.prune(false);
                copy_tracks.prune();
                let wall = wall0 + Duration::from_millis((latest - script::T0).max(0) as u64);
                for alert in incidents.resolve_quiet(wall) {
                    check_alert(&alert);
                }
                for alert in incidents.due_updates(wall, Duration::from_secs(5)) {
                    check_alert(&alert);
                }
                continue;
            }
            Line::Event(event) => event,
        };
        for copy in 0..event.times {
            if evaluated >= MAX_MESSAGES {
                return;
            }
            evaluated += 1;
            at = at.saturating_add(event.gap_ms).max(0);
            latest = latest.max(at);
            let Some(message) = event.message(evaluated, at) else {
                continue;
            };
            let now = latest.saturating_add(skew).max(0);
            let norm = normalize(&message.content);
            hits.clear();
            copied.clear();
            evaluate(
                rules,
                &mut partition,
                &global,
                &message,
                &norm,
                now,
                &mut hits,
                &mut copied,
            );
            if !copied.is_empty() {
                let names = copied
                    .iter()
                    .map(|&i| rules.rules[i].name.clone())
                    .collect();
                let at = message.sent_at.min(now);
                let sighting = Sighting::of(&message, at, text_hash(&norm.squeezed), names);
                copies::observe(rules, &mut copy_tracks, &sighting, &mut hits);
            }
            let wall = wall0 + Duration::from_millis((latest - script::T0).max(0) as u64);
            for hit in &hits {
                let Some(rule) = rules.rules.get(hit.rule) else {
                    panic!("hit on rule {} of {}", hit.rule, rules.rules.len());
                };
                assert!(
                    (1..=MAX_EVIDENCE).contains(&hit.evidence.len()),
                    "{}: {} evidence ids",
                    rule.name,
                    hit.evidence.len()
                );
                assert!(hit.score.is_finite(), "{}: score {}", rule.name, hit.score);
                if show_hits() {
                    eprintln!(
                        "{} at {}: {} ({})",
                        rule.name, message.sent_at, hit.summary, message.message_id
                    );
                }
                let key = incident_key(rules, hit, (&message).into());
                if let Some(alert) =
                    incidents.observe(&key, rule, hit, (&message).into(), now, wall)
                {
                    check_alert(&alert);
                }
            }
            let (users, rooms) = partition.sizes();
            assert!(
                users <= MAX_USERS,
                "{users} users held, cap {MAX_USERS} (copy {copy} of {line:?})"
            );
            assert!(
                rooms <= MAX_USERS,
                "{rooms} rooms held, cap {MAX_USERS} (copy {copy} of {line:?})"
            );
            let seen = global.lock().seen();
            assert!(
                seen <= MAX_SEEN,
                "{seen} first-seen users held, cap {MAX_SEEN}"
            );
        }
    }
});

/// `FUZZ_SHOW_HITS=1`: print every hit (to read a seed or a crash input).
fn show_hits() -> bool {
    static SHOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("FUZZ_SHOW_HITS").is_some())
}

/// An alert is what Alert v1 allows.
fn check_alert(alert: &Alert) {
    assert!(
        (1..=MAX_EVIDENCE).contains(&alert.message_ids.len()),
        "alert {} has {} message ids",
        alert.rule,
        alert.message_ids.len()
    );
    assert!(
        alert.score.is_finite(),
        "alert {} score {}",
        alert.rule,
        alert.score
    );
    match serde_json::to_string(alert) {
        Ok(json) => assert!(parley_fuzz::is_json(&json)),
        Err(e) => panic!("alert does not serialize: {e}"),
    }
}
