//! db-writer's flags: the shared consumer flags plus the actions topic,
//! ClickHouse and batching.

use std::time::Duration;

use clap::Parser;
use parley_shared::batcher::BatchLimits;
use parley_shared::config::{is_plain_identifier, ClickHouseArgs, Secret};
use parley_shared::runtime::{ActionsArgs, ConsumerArgs, ConsumerSettings, WorkerIdentity};

/// Worker name and default group.
pub const WORKER: &str = "db-writer";
/// Default metrics address (docs/contracts.md).
pub const METRICS_ADDR: &str = "127.0.0.1:9102";

/// Batches `game-messages` and `moderation-actions` into ClickHouse;
/// commits after each insert.
#[derive(Debug, Clone, Parser)]
#[command(name = "db-writer", version, about)]
pub struct DbWriterConfig {
    /// Kafka consumer flags.
    #[command(flatten)]
    pub consumer: ConsumerArgs,

    /// The moderation actions group's flags (`--actions-topic`, `--actions-group`).
    #[command(flatten)]
    pub actions: ActionsArgs,

    /// ClickHouse connection.
    #[command(flatten)]
    pub clickhouse: ClickHouseArgs,

    /// ClickHouse table of moderation actions, in `--clickhouse-database`.
    #[arg(
        long,
        env = "PARLEY_CLICKHOUSE_ACTIONS_TABLE",
        default_value = "moderation_actions"
    )]
    pub clickhouse_actions_table: String,

    /// Rows per insert. Where batches are per partition (servers with
    /// insert deduplication tokens) they also end at offset multiples of
    /// this, so a replay re-forms the same batches.
    #[arg(long, env = "PARLEY_BATCH_ROWS", default_value_t = 20_000)]
    pub batch_rows: usize,

    /// Bytes per insert (encoded RowBinary bytes).
    #[arg(long, env = "PARLEY_BATCH_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub batch_bytes: usize,

    /// Longest a row waits in a batch.
    #[arg(long, env = "PARLEY_BATCH_AGE", value_parser = humantime::parse_duration, default_value = "1s")]
    pub batch_age: Duration,

    /// Inserts in flight per consumer.
    #[arg(long, env = "PARLEY_MAX_IN_FLIGHT", default_value_t = 4)]
    pub max_in_flight: usize,

    /// Rows buffered per consumer (open, waiting and in flight) before the
    /// consumer pauses its partitions.
    #[arg(long, env = "PARLEY_MAX_BUFFERED_ROWS", default_value_t = 100_000)]
    pub max_buffered_rows: usize,

    /// Compress insert bodies (`lz4`) or not (`none`: less CPU on both
    /// sides when ClickHouse is on the same host or a fast network).
    #[arg(long, env = "PARLEY_CLICKHOUSE_COMPRESSION", value_enum, default_value_t = InsertCompression::Lz4)]
    pub clickhouse_compression: InsertCompression,

    /// Timeout of one insert.
    #[arg(long, env = "PARLEY_INSERT_TIMEOUT", value_parser = humantime::parse_duration, default_value = "60s")]
    pub insert_timeout: Duration,

    /// Apply the schema (deploy/clickhouse/*.sql, built in) and exit.
    #[arg(long)]
    pub migrate: bool,
}

/// Compression of insert bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InsertCompression {
    /// No compression.
    None,
    /// ClickHouse's LZ4 framing.
    Lz4,
}

/// db-writer settings that passed validation.
#[derive(Debug, Clone)]
pub struct DbWriterSettings {
    /// Consumer settings (messages).
    pub consumer: ConsumerSettings,
    /// Consumer of the actions topic: the messages consumer's settings on
    /// its own topic and group, one consumer (actions are few).
    pub actions: ConsumerSettings,
    /// ClickHouse connection.
    pub clickhouse: ClickHouseSettings,
    /// Batch limits per partition.
    pub limits: BatchLimits,
    /// Inserts in flight per consumer.
    pub max_in_flight: usize,
    /// Rows buffered per consumer before pausing.
    pub max_buffered_rows: usize,
}

/// Where and how to reach ClickHouse.
#[derive(Debug, Clone)]
pub struct ClickHouseSettings {
    /// HTTP URL.
    pub url: String,
    /// Database.
    pub database: String,
    /// Table of messages.
    pub table: String,
    /// Table of moderation actions.
    pub actions_table: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: Secret,
    /// Insert timeout.
    pub insert_timeout: Duration,
    /// Insert body compression.
    pub compression: InsertCompression,
}

impl DbWriterConfig {
    /// The identity the shared runtime needs.
    pub fn identity() -> Result<WorkerIdentity, String> {
        WorkerIdentity::shared_group(WORKER, METRICS_ADDR)
    }

    /// ClickHouse settings alone (enough for --migrate).
    pub fn clickhouse(&self) -> Result<ClickHouseSettings, String> {
        let connection = self.clickhouse.connection()?;
        let actions_table = self.clickhouse_actions_table.clone();
        if !is_plain_identifier(&actions_table) {
            return Err(format!("--clickhouse-actions-table must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got {actions_table:?}"));
        }
        if actions_table == connection.table {
            return Err(format!(
                "--clickhouse-actions-table must differ from --clickhouse-table ({actions_table})"
            ));
        }
        Ok(ClickHouseSettings {
            url: connection.url,
            database: connection.database,
            table: connection.table,
            actions_table,
            user: connection.user,
            password: connection.password,
            insert_timeout: self.insert_timeout,
            compression: self.clickhouse_compression,
        })
    }

    /// Validates everything.
    pub fn settings(&self) -> Result<DbWriterSettings, String> {
        let consumer = self
            .consumer
            .settings(&Self::identity()?)
            .map_err(|e| e.0)?;
        if self.batch_rows == 0 || self.batch_bytes == 0 || self.batch_age.is_zero() {
            return Err("--batch-rows, --batch-bytes and --batch-age must be above 0".into());
        }
        if self.max_in_flight == 0 {
            return Err("--max-in-flight must be at least 1".into());
        }
        if self.max_buffered_rows < self.batch_rows {
            return Err("--max-buffered-rows must be at least --batch-rows".into());
        }
        let actions = self.actions.settings(&consumer).map_err(|e| e.0)?;
        Ok(DbWriterSettings {
            consumer,
            actions,
            clickhouse: self.clickhouse()?,
            limits: BatchLimits {
                max_rows: self.batch_rows,
                max_bytes: self.batch_bytes,
                max_age: self.batch_age,
            },
            max_in_flight: self.max_in_flight,
            max_buffered_rows: self.max_buffered_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        let ok = DbWriterConfig::try_parse_from(["db-writer"]).expect("parse");
        let s = ok.settings().expect("valid");
        assert_eq!(s.consumer.group, "db-writer");
        assert_eq!(s.limits.max_rows, 20_000);
        assert_eq!(s.clickhouse.actions_table, "moderation_actions");
        for bad in [
            &["db-writer", "--batch-rows", "0"][..],
            &["db-writer", "--max-in-flight", "0"],
            &["db-writer", "--clickhouse-url", "localhost:8123"],
            &["db-writer", "--max-buffered-rows", "10"],
            &["db-writer", "--clickhouse-table", "messages; DROP TABLE x"],
            &["db-writer", "--clickhouse-actions-table", "a-b"],
            &["db-writer", "--clickhouse-actions-table", "messages"],
            &["db-writer", "--actions-topic", "game-messages"],
            &["db-writer", "--actions-topic", "game-messages.dlq"],
            &["db-writer", "--actions-topic", " "],
            &["db-writer", "--actions-group", "db-writer"],
        ] {
            let c = DbWriterConfig::try_parse_from(bad).expect("parse");
            assert!(c.settings().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_actions_consumer_has_its_own_topic_and_group() {
        let parse = |args: &[&str]| {
            let argv = ["db-writer"].iter().chain(args);
            DbWriterConfig::try_parse_from(argv)
                .expect("parse")
                .settings()
                .expect("valid")
        };
        let s = parse(&["--concurrency", "3"]);
        assert_eq!(s.actions.topic, "moderation-actions");
        assert_eq!(s.actions.group, "db-writer.actions");
        assert_eq!(s.actions.concurrency.get(), 1);
        assert_eq!(s.actions.dlq_topic.as_deref(), Some("game-messages.dlq"));
        assert_eq!(s.consumer.concurrency.get(), 3);
        let s = parse(&["--group", "g7"]);
        assert_eq!(s.actions.group, "g7.actions");
        let s = parse(&["--actions-topic", "t", "--actions-group", "ag"]);
        assert_eq!(
            (s.actions.topic.as_str(), s.actions.group.as_str()),
            ("t", "ag")
        );
    }

    #[test]
    fn password_never_shows_in_debug() {
        let c = DbWriterConfig::try_parse_from(["db-writer", "--clickhouse-password", "s3cret"])
            .expect("parse");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
