//! Topic names and DLQ header names: the contracts in docs/contracts.md.

/// Chat messages from game servers, keyed by `room_id`.
pub const GAME_MESSAGES: &str = "game-messages";
/// Records a worker could not process, original key and bytes untouched.
pub const GAME_MESSAGES_DLQ: &str = "game-messages.dlq";
/// Alert v1 records from `anomaly-detector`, keyed by `room_id`.
pub const MODERATION_ALERTS: &str = "moderation-alerts";
/// Action v1 records (moderators' and the detector's actions), keyed by
/// `room_id`; kept forever (every reader rebuilds mutes and bans from it).
pub const MODERATION_ACTIONS: &str = "moderation-actions";
/// anomaly-detector's internal topic of cross-room sightings, keyed by
/// `game_id` (not a contract: only anomaly-detector writes and reads it).
pub const ANOMALY_BY_GAME: &str = "anomaly-detector.by-game";
/// Default partition count of `game-messages`.
pub const GAME_MESSAGES_PARTITIONS: i32 = 12;
/// `max.message.bytes` of `game-messages`: the largest record a producer
/// can write (Kafka's default is 1 MiB). Workers dead-letter anything over
/// 64 KiB as `too-large`, so this only says what reaches them.
pub const GAME_MESSAGES_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// `max.message.bytes` of the DLQ, and the DLQ producer's
/// `message.max.bytes`: any `game-messages` record plus its DLQ headers.
pub const DLQ_MAX_MESSAGE_BYTES: usize = GAME_MESSAGES_MAX_MESSAGE_BYTES + 1024 * 1024;

/// DLQ header names (docs/contracts.md, "Topics").
pub mod dlq_headers {
    /// One human-readable line saying what was wrong.
    pub const ERROR: &str = "error";
    /// Machine-readable class: `parse`, `schema`, `too-large`, `sink`…
    pub const ERROR_KIND: &str = "error.kind";
    /// Topic the record was read from.
    pub const SOURCE_TOPIC: &str = "source.topic";
    /// Partition the record was read from.
    pub const SOURCE_PARTITION: &str = "source.partition";
    /// Offset the record was read from.
    pub const SOURCE_OFFSET: &str = "source.offset";
    /// Name of the worker that dead-lettered it.
    pub const WORKER: &str = "worker";
    /// Present only when the DLQ refused the original payload as too large
    /// (a DLQ topic with a smaller `max.message.bytes` than its source):
    /// the payload's size in bytes; the letter then carries no payload.
    pub const PAYLOAD_DROPPED: &str = "payload.dropped";
}

/// How long a topic missing from the metadata is looked for again before
/// it is called missing: a topic just created reaches the other brokers'
/// metadata a moment later.
pub const TOPIC_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The partition count of `topic` as the brokers describe it, looked for
/// again for up to `grace` while it is missing; `None` if it still is.
pub fn partition_count<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    timeout: std::time::Duration,
    grace: std::time::Duration,
) -> rdkafka::error::KafkaResult<Option<usize>> {
    let deadline = std::time::Instant::now() + grace;
    loop {
        let metadata = client.fetch_metadata(Some(topic), timeout)?;
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| {
                t.error()
                    != Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                    && !t.partitions().is_empty()
            })
            .map(|t| t.partitions().len());
        if found.is_some() || std::time::Instant::now() >= deadline {
            return Ok(found);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
