//! The sink driver: takes sealed batches from a worker's pipeline and
//! writes them through its [`Sink`], at most `max_in_flight` at a time.
//!
//! - A retryable error ([`SinkError::Retryable`]: the store is down or
//!   overloaded) retries the whole batch with [`Backoff::write`] until it
//!   succeeds: nothing is dropped and nothing acknowledged meanwhile, so the
//!   runtime's backpressure pauses the partitions once the buffer limit is
//!   reached and `/healthz` reports the stalled work.
//! - A permanent error ([`SinkError::Permanent`]: this data is refused)
//!   splits the rows in halves until each refused record is alone; those go
//!   to the DLQ with kind `sink` ([`DeadLetters`]) and the rest is written.
//! - Then every record of the batch is acknowledged through [`Acks`], one
//!   [`Completion`] per partition and epoch.
//!
//! The DLQ side (refused records read back and produced with kind `sink`)
//! is `dead_letters.rs`.
//!
//! Work per batch, none per record beyond the latency metric and the
//! completion offsets: a batch is one task, two atomic counters and one
//! map of offsets.
//!
//! [`Acks`]: super::Acks

mod dead_letters;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::pipeline::Completion;
use super::PipelineContext;
use crate::metrics::now_ms;
use crate::retry::{retry, Backoff, Forever, Verdict};
use dead_letters::dead_letter;
pub use dead_letters::{
    DeadLetterError, DeadLetterFuture, DeadLetters, KafkaDeadLetters, Rejected,
};

/// Why a write failed, as the driver acts on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Retrying later can help (store unreachable, overloaded, not ready).
    #[error("sink unavailable: {0}")]
    Retryable(String),
    /// The data itself is refused: retrying the same rows cannot help.
    #[error("sink refused the rows: {0}")]
    Permanent(String),
}

impl SinkError {
    /// The sink's own words, without the class (for `/healthz` and logs).
    pub fn reason(&self) -> &str {
        match self {
            SinkError::Retryable(reason) | SinkError::Permanent(reason) => reason,
        }
    }

    /// The `class` label of the sink error metric.
    pub fn class(&self) -> &'static str {
        match self {
            SinkError::Retryable(_) => "retryable",
            SinkError::Permanent(_) => "permanent",
        }
    }
}

/// What the driver needs of one record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    /// Kafka partition.
    pub partition: i32,
    /// Assignment epoch when read.
    pub epoch: u64,
    /// Kafka offset.
    pub offset: i64,
    /// `sent_at` in ms, for the end-to-end latency metric.
    pub sent_at: i64,
}

/// A sealed batch, in the worker's own form (encoded rows, a part file…).
pub trait SinkBatch: Send + Sync + 'static {
    /// Records in the batch.
    fn len(&self) -> usize;
    /// Whether the batch is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes in the batch (for the batch size metric).
    fn bytes(&self) -> usize;
    /// The record at `index` (in arrival order).
    fn record(&self, index: usize) -> RecordRef;
    /// Drops the records of `partitions` (revoked before the write began);
    /// returns how many were dropped.
    fn drop_partitions(&mut self, partitions: &[i32]) -> usize;
}

/// A store batches are written to.
pub trait Sink: Send + Sync + 'static {
    /// The sealed batch it writes.
    type Batch: SinkBatch;
    /// The `sink` label of the metrics (`clickhouse`, `parquet`).
    fn label(&self) -> &'static str;
    /// What one write is called in logs (`insert` for ClickHouse).
    fn verb(&self) -> &'static str {
        "write"
    }
    /// Writes the records `rows` of `batch` (all of them, or a part while a
    /// permanent error is narrowed down).
    fn write<'a>(
        &'a self,
        batch: &'a Self::Batch,
        rows: Range<usize>,
    ) -> impl Future<Output = Result<(), SinkError>> + Send + 'a;
}

/// What every write task of one driver shares.
struct Shared<S> {
    sink: Arc<S>,
    context: PipelineContext,
    dead_letters: Option<Arc<dyn DeadLetters>>,
    /// Batches being written.
    in_flight: AtomicUsize,
    /// Records sealed and not yet acknowledged (waiting or in flight).
    queued: AtomicUsize,
}

/// One consumer's sink driver.
pub struct SinkDriver<S: Sink> {
    shared: Arc<Shared<S>>,
    max_in_flight: usize,
    waiting: VecDeque<(u64, S::Batch)>,
    next_tag: u64,
}

impl<S: Sink> SinkDriver<S> {
    /// A driver writing through `sink`, at most `max_in_flight` batches at
    /// once, refused records to `dead_letters` (skipped if `None`).
    pub fn new(
        sink: Arc<S>,
        context: PipelineContext,
        dead_letters: Option<Arc<dyn DeadLetters>>,
        max_in_flight: usize,
    ) -> Self {
        SinkDriver {
            shared: Arc::new(Shared {
                sink,
                context,
                dead_letters,
                in_flight: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
            }),
            max_in_flight: max_in_flight.max(1),
            waiting: VecDeque::new(),
            next_tag: 0,
        }
    }

    /// Queues a sealed batch and starts writes up to the in-flight cap.
    pub fn push(&mut self, batch: S::Batch) {
        if batch.is_empty() {
            return;
        }
        self.shared.queued.fetch_add(batch.len(), Ordering::Relaxed);
        self.next_tag += 1;
        self.waiting.push_back((self.next_tag, batch));
        self.start(false);
    }

    /// Starts waiting batches while a slot is free (call every tick: slots
    /// free up as writes finish).
    pub fn start(&mut self, ignore_limit: bool) {
        while ignore_limit || self.shared.in_flight.load(Ordering::Relaxed) < self.max_in_flight {
            let Some((tag, batch)) = self.waiting.pop_front() else {
                break;
            };
            self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
            let shared = Arc::clone(&self.shared);
            self.shared
                .context
                .runtime
                .spawn(async move { write_batch(shared, tag, batch).await });
        }
    }

    /// Shutdown: starts every waiting batch, ignoring the cap.
    pub fn flush(&mut self) {
        self.start(true);
    }

    /// Records sealed and not yet acknowledged.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Batches being written now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Drops waiting records of revoked `partitions` (batches in flight
    /// finish; their completions are ignored by epoch). Returns how many.
    pub fn revoke(&mut self, partitions: &[i32]) -> usize {
        let mut dropped = 0;
        for (_, batch) in &mut self.waiting {
            dropped += batch.drop_partitions(partitions);
        }
        self.waiting.retain(|(_, b)| !b.is_empty());
        self.shared.queued.fetch_sub(dropped, Ordering::Relaxed);
        dropped
    }
}

/// Writes one batch until it is in (retrying), dead-letters refused
/// records, then acknowledges every record of the batch.
async fn write_batch<S: Sink>(shared: Arc<Shared<S>>, tag: u64, batch: S::Batch) {
    let (sink, metrics) = (&*shared.sink, &shared.context.metrics);
    let (label, verb) = (sink.label(), sink.verb());
    let n = batch.len();
    if n == 0 {
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let (first, last) = (batch.record(0), batch.record(n - 1));
    let mut failures = 0u32;
    let written = retry(
        &mut Backoff::write(),
        Forever,
        || async {
            let started = Instant::now();
            let result = isolate(sink, &batch, 0..n).await;
            let outcome = if result.is_ok() { "ok" } else { "error" };
            metrics
                .flush_duration
                .with_label_values(&[label, outcome])
                .observe(started.elapsed().as_secs_f64());
            result
        },
        |error, attempt| {
            failures = attempt.number;
            metrics
                .sink_errors
                .with_label_values(&[label, error.class()])
                .inc();
            if attempt.worth_warning() {
                tracing::warn!(sink = label, partition = first.partition, first = first.offset, last = last.offset, attempt = attempt.number, %error, retry_in = ?attempt.retry_in, "{verb} failed; retrying");
            }
            Verdict::Retry
        },
    )
    .await;
    let rejected = match written {
        Ok(rejected) => rejected,
        // Forever never stops and the hook never gives up.
        Err(_) => return,
    };
    if failures > 0 {
        tracing::info!(
            sink = label,
            partition = first.partition,
            first = first.offset,
            last = last.offset,
            attempt = failures + 1,
            "{verb} succeeded after retries"
        );
    }
    for r in &rejected {
        metrics
            .sink_errors
            .with_label_values(&[label, "permanent"])
            .inc();
        if let Some(dead_letters) = &shared.dead_letters {
            dead_letter(&shared.context, &**dead_letters, label, r).await;
        }
    }
    metrics.batch_rows.observe(n as f64);
    metrics.batch_bytes.observe(batch.bytes() as f64);
    let now = now_ms();
    let mut by_partition: BTreeMap<(i32, u64), Vec<i64>> = BTreeMap::new();
    for i in 0..n {
        let record = batch.record(i);
        metrics.observe_latency(record.sent_at, now);
        by_partition
            .entry((record.partition, record.epoch))
            .or_default()
            .push(record.offset);
    }
    // Slots free before the acks arrive: the tick they trigger starts the next write.
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared.queued.fetch_sub(n, Ordering::Relaxed);
    for ((partition, epoch), offsets) in by_partition {
        shared.context.acks.done(Completion {
            tag,
            partition,
            epoch,
            offsets,
        });
    }
}

/// Writes `rows`; on a permanent error splits them in halves until the
/// refused records are alone, writing the rest. A retryable error returns
/// at once (the caller retries the whole batch).
fn isolate<'a, S: Sink>(
    sink: &'a S,
    batch: &'a S::Batch,
    rows: Range<usize>,
) -> Pin<Box<dyn Future<Output = Result<Vec<Rejected>, SinkError>> + Send + 'a>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        match sink.write(batch, rows.clone()).await {
            Ok(()) => Ok(Vec::new()),
            Err(SinkError::Permanent(reason)) if rows.len() == 1 => {
                let record = batch.record(rows.start);
                Ok(vec![Rejected {
                    partition: record.partition,
                    offset: record.offset,
                    reason,
                }])
            }
            Err(SinkError::Permanent(_)) => {
                let mid = rows.start + rows.len() / 2;
                let mut rejected = isolate(sink, batch, rows.start..mid).await?;
                rejected.extend(isolate(sink, batch, mid..rows.end).await?);
                Ok(rejected)
            }
            Err(retryable) => Err(retryable),
        }
    })
}

#[cfg(test)]
mod tests;
