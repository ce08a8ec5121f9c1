//! db-writer: `game-messages` → ClickHouse `parley.messages`, and
//! `moderation-actions` → `parley.moderation_actions`.
//!
//! - Consumer groups: `db-writer` on `game-messages` and `db-writer.actions`
//!   on `moderation-actions` (both shared: instances split the partitions),
//!   run as one `GroupSet` of the shared runtime (one `/metrics`, one
//!   `/healthz`; either group stopping stops the process).
//! - Delivery: at-least-once + dedup. Offsets are committed only after the
//!   insert holding them succeeded; replays after a crash or rebalance are
//!   collapsed by the `ReplacingMergeTree` (read with `FINAL` or
//!   `GROUP BY message_id` / `action_id`), and on servers with
//!   `insert_deduplication_token` a replayed batch (same partition and
//!   offset range) is rejected outright.
//! - Steps, the same for both tables (a [`row::Row`] each: [`row`] for
//!   messages, [`action_row`] for actions): decode (shared runtime; bad
//!   records → DLQ) → per-partition batch in the shared batch keeper (rows,
//!   bytes, age; [`batch`], [`pipeline`]) → RowBinary insert through the
//!   shared sink driver ([`sink`]: ClickHouse down is a sink outage of the
//!   shared model, the partitions paused and `/healthz` 503 while each
//!   batch is retried in place with backoff; refused rows isolated to the
//!   DLQ) → ack → commit.

pub mod action_row;
pub mod batch;
pub mod config;
pub mod pipeline;
pub mod row;
pub mod schema;
pub mod sink;

use std::future::Future;
use std::sync::Arc;

use parley_shared::action::ModerationAction;
use parley_shared::metrics::RuntimeMetrics;
use parley_shared::runtime::{GroupSet, RuntimeError};
use parley_shared::GameMessage;

use config::DbWriterSettings;
use pipeline::{ClickHousePipeline, PipelineLimits};
use sink::{ClickHouseSink, SinkError};

/// Why db-writer stopped.
#[derive(Debug, thiserror::Error)]
pub enum DbWriterError {
    /// ClickHouse could not be reached or refused the schema at start.
    #[error("ClickHouse at {url}: {source}")]
    ClickHouse {
        /// The URL tried.
        url: String,
        /// What went wrong.
        source: SinkError,
    },
    /// The consumer runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus_error::Error),
}

mod prometheus_error {
    pub use parley_shared::metrics::MetricsError as Error;
}

/// Connects to ClickHouse (applying the schema if missing), then consumes
/// messages and actions until `shutdown`.
pub async fn run(
    settings: DbWriterSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DbWriterError> {
    let (sink, version) = connect(&settings.clickhouse).await?;
    tracing::info!(url = %settings.clickhouse.url, %version, dedup_tokens = sink.dedup_tokens(), "ClickHouse ready");

    let metrics = RuntimeMetrics::new(settings.consumer.worker, &settings.consumer.group)?;
    let actions_metrics = metrics.for_group(&settings.actions.group)?;
    let actions_sink =
        Arc::new(sink.for_rows::<ModerationAction>(&settings.clickhouse.actions_table));
    let sink = Arc::new(sink);
    let kafka = Arc::new(settings.consumer.client_properties.clone());
    let actions_kafka = Arc::clone(&kafka);
    let limits = PipelineLimits {
        batch: settings.limits,
        max_in_flight: settings.max_in_flight,
        max_buffered_rows: settings.max_buffered_rows,
        per_partition: sink.dedup_tokens(),
    };
    tracing::info!(topic = %settings.actions.topic, group = %settings.actions.group, table = actions_sink.table(), "moderation actions stored beside the messages");
    GroupSet::new(metrics.clone(), settings.consumer.stall_timeout)
        .group(settings.consumer, metrics, move |context| {
            ClickHousePipeline::<_, GameMessage>::new(
                Arc::clone(&sink),
                context,
                limits,
                Arc::clone(&kafka),
            )
        })
        .group(settings.actions, actions_metrics, move |context| {
            ClickHousePipeline::<_, ModerationAction>::new(
                Arc::clone(&actions_sink),
                context,
                limits,
                Arc::clone(&actions_kafka),
            )
        })
        .run(shutdown)
        .await?;
    Ok(())
}

/// `--migrate`: applies the schema and returns the server version.
pub async fn migrate_only(settings: &config::ClickHouseSettings) -> Result<String, DbWriterError> {
    connect(settings).await.map(|(_, version)| version)
}

/// Probes the server, applies the schema and checks both tables' columns.
async fn connect(
    settings: &config::ClickHouseSettings,
) -> Result<(ClickHouseSink, String), DbWriterError> {
    let err = |source| DbWriterError::ClickHouse {
        url: settings.url.clone(),
        source,
    };
    let mut sink = ClickHouseSink::new(settings);
    let version = sink.probe().await.map_err(err)?;
    let tables = [
        (schema::MESSAGES, settings.table.as_str()),
        (schema::ACTIONS, settings.actions_table.as_str()),
    ];
    schema::migrate(sink.client(), &settings.database, &tables)
        .await
        .map_err(err)?;
    for (table_schema, table) in &tables {
        schema::verify(sink.client(), table_schema, &settings.database, table)
            .await
            .map_err(err)?;
    }
    Ok((sink, version))
}
