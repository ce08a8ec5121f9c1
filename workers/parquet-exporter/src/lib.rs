//! parquet-exporter: `game-messages` → hourly, Hive-partitioned Parquet.
//!
//! - Consumer group: `parquet-exporter` (shared).
//! - Delivery: exactly once by file name. Each partition has at most one
//!   open part; parts are written aside, fsynced and renamed into
//!   `<out>/game-messages/dt=YYYY-MM-DD/hour=HH/part-<p>-<first>-<last>.parquet`,
//!   then their offsets are committed. On assign, reading resumes after the
//!   highest `<last>` in the file names, and leftover temp files are deleted:
//!   no message lost, none in two files.
//! - Output full or unwritable: a sink outage of the shared model, not an
//!   exit. The sink driver reports it, the runtime pauses, unpublished parts
//!   are deleted, `/healthz` is 503 with the reason, and the driver probes
//!   the output with backoff; then reading resumes after the files.
//! - Steps: decode (shared runtime; bad records → DLQ) → append to the
//!   partition's part (Arrow → Parquet, zstd, dictionaries, page statistics)
//!   → rotate on hour of `sent_at`, rows, bytes or age → finish + rename on
//!   the encoder thread → ack by the shared sink driver ([`sink`]).

pub mod columns;
pub mod config;
pub mod encoder;
pub mod layout;
pub mod output;
pub mod part_file;
pub mod pipeline;
pub mod sink;

use std::future::Future;

use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use parley_shared::runtime::{self, RuntimeError};

use config::ExporterSettings;
use output::Output;
use pipeline::ParquetPipeline;

/// Why the exporter stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    /// The output folder cannot be used.
    #[error("output {path}: {source}")]
    Output {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The object store could not be configured.
    #[error("{0}")]
    ObjectStore(String),
    /// Writer properties are invalid.
    #[error("Parquet settings: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The consumer runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
}

/// Consumes until `shutdown`, writing parts under `settings.out`.
pub async fn run(
    settings: ExporterSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ExporterError> {
    let output = Output::open(
        &settings.out,
        &settings.spool,
        tokio::runtime::Handle::current(),
    )
    .map_err(ExporterError::ObjectStore)?;
    let tmp = output.layout().tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(|source| ExporterError::Output {
        path: tmp.display().to_string(),
        source,
    })?;
    let properties = part_file::writer_properties(settings.part)?;
    let metrics = RuntimeMetrics::new(settings.consumer.worker, &settings.consumer.group)?;
    tracing::info!(out = ?settings.out, "writing Parquet");
    let limits = settings.limits;
    runtime::run(
        settings.consumer,
        metrics,
        move |context| ParquetPipeline::new(output.clone(), properties.clone(), limits, context),
        shutdown,
    )
    .await?;
    Ok(())
}
