//! analytics: `game-messages` and `moderation-actions` → live operator
//! metrics for Prometheus.
//!
//! - Consumer groups: `analytics` on `game-messages` and
//!   `analytics.actions` on `moderation-actions` (both shared: instances
//!   split the partitions), run as one `GroupSet` of the shared runtime.
//! - Delivery: the work is in-memory counting, so a record is committable as
//!   soon as it is counted. Counters restart with the process (Prometheus
//!   handles resets); windows are per partition, dropped on revoke and
//!   started clean on assign (`parley_analytics_partitions_warming` counts
//!   partitions whose hour window is still filling).
//! - Steps: decode (shared runtime; bad records → DLQ) → count by game and
//!   kind, length histogram, latency → the partition's windows (HyperLogLog
//!   active users per game in time buckets; room activity) → every
//!   `--refresh`, gauges from all partitions (sketches merged). Actions:
//!   decode (bad records → DLQ) → count by kind and class of actor
//!   ([`actions`]).
//! - Cardinality: `game` capped by `--max-games` (then `other`); rooms and
//!   users never label a series except the top-K rooms (≤ 20 series);
//!   actors only by class (`moderator`, `detector`, `operator`).

pub mod actions;
pub mod config;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod rooms;
pub mod state;
pub mod windows;

use std::future::Future;
use std::sync::Arc;

use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use parley_shared::runtime::{GroupSet, RuntimeError};

use actions::ActionCounter;
use config::AnalyticsSettings;
use metrics::AnalyticsMetrics;
use parley_shared::labels::GameLabels;
use pipeline::{AnalyticsPipeline, Shared};
use state::StateTable;

/// Why analytics stopped.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The consumer runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
}

/// Consumes until `shutdown`, keeping the gauges fresh.
pub async fn run(
    settings: AnalyticsSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AnalyticsError> {
    let runtime_metrics = RuntimeMetrics::new(settings.consumer.worker, &settings.consumer.group)?;
    let actions_metrics = runtime_metrics.for_group(&settings.actions.group)?;
    let metrics = AnalyticsMetrics::register(&runtime_metrics)?;
    let action_counts = metrics.clone();
    let shared = Shared {
        table: Arc::new(StateTable::default()),
        games: Arc::new(GameLabels::new(settings.max_games)),
        metrics: metrics.clone(),
        max_rooms: settings.max_rooms,
    };
    let reporter = tokio::spawn(report::publish_every(
        settings.refresh,
        Arc::clone(&shared.table),
        Arc::clone(&shared.games),
        metrics,
        settings.top_rooms,
    ));
    let result = GroupSet::new(runtime_metrics.clone(), settings.consumer.stall_timeout)
        .group(settings.consumer, runtime_metrics, move |context| {
            AnalyticsPipeline::new(shared.clone(), &context)
        })
        .group(settings.actions, actions_metrics, move |context| {
            ActionCounter::new(&action_counts, &context)
        })
        .run(shutdown)
        .await;
    reporter.abort();
    result?;
    Ok(())
}
