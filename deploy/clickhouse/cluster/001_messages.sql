-- Parley chat messages on a ClickHouse cluster (shards × replicas): the
-- cluster variant of ../001_messages.sql. Not applied by the local stack,
-- compose or db-writer: run it once with clickhouse-client on any server.
--
-- Needs on every server: ClickHouse Keeper (or ZooKeeper), the cluster in
-- <remote_servers>, and <macros> naming {cluster}, {shard} and {replica}.
--
-- Columns, PARTITION BY and ORDER BY equal the single-node table's, so
-- db-writer's rows and every query are the same on both;
-- tests/tests/clickhouse_cluster_ddl.rs fails when they drift apart.

CREATE DATABASE IF NOT EXISTS parley ON CLUSTER '{cluster}';

-- The data, on each shard, replicated within it. Re-inserted copies of a
-- message collapse in merges as on one node (version: ingested_at); the
-- replicas of a shard share one Keeper path.
CREATE TABLE IF NOT EXISTS parley.messages_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/parley/messages', '{replica}', ingested_at)
PARTITION BY toYYYYMMDD(toDateTime(intDiv(sent_at, 1000), 'UTC'))
ORDER BY (room_id, sent_at, message_id);

-- What db-writer inserts into and readers query, under the single-node
-- table's name. Sharded by room: every copy of a message (same room_id)
-- lands on the same shard, so ReplacingMergeTree collapses it there, FINAL
-- and GROUP BY message_id stay exact, and a room's history reads one shard.
-- Its columns are the local table's (AS), so the two cannot drift.
CREATE TABLE IF NOT EXISTS parley.messages ON CLUSTER '{cluster}'
AS parley.messages_local
ENGINE = Distributed('{cluster}', parley, messages_local, cityHash64(room_id));
