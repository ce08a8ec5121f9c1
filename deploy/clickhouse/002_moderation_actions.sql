-- Parley moderation actions (Action v1 from `moderation-actions`), written
-- by db-writer (at-least-once + dedup), as the messages table is. Every
-- statement is idempotent. SQL kept compatible with ClickHouse 18.16
-- (Debian's build) and current servers.
--
-- ReplacingMergeTree collapses re-inserted copies of an action: the sorting
-- key is `action_id` alone and there is one partition, so every copy of an
-- action_id collapses, whatever else it carries. Actions are few (a
-- moderator's clicks, the detector's automatic actions), so one partition
-- sorted by id stays small. Read deduplicated with FINAL or GROUP BY
-- action_id. Messages without the deleted ones:
--   SELECT * FROM parley.messages FINAL
--   WHERE room_id = 'r' AND message_id NOT IN
--     (SELECT message_id FROM parley.moderation_actions WHERE action = 'delete_message')

CREATE DATABASE IF NOT EXISTS parley;

CREATE TABLE IF NOT EXISTS parley.moderation_actions
(
    action_id       String,
    v               UInt32,
    action          String,
    room_id         String,
    user_id         Nullable(String),
    message_id      Nullable(String),
    until           Nullable(Int64),
    reason          String,
    actor           String,
    alert_id        Nullable(String),
    created_at      Int64,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY action_id;
