//! parquet-exporter: `game-messages` and `moderation-actions` → hourly,
//! Hive-partitioned Parquet, one dataset each.
//!
//! - Consumer groups: `parquet-exporter` on `game-messages` and
//!   `parquet-exporter.actions` on `moderation-actions` (both shared), run
//!   as one `GroupSet` of the shared runtime; each dataset ([`rows`]) has
//!   its own folder, parts and resume positions.
//! - Delivery: exactly once by file name. Each partition has at most one
//!   open part; parts are written aside, fsynced and renamed into
//!   `<out>/<dataset>/dt=YYYY-MM-DD/hour=HH/part-<p>-<first>-<last>.parquet`,
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

pub mod action_columns;
pub mod config;
pub mod encoder;
pub mod layout;
pub mod message_columns;
pub mod output;
pub mod part_file;
pub mod pipeline;
pub mod rows;
pub mod sink;

use std::future::Future;

use parley_shared::action::ModerationAction;
use parley_shared::batcher::BatchLimits;
use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use parley_shared::runtime::{GroupSet, PipelineContext, RuntimeError};
use parley_shared::GameMessage;

use config::ExporterSettings;
use output::Output;
use pipeline::ParquetPipeline;
use rows::ExportRow;

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

/// Consumes messages and actions until `shutdown`, writing parts under
/// `settings.out`: one group per dataset, in one process.
pub async fn run(
    settings: ExporterSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ExporterError> {
    let messages = Dataset::<GameMessage>::open(&settings)?;
    let actions = Dataset::<ModerationAction>::open(&settings)?;
    let metrics = RuntimeMetrics::new(settings.consumer.worker, &settings.consumer.group)?;
    let actions_metrics = metrics.for_group(&settings.actions.group)?;
    tracing::info!(out = ?settings.out, actions_topic = %settings.actions.topic, actions_group = %settings.actions.group, "writing Parquet");
    let limits = settings.limits;
    GroupSet::new(metrics.clone(), settings.consumer.stall_timeout)
        .group(settings.consumer, metrics, move |context| {
            messages.pipeline(limits, context)
        })
        .group(settings.actions, actions_metrics, move |context| {
            actions.pipeline(limits, context)
        })
        .run(shutdown)
        .await?;
    Ok(())
}

/// One dataset's output and writer settings, from which each consumer's
/// pipeline is made.
struct Dataset<R> {
    output: Output,
    properties: parquet::file::properties::WriterProperties,
    row: std::marker::PhantomData<fn() -> R>,
}

impl<R: ExportRow> Dataset<R> {
    /// Opens `R`'s dataset under `settings.out` and creates its temp folder.
    fn open(settings: &ExporterSettings) -> Result<Self, ExporterError> {
        let output = Output::open(
            &settings.out,
            &settings.spool,
            R::DATASET,
            tokio::runtime::Handle::current(),
        )
        .map_err(ExporterError::ObjectStore)?;
        let tmp = output.layout().tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|source| ExporterError::Output {
            path: tmp.display().to_string(),
            source,
        })?;
        Ok(Dataset {
            output,
            properties: part_file::writer_properties::<R>(settings.part)?,
            row: std::marker::PhantomData,
        })
    }

    /// The pipeline of one consumer of the dataset.
    fn pipeline(&self, limits: BatchLimits, context: PipelineContext) -> ParquetPipeline<R> {
        ParquetPipeline::new(
            self.output.clone(),
            self.properties.clone(),
            limits,
            context,
        )
    }
}
