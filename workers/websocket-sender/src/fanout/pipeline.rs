//! `game-messages` → rooms: the worker's step after the shared runtime
//! decoded a record ([`RoomRecord`]) is [`RoomFanout`], publishing it into
//! the [`RoomRegistry`].
//! Delivery into the in-memory rooms is the work, so each record is done
//! (committable) as soon as it was handed over; live reads start at the end
//! of each partition, or where this process left off after an internal
//! rebalance, so no room ever has a silent gap.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parley_shared::metrics::{now_ms, RuntimeMetrics};
use parley_shared::runtime::{Decode, DecodeFailure, Envelope, Pipeline, Progress};
use parley_shared::{GameMessage, Visibility};
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::registry::{id_hash, Delivery, RoomRegistry};
use super::ring::{Entry, Pushed};
use crate::metrics::SenderMetrics;
use crate::moderation::Moderation;
use crate::protocol::{message_frame, Pos};

/// A valid `game-messages` record, reduced to what fan-out needs; its
/// original JSON goes to clients untouched.
#[derive(Debug, Clone)]
pub struct RoomRecord {
    /// Room (= key).
    pub room_id: String,
    /// Moderators-only.
    pub moderators_only: bool,
    /// `sent_at` (ms).
    pub sent_at: i64,
    /// Hash of `message_id`.
    pub id_hash: u64,
    /// The original JSON.
    pub json: Vec<u8>,
}

impl Decode for RoomRecord {
    fn decode(key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Self, DecodeFailure> {
        let message = <GameMessage as Decode>::decode(key, payload)?;
        Ok(RoomRecord {
            moderators_only: message.visibility == Visibility::Moderators,
            sent_at: message.sent_at,
            id_hash: id_hash(&message.message_id),
            room_id: message.room_id,
            json: payload.map(<[u8]>::to_vec).unwrap_or_default(),
        })
    }
}

/// `game-messages` → rooms.
pub struct RoomFanout {
    registry: Arc<RoomRegistry>,
    metrics: RuntimeMetrics,
    sender_metrics: SenderMetrics,
    topic: String,
    watermarks: Option<BaseConsumer>,
    moderation: Arc<Moderation>,
}

impl RoomFanout {
    /// A fan-out of `topic` into `registry`; `kafka` is used to find
    /// partition ends.
    pub fn new(
        topic: String,
        registry: Arc<RoomRegistry>,
        metrics: RuntimeMetrics,
        sender_metrics: SenderMetrics,
        kafka: &BTreeMap<String, String>,
        moderation: Arc<Moderation>,
    ) -> Self {
        let watermarks = parley_shared::config::client_config(kafka)
            .create()
            .map_err(|e| tracing::warn!(error = %e, "no watermark client; live start learned from the first record"))
            .ok();
        RoomFanout {
            topic,
            registry,
            metrics,
            sender_metrics,
            watermarks,
            moderation,
        }
    }
}

impl Pipeline for RoomFanout {
    type Item = RoomRecord;

    fn submit(&mut self, record: Envelope<RoomRecord>) -> Result<Progress, Envelope<RoomRecord>> {
        let Envelope {
            partition,
            offset,
            value,
            ..
        } = record;
        if self.moderation.is_deleted(&value.room_id, value.id_hash) {
            // Deleted before it reached this instance (the action was read first).
            self.sender_metrics
                .skipped
                .with_label_values(&["deleted"])
                .inc();
            return Ok(Progress::Done);
        }
        let pos = Pos { partition, offset };
        let Some(frame) = message_frame(&value.room_id, pos, &value.json) else {
            return Ok(Progress::Done);
        };
        let published = self.registry.publish(Delivery {
            room: value.room_id,
            partition,
            entry: Entry {
                offset,
                frame,
                moderators_only: value.moderators_only,
                sent_at: value.sent_at,
                id_hash: value.id_hash,
            },
        });
        match published.outcome {
            Pushed::New => self.metrics.observe_latency(value.sent_at, now_ms()),
            Pushed::OldOffset => self
                .sender_metrics
                .skipped
                .with_label_values(&["replayed"])
                .inc(),
            Pushed::DuplicateId => self
                .sender_metrics
                .skipped
                .with_label_values(&["duplicate"])
                .inc(),
        }
        Ok(Progress::Done)
    }

    fn assigned(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        let topic = self.topic.clone();
        partitions
            .iter()
            .filter_map(|&p| {
                let state = self.registry.partitions().get(p);
                if state.start().is_some() {
                    // Read before in this process: continue without a gap.
                    return Some((p, state.processed_through() + 1));
                }
                let consumer = self.watermarks.as_ref()?;
                match consumer.fetch_watermarks(&topic, p, Duration::from_secs(5)) {
                    Ok((_, high)) => {
                        state.start_at(high);
                        Some((p, high))
                    }
                    Err(e) => {
                        tracing::warn!(partition = p, error = %e, "cannot read the partition end; starting at the latest offset");
                        None
                    }
                }
            })
            .collect()
    }
}
