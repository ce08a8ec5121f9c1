//! The sink driver: takes sealed batches from a worker's pipeline and
//! writes them through its [`Sink`], at most `max_in_flight` at a time.
//!
//! - A retryable error ([`SinkError::Retryable`]: the store is down,
//!   overloaded, full) begins a sink outage, reported on the consumer's
//!   [`SinkStatus`]: the consumer loop pauses the partitions and `/healthz`
//!   says why until a write succeeds again. What becomes of the batch is the
//!   sink's [`Recovery`]: written again in place with [`Backoff::write`]
//!   until it is in (nothing dropped, nothing acknowledged meanwhile), or
//!   lost, in which case the loop drops what is not durable and the driver
//!   probes the sink ([`Sink::probe`], 1 s doubling to 30 s) until it works
//!   and the records are read again (`outage.rs`).
//! - A permanent error ([`SinkError::Permanent`]: this data is refused)
//!   splits the rows in halves until each refused record is alone; those go
//!   to the DLQ with kind `sink` ([`DeadLetters`]) and the rest is written.
//! - Then every record of the batch is acknowledged through [`Acks`], one
//!   [`Completion`] per partition and epoch (`write.rs`).
//!
//! Work per batch, none per record beyond the latency metric and the
//! completion offsets: a batch is one task, two atomic counters and the
//! offsets of its completions.
//!
//! [`Acks`]: super::Acks
//! [`Completion`]: super::Completion
//! [`Backoff::write`]: crate::retry::Backoff::write

mod dead_letters;
mod outage;
mod write;

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use super::sink_status::{Recovery, SinkStatus};
use super::PipelineContext;
use crate::retry::Backoff;
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
    /// Bytes in the batch (for the batch size metric; read after the write).
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
    /// How a failed write is tried again.
    fn recovery(&self) -> Recovery {
        Recovery::InPlace
    }
    /// Writes the records `rows` of `batch` (all of them, or a part while a
    /// permanent error is narrowed down). A [`Recovery::Rewind`] sink is
    /// asked once per batch, for all of it, and its errors all begin an
    /// outage.
    fn write<'a>(
        &'a self,
        batch: &'a Self::Batch,
        rows: Range<usize>,
    ) -> impl Future<Output = Result<(), SinkError>> + Send + 'a;
    /// Whether the store takes writes again after a [`Recovery::Rewind`]
    /// failure (a small write of its own). An in-place sink's retried
    /// writes are its probes.
    fn probe(&self) -> impl Future<Output = Result<(), SinkError>> + Send + '_ {
        std::future::ready(Ok(()))
    }
}

/// What every write task of one driver shares.
struct Shared<S> {
    sink: Arc<S>,
    context: PipelineContext,
    dead_letters: Option<Arc<dyn DeadLetters>>,
    recovery: Recovery,
    /// Batches being written.
    in_flight: AtomicUsize,
    /// Records sealed and not yet acknowledged (waiting or in flight).
    queued: AtomicUsize,
    /// Probe delays of a rewinding sink: 1 s doubling to 30 s, back to 1 s
    /// only once a write succeeds, so a sink that fails again as soon as it
    /// is used (a nearly full disk) is not probed every second.
    probe_backoff: Mutex<Backoff>,
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
    /// once, refused records to `dead_letters` (skipped if `None`); it
    /// reports the sink's state on `context.sink`.
    pub fn new(
        sink: Arc<S>,
        context: PipelineContext,
        dead_letters: Option<Arc<dyn DeadLetters>>,
        max_in_flight: usize,
    ) -> Self {
        let recovery = sink.recovery();
        SinkDriver {
            shared: Arc::new(Shared {
                sink,
                context,
                dead_letters,
                recovery,
                in_flight: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                probe_backoff: Mutex::new(Backoff::sink_outage()),
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
                .spawn(async move { write::write_batch(shared, tag, batch).await });
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

    /// Probe delays other than 1 s doubling to 30 s (tests).
    #[cfg(test)]
    fn with_probe_backoff(self, backoff: Backoff) -> Self {
        *self.shared.probe_backoff.lock() = backoff;
        self
    }

    /// The sink failed outside a write, in a step it takes on its own
    /// (parquet-exporter's encoder creating a part, a listing of the
    /// output): counted and reported like a failed write. `epoch` is the
    /// assignment epoch of the work that failed, if it belongs to records
    /// (a failure of work a rewind already dropped is ignored).
    pub fn failed(&self, error: SinkError, epoch: Option<u64>) {
        outage::report(&self.shared, &error, epoch);
    }
}

#[cfg(test)]
mod tests;
