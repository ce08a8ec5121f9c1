//! Incidents: hits of one rule on one key (user, room, game or copied
//! text) fold into one open incident. An incident is alerted once, when it
//! opens; later evidence folds into it (an update with the same `alert_id`
//! is published at most every few seconds while evidence grows, so
//! moderators see it); it is resolved after `cooldown` without new
//! evidence, and only then can the same key alert again.
//!
//! Incidents alerted by another instance, or by this process before a
//! restart, are known from the alert topic ([`crate::journal`]): when their
//! key fires again within the rule's cooldown (a replay that starts inside
//! a long incident, a partition that moved), the incident is reopened
//! under the `alert_id` it already has instead of a new one named after
//! later first evidence.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parley_shared::GameMessage;

use crate::detectors::{Hit, MAX_EVIDENCE};
use crate::rules::{Kind, Rule, RuleSet, Scope};
use crate::sighting::Sighting;

/// The incident key of a hit: scope key plus subject.
pub fn incident_key(rules: &RuleSet, hit: &Hit, message: Origin<'_>) -> String {
    let rule = &rules.rules[hit.rule];
    let scope = match rule.scope {
        Scope::User => format!("user:{}:{}", message.game_id, message.user_id),
        Scope::Room => format!("room:{}", message.room_id),
        Scope::Game => format!("game:{}", message.game_id),
        Scope::Global => "global".to_owned(),
    };
    format!("{}|{scope}|{}", rule.name, hit.subject)
}

/// The line a hit fired on, as far as its incident needs it: a chat
/// message, or a sighting of one (the by-game consumer).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Game.
    pub game_id: &'a str,
    /// Room.
    pub room_id: &'a str,
    /// Author.
    pub user_id: &'a str,
    /// Event time.
    pub sent_at: i64,
}

impl<'a> From<&'a GameMessage> for Origin<'a> {
    fn from(m: &'a GameMessage) -> Self {
        Origin {
            game_id: &m.game_id,
            room_id: &m.room_id,
            user_id: &m.user_id,
            sent_at: m.sent_at,
        }
    }
}

impl<'a> From<&'a Sighting> for Origin<'a> {
    fn from(s: &'a Sighting) -> Self {
        Origin {
            game_id: &s.game_id,
            room_id: &s.room_id,
            user_id: &s.user_id,
            sent_at: s.at,
        }
    }
}

pub use parley_shared::alert::Alert;

/// An incident alerted before, as the alert topic tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Its id.
    pub alert_id: String,
    /// Its earliest evidence time (ms).
    pub window_start: i64,
    /// Its latest evidence time (ms).
    pub window_end: i64,
}

/// One open incident.
#[derive(Debug, Clone)]
struct Incident {
    alert: Alert,
    last_evidence: Instant,
    cooldown: Duration,
    /// Evidence arrived since the alert was last published.
    changed: bool,
    last_published: Instant,
}

/// Evidence kept from the start of an incident when it outgrows 50 ids
/// (the rest are the most recent).
const FIRST_EVIDENCE: usize = 10;

/// Every open incident of the process.
#[derive(Debug, Default)]
pub struct Incidents {
    open: HashMap<String, Incident>,
    /// Incidents read back from the alert topic, by key (the latest each).
    known: HashMap<String, Known>,
}

/// Namespace of alert ids.
const ALERT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x7061_726c_6579_2d61_6c65_7274_2d76_3100);

/// The incident's id, the same wherever and whenever it is computed again
/// (a replay after a crash, another instance): the key and the first
/// evidence. A cross-room incident is seen in parts by the instances owning
/// its rooms, each with its own first evidence: its id is the key and the
/// cooldown-long slice of time its window starts in.
fn alert_id(key: &str, rule: &Rule, hit: &Hit) -> String {
    let name = match rule.kind {
        Kind::CrossRoom(_) => {
            let slice = (rule.cooldown.as_millis() as i64).max(1);
            format!("{key}|t{}", hit.window_start.div_euclid(slice))
        }
        _ => format!("{key}|{}", hit.evidence.first().map_or("", String::as_str)),
    };
    uuid::Uuid::new_v5(&ALERT_NAMESPACE, name.as_bytes()).to_string()
}

impl Incidents {
    /// Folds a hit into its incident; returns the alert when it opens one.
    pub fn observe(
        &mut self,
        key: &str,
        rule: &Rule,
        hit: &Hit,
        message: Origin<'_>,
        now_ms: i64,
        wall: Instant,
    ) -> Option<Alert> {
        if let Some(incident) = self.open.get_mut(key) {
            let alert = &mut incident.alert;
            // Evidence is oldest first and a window rule repeats what it
            // reported before: only what follows the newest id the alert
            // holds is new (a repeat of 50 ids is not compared 50 × 50).
            let fresh = alert
                .message_ids
                .last()
                .and_then(|last| hit.evidence.iter().rposition(|id| id == last))
                .map_or(0, |i| i + 1);
            for id in &hit.evidence[fresh..] {
                if alert.message_ids.contains(id) {
                    continue;
                }
                if alert.message_ids.len() >= MAX_EVIDENCE {
                    alert.message_ids.remove(FIRST_EVIDENCE);
                }
                alert.message_ids.push(id.clone());
                incident.changed = true;
            }
            alert.window_end = alert.window_end.max(message.sent_at.min(now_ms));
            alert.score = alert.score.max(hit.score);
            alert.summary.clone_from(&hit.summary);
            incident.last_evidence = wall;
            return None;
        }
        let at = message.sent_at.min(now_ms);
        let cooldown = rule.cooldown.as_millis() as i64;
        let (alert_id, window_start) = match self.known.get(key).filter(|k| {
            at <= k.window_end.saturating_add(cooldown)
                && at.saturating_add(cooldown) >= k.window_start
        }) {
            Some(known) => {
                tracing::debug!(alert_id = %known.alert_id, key, "incident reopened under its known id");
                (
                    known.alert_id.clone(),
                    known.window_start.min(hit.window_start),
                )
            }
            None => (alert_id(key, rule, hit), hit.window_start),
        };
        let alert = Alert {
            v: 1,
            alert_id,
            rule: rule.name.clone(),
            category: rule.category.as_str(),
            severity: rule.severity.as_str(),
            game_id: message.game_id.to_owned(),
            room_id: message.room_id.to_owned(),
            user_id: matches!(rule.scope, Scope::User).then(|| message.user_id.to_owned()),
            message_ids: hit.evidence.iter().take(MAX_EVIDENCE).cloned().collect(),
            window_start,
            window_end: at,
            detected_at: now_ms,
            score: hit.score,
            summary: hit.summary.clone(),
            key: key.to_owned(),
        };
        self.open.insert(
            key.to_owned(),
            Incident {
                alert: alert.clone(),
                last_evidence: wall,
                cooldown: rule.cooldown,
                changed: false,
                last_published: wall,
            },
        );
        Some(alert)
    }

    /// Remembers an incident read back from the alert topic (the one with
    /// the latest evidence per key is kept).
    pub fn remember(&mut self, key: &str, known: Known) {
        match self.known.get_mut(key) {
            Some(old) if old.alert_id == known.alert_id => {
                old.window_start = old.window_start.min(known.window_start);
                old.window_end = old.window_end.max(known.window_end);
            }
            Some(old) if old.window_end >= known.window_end => {}
            _ => {
                self.known.insert(key.to_owned(), known);
            }
        }
    }

    /// Forgets known incidents whose latest evidence is older than `ms`.
    pub fn forget_known_before(&mut self, ms: i64) {
        self.known.retain(|_, k| k.window_end >= ms);
    }

    /// Known incidents held.
    pub fn known(&self) -> usize {
        self.known.len()
    }

    /// Removes and returns incidents quiet for their cooldown at `wall`.
    pub fn resolve_quiet(&mut self, wall: Instant) -> Vec<Alert> {
        let mut resolved = Vec::new();
        self.open.retain(|_, incident| {
            let quiet = wall.saturating_duration_since(incident.last_evidence) >= incident.cooldown;
            if quiet {
                resolved.push(incident.alert.clone());
            }
            !quiet
        });
        resolved
    }

    /// Incidents whose evidence grew since they were last published, at
    /// most once per `every`: their updated alerts (same `alert_id`).
    pub fn due_updates(&mut self, wall: Instant, every: Duration) -> Vec<Alert> {
        let mut due = Vec::new();
        for incident in self.open.values_mut() {
            if incident.changed && wall.saturating_duration_since(incident.last_published) >= every
            {
                incident.changed = false;
                incident.last_published = wall;
                due.push(incident.alert.clone());
            }
        }
        due
    }

    /// The open incidents' alerts (latest evidence folded in).
    pub fn active(&self) -> Vec<Alert> {
        self.open.values().map(|i| i.alert.clone()).collect()
    }

    /// Open incidents.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::rules::RuleSet;

    fn rule(toml: &str) -> Rule {
        let set = RuleSet::parse(toml, Path::new("test.toml"), Path::new(".")).expect("rules");
        set.rules[0].clone()
    }

    fn hit(first: &str, window_start: i64) -> Hit {
        Hit {
            rule: 0,
            subject: "free gold".into(),
            evidence: vec![first.into()],
            score: 1.0,
            summary: String::new(),
            window_start,
        }
    }

    #[test]
    fn a_cross_room_incident_has_one_id_whoever_sees_which_part() {
        let spam = rule(
            r#"[[rule]]
name = "spam"
kind = "cross_room"
category = "spam"
severity = "warning"
cooldown = "10m"
min_users = 3
min_rooms = 2
window = "10m"
signals = ["free"]"#,
        );
        const T0: i64 = 1_800_000_000_000;
        // Two instances (or a replay) start from different first evidence
        // a few milliseconds apart: one id.
        let a = alert_id("k", &spam, &hit("m1", T0 + 5));
        assert_eq!(a, alert_id("k", &spam, &hit("m7", T0 + 30)));
        // The same text in a later wave is another incident.
        assert_ne!(a, alert_id("k", &spam, &hit("m9", T0 + 11 * 60_000)));
    }

    #[test]
    fn a_per_key_incident_is_named_by_its_first_evidence() {
        let flood = rule(
            r#"[[rule]]
name = "flood"
kind = "flood"
category = "flood"
severity = "warning"
threshold = 3
window = "30s""#,
        );
        let a = alert_id("k", &flood, &hit("m1", 1));
        assert_eq!(a, alert_id("k", &flood, &hit("m1", 1)));
        assert_ne!(a, alert_id("k", &flood, &hit("m2", 1)));
    }

    #[test]
    fn a_known_incident_is_reopened_under_its_id_within_its_cooldown() {
        let raid = rule(
            r#"[[rule]]
name = "raid"
kind = "raid"
category = "raid"
severity = "critical"
min_new_users = 10
min_same_text = 5
window = "2m"
cooldown = "10m""#,
        );
        const T0: i64 = 1_800_000_000_000;
        const MIN: i64 = 60_000;
        let origin = |at| Origin {
            game_id: "g",
            room_id: "r",
            user_id: "u",
            sent_at: at,
        };
        // The raid another instance alerted, its evidence up to `end`.
        let first = |end| Known {
            alert_id: "first".into(),
            window_start: T0,
            window_end: end,
        };
        let wall = Instant::now();
        let mut incidents = Incidents::default();
        // Its evidence went on to T0 + 2m (two alert records).
        incidents.remember("raid|room:r|", first(T0 + MIN));
        incidents.remember("raid|room:r|", first(T0 + 2 * MIN));
        // A replay starting inside it fires on later first evidence: the
        // same incident, the same id, its window from the start.
        let at = T0 + 5 * MIN;
        let alert = incidents
            .observe(
                "raid|room:r|",
                &raid,
                &hit("m40", at - MIN),
                origin(at),
                at,
                wall,
            )
            .expect("reopened");
        assert_eq!(alert.alert_id, "first");
        assert_eq!((alert.window_start, alert.window_end), (T0, at));
        assert_eq!(alert.key, "raid|room:r|");
        // Another key, or the same key past the cooldown: a new incident.
        let other = incidents
            .observe("raid|room:s|", &raid, &hit("m41", at), origin(at), at, wall)
            .expect("new");
        assert_ne!(other.alert_id, "first");
        let mut later = Incidents::default();
        later.remember("raid|room:r|", first(T0 + 2 * MIN));
        let at = T0 + 13 * MIN;
        let alert = later
            .observe("raid|room:r|", &raid, &hit("m90", at), origin(at), at, wall)
            .expect("new");
        assert_ne!(alert.alert_id, "first");
        assert_eq!(alert.window_start, at);
        // Forgotten once older than the lookback.
        later.forget_known_before(T0 + 3 * MIN);
        assert_eq!(later.known(), 0);
    }
}
