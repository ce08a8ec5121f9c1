//! Recovery the room buffer cannot serve: read the room's partition from
//! Kafka (assign + seek, no group) between two offsets and queue the room's
//! records for the client. A semaphore bounds concurrent reads, so a
//! reconnect storm queues up instead of overloading the brokers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_shared::runtime::Decode;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Semaphore;

use crate::fanout::outbox::Outbox;
use crate::fanout::RoomRecord;
use crate::moderation::Moderation;
use crate::protocol::{message_frame, Pos};

/// Why a replay did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Kafka could not be read.
    #[error("Kafka: {0}")]
    Kafka(String),
    /// The deadline passed.
    #[error("recovery took longer than {0:?}")]
    Timeout(Duration),
    /// The client went away.
    #[error("connection closed")]
    Closed,
}

/// One room's replay request.
#[derive(Debug, Clone)]
pub struct ReplayRange {
    /// Room.
    pub room: String,
    /// Its partition.
    pub partition: i32,
    /// First offset to deliver.
    pub from: i64,
    /// First offset not to read.
    pub until: i64,
    /// Whether moderators-only records may be delivered.
    pub sees_moderators: bool,
}

/// Bounded Kafka reads for recoveries.
#[derive(Debug, Clone)]
pub struct KafkaReplay {
    properties: Arc<BTreeMap<String, String>>,
    topic: String,
    permits: Arc<Semaphore>,
    timeout: Duration,
    moderation: Arc<Moderation>,
}

impl KafkaReplay {
    /// Reads of `topic` with the given client properties, at most
    /// `concurrency` at a time, each within `timeout`.
    pub fn new(
        properties: BTreeMap<String, String>,
        topic: String,
        concurrency: usize,
        timeout: Duration,
        moderation: Arc<Moderation>,
    ) -> Self {
        KafkaReplay {
            properties: Arc::new(properties),
            topic,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
            moderation,
        }
    }

    fn consumer(properties: &BTreeMap<String, String>) -> Result<BaseConsumer, ReplayError> {
        let mut config =
            parley_shared::config::reader_config(properties, "websocket-sender-recovery");
        config.set("fetch.wait.max.ms", "50");
        config
            .create()
            .map_err(|e| ReplayError::Kafka(e.to_string()))
    }

    /// The oldest offset still retained in `partition`.
    pub async fn low_watermark(&self, partition: i32) -> Result<i64, ReplayError> {
        let _permit = self.permit().await?;
        let properties = Arc::clone(&self.properties);
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            let consumer = Self::consumer(&properties)?;
            consumer
                .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                .map(|(low, _)| low)
                .map_err(|e| ReplayError::Kafka(e.to_string()))
        })
        .await
        .map_err(|e| ReplayError::Kafka(e.to_string()))?
    }

    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ReplayError> {
        tokio::time::timeout(self.timeout, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| ReplayError::Timeout(self.timeout))?
            .map_err(|_| ReplayError::Closed)
    }

    /// Queues the room's records in `range` on `outbox`, in order, waiting
    /// while the client drains; returns how many were queued.
    pub async fn replay(
        &self,
        range: ReplayRange,
        outbox: Arc<Outbox>,
    ) -> Result<usize, ReplayError> {
        let _permit = self.permit().await?;
        let properties = Arc::clone(&self.properties);
        let topic = self.topic.clone();
        let deadline = Instant::now() + self.timeout;
        let timeout = self.timeout;
        let moderation = Arc::clone(&self.moderation);
        tokio::task::spawn_blocking(move || {
            read_range(&properties, &topic, &range, &outbox, &moderation, deadline).map_err(|e| {
                match e {
                    ReplayError::Timeout(_) => ReplayError::Timeout(timeout),
                    other => other,
                }
            })
        })
        .await
        .map_err(|e| ReplayError::Kafka(e.to_string()))?
    }
}

/// The blocking read behind [`KafkaReplay::replay`].
fn read_range(
    properties: &BTreeMap<String, String>,
    topic: &str,
    range: &ReplayRange,
    outbox: &Outbox,
    moderation: &Moderation,
    deadline: Instant,
) -> Result<usize, ReplayError> {
    let consumer = KafkaReplay::consumer(properties)?;
    let (_, high) = consumer
        .fetch_watermarks(topic, range.partition, Duration::from_secs(5))
        .map_err(|e| ReplayError::Kafka(e.to_string()))?;
    let until = range.until.min(high);
    if range.from >= until {
        return Ok(0);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, range.partition, Offset::Offset(range.from))
        .map_err(|e| ReplayError::Kafka(e.to_string()))?;
    consumer
        .assign(&tpl)
        .map_err(|e| ReplayError::Kafka(e.to_string()))?;
    let mut queued = 0;
    let room_key = range.room.as_bytes();
    loop {
        if Instant::now() > deadline {
            return Err(ReplayError::Timeout(Duration::ZERO));
        }
        if outbox.closed().is_some() {
            return Err(ReplayError::Closed);
        }
        let Some(result) = consumer.poll(Duration::from_millis(100)) else {
            // Offsets can be skipped (transaction markers, compaction):
            // done once the read position passed the range.
            let position = consumer.position().ok().and_then(|tpl| {
                tpl.find_partition(topic, range.partition)
                    .and_then(|e| e.offset().to_raw())
            });
            if position.is_some_and(|p| p >= until) {
                return Ok(queued);
            }
            continue;
        };
        let message = result.map_err(|e| ReplayError::Kafka(e.to_string()))?;
        let offset = message.offset();
        if offset >= until {
            return Ok(queued);
        }
        if message.key() == Some(room_key) {
            if let Ok(record) = RoomRecord::decode(message.key(), message.payload()) {
                let visible = !record.moderators_only || range.sees_moderators;
                if visible && !moderation.is_deleted(&record.room_id, record.id_hash) {
                    let pos = Pos {
                        partition: range.partition,
                        offset,
                    };
                    if let Some(frame) = message_frame(&record.room_id, pos, &record.json) {
                        wait_for_room(outbox, deadline)?;
                        outbox.push_forced(frame, record.sent_at);
                        queued += 1;
                    }
                }
            }
        }
        if offset + 1 >= until {
            return Ok(queued);
        }
    }
}

/// Blocks while the client's queue is more than half full.
fn wait_for_room(outbox: &Outbox, deadline: Instant) -> Result<(), ReplayError> {
    while outbox.queued_bytes() > outbox.capacity() / 2 {
        if outbox.closed().is_some() {
            return Err(ReplayError::Closed);
        }
        if Instant::now() > deadline {
            return Err(ReplayError::Timeout(Duration::ZERO));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}
