//! A sighting: one chat line that may count for a cross-room rule, sent by
//! the instance that read it to the internal by-game topic (key =
//! `game_id`), so that every copy of a game's text is counted by the one
//! instance owning that game's partition there (the Kafka Streams
//! repartition pattern). Internal: not a contract (docs/contracts.md lists the
//! public topics only); both ends are this worker.

use std::time::Duration;

use parley_shared::runtime::{Decode, DecodeFailure};
use parley_shared::GameMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};

/// Default internal topic of sightings (12 partitions, key = `game_id`).
pub const BY_GAME_TOPIC: &str = parley_shared::topics::ANOMALY_BY_GAME;

/// Largest sighting accepted from the topic (ids are short; anything
/// larger is not ours).
const MAX_BYTES: usize = 64 * 1024;

/// A chat line that may count for the cross-room rules named in `rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// Schema version of this internal record (1).
    pub v: u32,
    /// Game (the record key).
    pub game_id: String,
    /// Room of the line.
    pub room_id: String,
    /// Author.
    pub user_id: String,
    /// The line's `message_id`: evidence, and the dedup key (a replay of
    /// the source records sends the same sighting again).
    pub message_id: String,
    /// Event time (`sent_at`, a future time clamped to when it was read).
    pub at: i64,
    /// Hash of the normalized text ([`crate::detect::text_hash`]).
    pub text: u64,
    /// Names of the cross-room rules the line qualified for (long enough,
    /// advertising, not exempt).
    pub rules: Vec<String>,
}

impl Sighting {
    /// The sighting of `message` (event time `at`, text hash `text`) for
    /// the rules named `rules`.
    pub fn of(message: &GameMessage, at: i64, text: u64, rules: Vec<String>) -> Sighting {
        Sighting {
            v: 1,
            game_id: message.game_id.clone(),
            room_id: message.room_id.clone(),
            user_id: message.user_id.clone(),
            message_id: message.message_id.clone(),
            at,
            text,
            rules,
        }
    }
}

impl Decode for Sighting {
    fn decode(_key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Self, DecodeFailure> {
        let payload = payload.ok_or_else(|| DecodeFailure {
            kind: "schema",
            reason: "sighting without payload".into(),
        })?;
        if payload.len() > MAX_BYTES {
            return Err(DecodeFailure {
                kind: "too-large",
                reason: format!("sighting of {} bytes", payload.len()),
            });
        }
        let sighting: Sighting = serde_json::from_slice(payload).map_err(|e| DecodeFailure {
            kind: "parse",
            reason: format!("sighting: {e}"),
        })?;
        if sighting.v != 1 || sighting.game_id.is_empty() || sighting.message_id.is_empty() {
            return Err(DecodeFailure {
                kind: "schema",
                reason: format!(
                    "sighting v{} with game {:?}, message {:?}",
                    sighting.v, sighting.game_id, sighting.message_id
                ),
            });
        }
        Ok(sighting)
    }
}

/// The producer of sightings (idempotent, key = `game_id`).
#[derive(Clone)]
pub struct KafkaSightings {
    producer: FutureProducer,
    topic: String,
}

impl KafkaSightings {
    /// Sightings to `topic` through `producer` (the detector's one
    /// idempotent producer, [`crate::sinks::producer`]).
    pub fn new(producer: FutureProducer, topic: &str) -> Self {
        KafkaSightings {
            producer,
            topic: topic.to_owned(),
        }
    }

    /// Sends one sighting, waiting for the broker's ack.
    pub async fn send(&self, sighting: &Sighting) -> Result<(), String> {
        let payload = serde_json::to_vec(sighting).map_err(|e| e.to_string())?;
        self.producer
            .send(
                FutureRecord::to(&self.topic)
                    .key(&sighting.game_id)
                    .payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting() -> Sighting {
        Sighting {
            v: 1,
            game_id: "g".into(),
            room_id: "r1".into(),
            user_id: "u".into(),
            message_id: "m1".into(),
            at: 1_800_000_000_000,
            text: u64::MAX - 1,
            rules: vec!["copy-paste-spam".into()],
        }
    }

    #[test]
    fn a_sighting_survives_the_topic() {
        let s = sighting();
        let bytes = serde_json::to_vec(&s).expect("encode");
        assert_eq!(Sighting::decode(Some(b"g"), Some(&bytes)), Ok(s));
    }

    #[test]
    fn what_is_not_a_sighting_is_refused_with_a_kind() {
        let kind = |payload: Option<&[u8]>| Sighting::decode(None, payload).map_err(|e| e.kind);
        assert_eq!(kind(None), Err("schema"));
        assert_eq!(kind(Some(b"{")), Err("parse"));
        let mut s = sighting();
        s.v = 2;
        let bytes = serde_json::to_vec(&s).expect("encode");
        assert_eq!(kind(Some(&bytes)), Err("schema"));
        assert_eq!(kind(Some(&vec![b' '; MAX_BYTES + 1])), Err("too-large"));
    }
}
