//! The record stream: ordinary chat, incidents and malformed records mixed
//! by a seeded generator. Pure: the same seed and settings give the same
//! records for the same `sent_at` values.

use parley_shared::message::Meta;
use parley_shared::{GameMessage, MessageKind, Visibility};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::incidents::{Incident, IncidentKind, IncidentRate, PlannedMessage};
use crate::malformed::MalformedKind;
use crate::world::{User, World};

/// System lines; some are for moderators' eyes only.
const SYSTEM_LINES: &[(&str, Visibility)] = &[
    ("Match starts in 30 seconds", Visibility::All),
    ("Double XP weekend has begun!", Visibility::All),
    ("Server restart in 5 minutes", Visibility::All),
    (
        "Player report received for this room",
        Visibility::Moderators,
    ),
    (
        "Chat filter triggered: message hidden",
        Visibility::Moderators,
    ),
];

/// Settings of the mix.
#[derive(Debug, Clone)]
pub struct TrafficSettings {
    /// Seed of every random choice.
    pub seed: u64,
    /// Incident kinds and their rates.
    pub incidents: Vec<IncidentRate>,
    /// Share of records that are malformed, 0..=1.
    pub malformed_ratio: f64,
}

/// One record to produce, with its ground truth.
#[derive(Debug, Clone)]
pub struct Record {
    /// Kafka key: the room id.
    pub key: String,
    /// Kafka value.
    pub payload: Vec<u8>,
    /// What this record is, for `--truth`.
    pub truth: Truth,
}

/// One line of the `--truth` file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    /// `benign`, an incident category, or `malformed`.
    pub label: &'static str,
    /// The message id (absent for malformed records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The game.
    pub game_id: String,
    /// The room (the Kafka key).
    pub room_id: String,
    /// The author.
    pub user_id: String,
    /// The event kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `sent_at` of the message.
    pub sent_at: i64,
    /// `moderators` for moderators-only records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<&'static str>,
    /// The incident this message belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    /// How a malformed record was broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<&'static str>,
    /// The DLQ `error.kind` a malformed record must get.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_error: Option<&'static str>,
}

/// Counts of what was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrafficCounts {
    /// Valid messages (benign and incident).
    pub valid: u64,
    /// Malformed records.
    pub malformed: u64,
    /// Messages belonging to incidents.
    pub incident_messages: u64,
    /// Incidents started.
    pub incidents: u64,
    /// Moderators-only messages.
    pub moderators_only: u64,
}

/// The seeded record generator.
#[derive(Debug)]
pub struct TrafficGenerator {
    rng: ChaCha8Rng,
    world: World,
    settings: TrafficSettings,
    active: Vec<Incident>,
    next_new_user: u64,
    counts: TrafficCounts,
}

impl TrafficGenerator {
    /// A generator over `world` with `settings`.
    pub fn new(world: World, settings: TrafficSettings) -> Self {
        TrafficGenerator {
            rng: ChaCha8Rng::seed_from_u64(settings.seed),
            next_new_user: world.user_count(),
            world,
            settings,
            active: Vec::new(),
            counts: TrafficCounts::default(),
        }
    }

    /// What has been generated so far.
    pub fn counts(&self) -> &TrafficCounts {
        &self.counts
    }

    /// The next record, stamped with `sent_at` (ms since the epoch).
    pub fn next_record(&mut self, sent_at: i64) -> Record {
        self.maybe_start_incidents();
        if self.settings.malformed_ratio > 0.0
            && self.rng.random_bool(self.settings.malformed_ratio.min(1.0))
        {
            return self.malformed(sent_at);
        }
        if !self.active.is_empty() && self.rng.random_bool(0.5) {
            let slot = self.rng.random_range(0..self.active.len());
            let incident = &mut self.active[slot];
            if let Some(planned) = incident.next_message() {
                let (label, id) = (incident.kind.label(), incident.id.clone());
                if incident.is_done() {
                    self.active.swap_remove(slot);
                }
                self.counts.incident_messages += 1;
                return self.message(planned, sent_at, label, Some(id));
            }
            self.active.swap_remove(slot);
        }
        let planned = self.benign();
        self.message(planned, sent_at, "benign", None)
    }

    fn maybe_start_incidents(&mut self) {
        for i in 0..self.settings.incidents.len() {
            let rate = self.settings.incidents[i];
            if rate.per_10k > 0.0 && self.rng.random_bool((rate.per_10k / 10_000.0).min(1.0)) {
                self.counts.incidents += 1;
                let id = format!("inc-{}-{}", self.settings.seed, self.counts.incidents);
                let incident = Incident::plan(
                    &mut self.rng,
                    &self.world,
                    rate.kind,
                    id,
                    &mut self.next_new_user,
                );
                self.active.push(incident);
            }
        }
    }

    fn benign(&mut self) -> PlannedMessage {
        let room = self.world.pick_room(&mut self.rng);
        let user = self.world.pick_user(&mut self.rng, room);
        let roll = self.rng.random_range(0..100);
        let (kind, content) = match roll {
            0..=2 => (MessageKind::Join, String::new()),
            3..=5 => (MessageKind::Leave, String::new()),
            6..=7 => (MessageKind::System, String::new()),
            _ => (MessageKind::Chat, crate::corpus::chat_line(&mut self.rng)),
        };
        PlannedMessage {
            room,
            user,
            kind,
            content,
        }
    }

    fn build(&mut self, planned: PlannedMessage, sent_at: i64) -> GameMessage {
        let room = self.world.room(planned.room);
        let mut visibility = Visibility::All;
        let mut content = planned.content;
        let mut user = planned.user;
        if planned.kind == MessageKind::System {
            let (line, seen_by) = SYSTEM_LINES[self.rng.random_range(0..SYSTEM_LINES.len())];
            content = line.to_owned();
            visibility = seen_by;
            user = User { index: 0 };
        }
        let meta = if self.rng.random_bool(0.9) {
            Meta::from_json(&self.world.meta_json(&mut self.rng)).ok()
        } else {
            None
        };
        let id_bytes: [u8; 16] = self.rng.random();
        GameMessage {
            v: parley_shared::message::SCHEMA_VERSION,
            message_id: uuid::Builder::from_random_bytes(id_bytes)
                .into_uuid()
                .to_string(),
            game_id: self.world.games()[room.game].clone(),
            room_id: room.id.clone(),
            user_id: if planned.kind == MessageKind::System {
                "system".to_owned()
            } else {
                user.id()
            },
            user_name: (planned.kind != MessageKind::System).then(|| user.name()),
            kind: planned.kind,
            content,
            sent_at,
            visibility,
            meta,
        }
    }

    fn message(
        &mut self,
        planned: PlannedMessage,
        sent_at: i64,
        label: &'static str,
        incident_id: Option<String>,
    ) -> Record {
        let message = self.build(planned, sent_at);
        self.counts.valid += 1;
        if message.is_moderators_only() {
            self.counts.moderators_only += 1;
        }
        let payload = message.to_json().unwrap_or_default();
        let visibility = message.is_moderators_only().then_some("moderators");
        Record {
            key: message.room_id.clone(),
            payload,
            truth: Truth {
                label,
                message_id: Some(message.message_id),
                game_id: message.game_id,
                room_id: message.room_id,
                user_id: message.user_id,
                kind: Some(message.kind.as_str().to_owned()),
                sent_at,
                visibility,
                incident_id,
                malformed: None,
                expected_error: None,
            },
        }
    }

    fn malformed(&mut self, sent_at: i64) -> Record {
        let planned = self.benign();
        let message = self.build(planned, sent_at);
        let valid = message.to_json().unwrap_or_default();
        let how = MalformedKind::random(&mut self.rng);
        let payload = how.corrupt(&mut self.rng, &valid);
        self.counts.malformed += 1;
        Record {
            key: message.room_id.clone(),
            payload,
            truth: Truth {
                label: "malformed",
                message_id: None,
                game_id: message.game_id,
                room_id: message.room_id,
                user_id: message.user_id,
                kind: None,
                sent_at,
                visibility: None,
                incident_id: None,
                malformed: Some(how.name()),
                expected_error: Some(how.expected_error().as_str()),
            },
        }
    }
}

/// Every incident kind at one rate, a convenience for tests and demos.
pub fn all_incidents(per_10k: f64) -> Vec<IncidentRate> {
    IncidentKind::ALL
        .into_iter()
        .map(|kind| IncidentRate { kind, per_10k })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(seed: u64, malformed_ratio: f64) -> TrafficGenerator {
        let world = World::new(3, 100, 5_000).expect("world");
        TrafficGenerator::new(
            world,
            TrafficSettings {
                seed,
                incidents: all_incidents(20.0),
                malformed_ratio,
            },
        )
    }

    #[test]
    fn same_seed_same_records() {
        let (mut a, mut b) = (generator(7, 0.05), generator(7, 0.05));
        for i in 0..2_000 {
            let (ra, rb) = (a.next_record(i), b.next_record(i));
            assert_eq!((ra.key, ra.payload), (rb.key, rb.payload));
        }
        assert_ne!(
            generator(8, 0.0).next_record(0).payload,
            generator(7, 0.0).next_record(0).payload
        );
    }

    #[test]
    fn valid_records_decode_and_match_their_truth() {
        let mut traffic = generator(11, 0.02);
        let mut labels = std::collections::HashSet::new();
        for i in 0..20_000 {
            let record = traffic.next_record(1_700_000_000_000 + i);
            labels.insert(record.truth.label);
            match parley_shared::GameMessage::decode_record(
                Some(record.key.as_bytes()),
                Some(&record.payload),
            ) {
                Ok(message) => {
                    assert_ne!(record.truth.label, "malformed");
                    assert_eq!(Some(message.message_id), record.truth.message_id);
                    assert_eq!(message.room_id, record.key);
                }
                Err(err) => {
                    assert_eq!(record.truth.label, "malformed");
                    assert_eq!(Some(err.kind().as_str()), record.truth.expected_error);
                }
            }
        }
        let counts = traffic.counts();
        assert_eq!(counts.valid + counts.malformed, 20_000);
        assert!(
            counts.malformed > 200 && counts.malformed < 600,
            "{counts:?}"
        );
        assert!(counts.moderators_only > 0);
        for kind in IncidentKind::ALL {
            assert!(
                labels.contains(kind.label()),
                "no {kind} incident in 20k records"
            );
        }
    }
}
