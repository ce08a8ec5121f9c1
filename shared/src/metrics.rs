//! Metric names (one place, so dashboards and code agree) and the runtime's
//! metric handles. Label values come from small fixed sets; never a room or
//! user id. Every series carries the constant labels `worker` and `group`.

use std::sync::Arc;

use parking_lot::Mutex;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Records read from Kafka.
pub const RECORDS_CONSUMED: &str = "parley_records_consumed_total";
/// Records whose work is durable (committable).
pub const RECORDS_PROCESSED: &str = "parley_records_processed_total";
/// Records sent to the DLQ (or skipped, where a worker has no DLQ), by `kind`.
pub const DLQ_RECORDS: &str = "parley_dlq_records_total";
/// DLQ produce attempts that failed and will be retried.
pub const DLQ_ERRORS: &str = "parley_dlq_errors_total";
/// Rows per flushed batch.
pub const BATCH_ROWS: &str = "parley_batch_rows";
/// Bytes per flushed batch.
pub const BATCH_BYTES: &str = "parley_batch_bytes";
/// Time to write one batch to its sink, by `sink` and `result`.
pub const FLUSH_DURATION: &str = "parley_flush_duration_seconds";
/// Sink errors by `sink` and `class` (`retryable`, `permanent`).
pub const SINK_ERRORS: &str = "parley_sink_errors_total";
/// Now minus `sent_at` when a record's work became durable.
pub const END_TO_END_LATENCY: &str = "parley_end_to_end_latency_seconds";
/// Consumer lag per `partition` (from librdkafka statistics).
pub const CONSUMER_LAG: &str = "parley_consumer_lag";
/// Partitions assigned to this process.
pub const PARTITIONS_ASSIGNED: &str = "parley_partitions_assigned";
/// Rebalance events by `event` (`assign`, `revoke`, `error`).
pub const REBALANCES: &str = "parley_rebalances_total";
/// Consumers of this process whose partitions are paused (backpressure).
pub const CONSUMERS_PAUSED: &str = "parley_consumers_paused";
/// Offset commits by `result` (`ok`, `error`).
pub const OFFSET_COMMITS: &str = "parley_offset_commits_total";
/// Records read but not yet durable.
pub const RECORDS_PENDING: &str = "parley_records_pending";
/// Always 1; labels carry the version.
pub const WORKER_INFO: &str = "parley_worker_info";

/// Latency buckets (seconds) from 1 ms to 2 minutes.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The runtime's metrics, registered once per process and cloned freely.
#[derive(Clone)]
pub struct RuntimeMetrics {
    /// The registry `/metrics` serves.
    pub registry: Registry,
    /// See [`RECORDS_CONSUMED`].
    pub consumed: IntCounter,
    /// See [`RECORDS_PROCESSED`].
    pub processed: IntCounter,
    /// See [`DLQ_RECORDS`].
    pub dead_lettered: IntCounterVec,
    /// See [`DLQ_ERRORS`].
    pub dlq_errors: IntCounter,
    /// See [`BATCH_ROWS`].
    pub batch_rows: Histogram,
    /// See [`BATCH_BYTES`].
    pub batch_bytes: Histogram,
    /// See [`FLUSH_DURATION`].
    pub flush_duration: HistogramVec,
    /// See [`SINK_ERRORS`].
    pub sink_errors: IntCounterVec,
    /// See [`END_TO_END_LATENCY`].
    pub latency: Histogram,
    /// See [`CONSUMER_LAG`].
    pub lag: IntGaugeVec,
    /// See [`PARTITIONS_ASSIGNED`].
    pub partitions: IntGauge,
    /// See [`REBALANCES`].
    pub rebalances: IntCounterVec,
    /// See [`CONSUMERS_PAUSED`].
    pub paused: IntGauge,
    /// See [`OFFSET_COMMITS`].
    pub commits: IntCounterVec,
    /// See [`RECORDS_PENDING`].
    pub pending: IntGauge,
    /// Worker name (the `worker` label).
    worker: String,
    /// Every registry of the process (this one and those of its other
    /// groups, see [`Self::for_group`]): `/metrics` serves them all.
    served: Arc<Mutex<Vec<Registry>>>,
}

/// Metric registration failed (a name registered twice: a programming error).
pub type MetricsError = prometheus::Error;

impl RuntimeMetrics {
    /// Registers every runtime metric with constant labels `worker` and `group`.
    pub fn new(worker: &str, group: &str) -> Result<Self, MetricsError> {
        let metrics = Self::registered(worker, group, Arc::default())?;
        #[cfg(target_os = "linux")]
        metrics.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// The runtime metrics of another consumer group of this process (its
    /// own `group` label), served on the same `/metrics` as `self`.
    pub fn for_group(&self, group: &str) -> Result<Self, MetricsError> {
        Self::registered(&self.worker, group, Arc::clone(&self.served))
    }

    fn registered(
        worker: &str,
        group: &str,
        served: Arc<Mutex<Vec<Registry>>>,
    ) -> Result<Self, MetricsError> {
        let labels = [
            ("worker".to_owned(), worker.to_owned()),
            ("group".to_owned(), group.to_owned()),
        ];
        let registry = Registry::new_custom(None, Some(labels.into_iter().collect()))?;
        let size_buckets = prometheus::exponential_buckets(1.0, 4.0, 12)?;
        let byte_buckets = prometheus::exponential_buckets(1024.0, 4.0, 12)?;
        let duration_buckets = prometheus::exponential_buckets(0.001, 2.5, 14)?;
        let metrics = RuntimeMetrics {
            consumed: IntCounter::new(RECORDS_CONSUMED, "Records read from Kafka.")?,
            processed: IntCounter::new(RECORDS_PROCESSED, "Records whose work is durable.")?,
            dead_lettered: IntCounterVec::new(
                Opts::new(
                    DLQ_RECORDS,
                    "Records dead-lettered (or skipped), by error kind.",
                ),
                &["kind"],
            )?,
            dlq_errors: IntCounter::new(DLQ_ERRORS, "DLQ produce attempts that failed (retried).")?,
            batch_rows: Histogram::with_opts(
                HistogramOpts::new(BATCH_ROWS, "Rows per flushed batch.").buckets(size_buckets),
            )?,
            batch_bytes: Histogram::with_opts(
                HistogramOpts::new(BATCH_BYTES, "Bytes per flushed batch.").buckets(byte_buckets),
            )?,
            flush_duration: HistogramVec::new(
                HistogramOpts::new(FLUSH_DURATION, "Time to write one batch to its sink.")
                    .buckets(duration_buckets),
                &["sink", "result"],
            )?,
            sink_errors: IntCounterVec::new(
                Opts::new(SINK_ERRORS, "Sink errors by class."),
                &["sink", "class"],
            )?,
            latency: Histogram::with_opts(
                HistogramOpts::new(
                    END_TO_END_LATENCY,
                    "Now minus sent_at when work became durable.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            lag: IntGaugeVec::new(
                Opts::new(
                    CONSUMER_LAG,
                    "Consumer lag per partition (librdkafka statistics).",
                ),
                &["topic", "partition"],
            )?,
            partitions: IntGauge::new(PARTITIONS_ASSIGNED, "Partitions assigned to this process.")?,
            rebalances: IntCounterVec::new(Opts::new(REBALANCES, "Rebalance events."), &["event"])?,
            paused: IntGauge::new(CONSUMERS_PAUSED, "Consumers paused by backpressure.")?,
            commits: IntCounterVec::new(Opts::new(OFFSET_COMMITS, "Offset commits."), &["result"])?,
            pending: IntGauge::new(RECORDS_PENDING, "Records read but not yet durable.")?,
            registry,
            worker: worker.to_owned(),
            served,
        };
        let info = IntGaugeVec::new(Opts::new(WORKER_INFO, "Worker build info."), &["version"])?;
        info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let r = &metrics.registry;
        r.register(Box::new(info))?;
        r.register(Box::new(metrics.consumed.clone()))?;
        r.register(Box::new(metrics.processed.clone()))?;
        r.register(Box::new(metrics.dead_lettered.clone()))?;
        r.register(Box::new(metrics.dlq_errors.clone()))?;
        r.register(Box::new(metrics.batch_rows.clone()))?;
        r.register(Box::new(metrics.batch_bytes.clone()))?;
        r.register(Box::new(metrics.flush_duration.clone()))?;
        r.register(Box::new(metrics.sink_errors.clone()))?;
        r.register(Box::new(metrics.latency.clone()))?;
        r.register(Box::new(metrics.lag.clone()))?;
        r.register(Box::new(metrics.partitions.clone()))?;
        r.register(Box::new(metrics.rebalances.clone()))?;
        r.register(Box::new(metrics.paused.clone()))?;
        r.register(Box::new(metrics.commits.clone()))?;
        r.register(Box::new(metrics.pending.clone()))?;
        for kind in crate::DecodeErrorKind::ALL {
            metrics.dead_lettered.with_label_values(&[kind.as_str()]);
        }
        metrics.served.lock().push(metrics.registry.clone());
        Ok(metrics)
    }

    /// Records end-to-end latency for a message sent at `sent_at_ms`.
    pub fn observe_latency(&self, sent_at_ms: i64, now_ms: i64) {
        let seconds = (now_ms - sent_at_ms).max(0) as f64 / 1000.0;
        self.latency.observe(seconds);
    }

    /// The Prometheus text exposition of every metric of the process (every
    /// group's registry; a family two groups share is written once, with
    /// each group's series).
    pub fn render(&self) -> String {
        let registries = self.served.lock().clone();
        let mut families: Vec<prometheus::proto::MetricFamily> = Vec::new();
        for family in registries.iter().flat_map(Registry::gather) {
            match families.iter_mut().find(|f| f.name() == family.name()) {
                Some(same) => {
                    let mut family = family;
                    same.mut_metric().extend(family.take_metric());
                }
                None => families.push(family),
            }
        }
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# error encoding metrics: {e}\n"))
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_registered_with_constant_labels() {
        let m = RuntimeMetrics::new("db-writer", "db-writer").expect("metrics");
        m.consumed.inc();
        let text = m.render();
        let line = |name: &str, label: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(name) && l.contains(label) && l.contains(r#"worker="db-writer""#)
                })
                .map(str::to_owned)
        };
        assert!(
            line(RECORDS_CONSUMED, r#"group="db-writer""#).is_some_and(|l| l.ends_with(" 1")),
            "{text}"
        );
        assert!(
            line(DLQ_RECORDS, r#"kind="too-large""#).is_some_and(|l| l.ends_with(" 0")),
            "{text}"
        );
    }

    #[test]
    fn a_second_group_is_served_beside_the_first() {
        let first = RuntimeMetrics::new("anomaly-detector", "main").expect("metrics");
        let second = first.for_group("main.by-game").expect("second group");
        first.consumed.inc_by(3);
        second.consumed.inc_by(2);
        for text in [first.render(), second.render()] {
            let series: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(RECORDS_CONSUMED))
                .collect();
            assert_eq!(series.len(), 2, "{text}");
            assert!(series
                .iter()
                .any(|l| l.contains(r#"group="main""#) && l.ends_with(" 3")));
            assert!(series
                .iter()
                .any(|l| l.contains(r#"group="main.by-game""#) && l.ends_with(" 2")));
            let headers = text
                .lines()
                .filter(|l| l.starts_with(&format!("# TYPE {RECORDS_CONSUMED} ")))
                .count();
            assert_eq!(headers, 1, "one family, written once: {text}");
        }
    }
}
