-- Parley chat messages, written by db-writer (at-least-once + dedup).
-- Every statement is idempotent. SQL kept compatible with ClickHouse 18.16
-- (Debian's build) and current servers.
--
-- ReplacingMergeTree collapses re-inserted copies of a message: copies share
-- the whole sorting key (room_id, sent_at, message_id) and the partition
-- (day of sent_at). Read deduplicated with FINAL or GROUP BY message_id.

CREATE DATABASE IF NOT EXISTS parley;

CREATE TABLE IF NOT EXISTS parley.messages
(
    message_id      String,
    v               UInt32,
    game_id         String,
    room_id         String,
    user_id         String,
    user_name       Nullable(String),
    kind            String,
    content         String,
    sent_at         Int64,
    visibility      String,
    meta            String,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMMDD(toDateTime(intDiv(sent_at, 1000), 'UTC'))
ORDER BY (room_id, sent_at, message_id);
