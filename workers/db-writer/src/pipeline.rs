//! db-writer's steps after decode: batch per partition → insert → ack.
//!
//! Each partition has an open batch (rows, bytes, age limits; it also closes
//! at offset multiples of the row limit so a replay re-forms the same
//! batches). Closed batches wait for one of `max_in_flight` insert slots.
//! Past `max_buffered_rows` the pipeline refuses records and the runtime
//! pauses the partitions. An insert retries retryable errors with backoff
//! forever (nothing is dropped, nothing committed meanwhile); permanent
//! errors isolate the refused rows, which go to the DLQ with kind `sink`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_shared::batcher::{Batch, BatchLimits};
use parley_shared::dlq::{self, DeadLetter};
use parley_shared::metrics::now_ms;
use parley_shared::runtime::{Completion, Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::GameMessage;

use crate::row::StoredMessage;
use crate::sink::{insert_isolating, ClickHouseSink, Rejected};

/// Sink label of db-writer's metrics.
const SINK: &str = "clickhouse";
/// Longest pause between insert retries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Batching and flow-control settings.
#[derive(Debug, Clone, Copy)]
pub struct PipelineLimits {
    /// Per-partition batch limits.
    pub batch: BatchLimits,
    /// Inserts in flight.
    pub max_in_flight: usize,
    /// Rows buffered before refusing more.
    pub max_buffered_rows: usize,
}

/// A batch ready to insert.
struct SealedBatch {
    tag: u64,
    partition: i32,
    epoch: u64,
    rows: Vec<StoredMessage>,
    bytes: usize,
}

/// One consumer's ClickHouse pipeline.
pub struct ClickHousePipeline {
    sink: Arc<ClickHouseSink>,
    context: PipelineContext,
    limits: PipelineLimits,
    kafka_properties: Arc<std::collections::BTreeMap<String, String>>,
    open: HashMap<i32, (u64, Batch<StoredMessage>)>,
    waiting: VecDeque<SealedBatch>,
    in_flight: HashMap<u64, usize>,
    buffered_rows: usize,
    next_tag: u64,
}

impl ClickHousePipeline {
    /// A pipeline writing through `sink`.
    pub fn new(
        sink: Arc<ClickHouseSink>,
        context: PipelineContext,
        limits: PipelineLimits,
        kafka_properties: Arc<std::collections::BTreeMap<String, String>>,
    ) -> Self {
        ClickHousePipeline {
            sink,
            context,
            limits,
            kafka_properties,
            open: HashMap::new(),
            waiting: VecDeque::new(),
            in_flight: HashMap::new(),
            buffered_rows: 0,
            next_tag: 0,
        }
    }

    fn seal(&mut self, partition: i32) {
        let Some((epoch, batch)) = self.open.get_mut(&partition) else {
            return;
        };
        if batch.is_empty() {
            return;
        }
        let bytes = batch.bytes();
        let rows = batch.take();
        self.next_tag += 1;
        self.waiting.push_back(SealedBatch {
            tag: self.next_tag,
            partition,
            epoch: *epoch,
            rows,
            bytes,
        });
    }

    fn start_inserts(&mut self, ignore_limit: bool) {
        while ignore_limit || self.in_flight.len() < self.limits.max_in_flight {
            let Some(batch) = self.waiting.pop_front() else {
                break;
            };
            self.in_flight.insert(batch.tag, batch.rows.len());
            self.spawn_insert(batch);
        }
    }

    fn spawn_insert(&self, batch: SealedBatch) {
        let sink = Arc::clone(&self.sink);
        let context = self.context.clone();
        let kafka = Arc::clone(&self.kafka_properties);
        self.context.runtime.spawn(async move {
            write_batch(sink, context, kafka, batch).await;
        });
    }
}

impl Pipeline for ClickHousePipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        if self.buffered_rows >= self.limits.max_buffered_rows {
            return Err(record);
        }
        let partition = record.partition;
        let (epoch, batch) = self
            .open
            .entry(partition)
            .or_insert_with(|| (record.epoch, Batch::new()));
        if *epoch != record.epoch {
            // Reassigned since this batch opened: its rows belong to the old epoch.
            self.buffered_rows -= batch.len();
            batch.take();
            *epoch = record.epoch;
        }
        let aligned_end = (record.offset + 1) % self.limits.batch.max_rows as i64 == 0;
        batch.push(
            StoredMessage {
                message: record.value,
                offset: record.offset,
            },
            record.bytes,
            Instant::now(),
        );
        self.buffered_rows += 1;
        if aligned_end || batch.is_full(&self.limits.batch) {
            self.seal(partition);
            self.start_inserts(false);
        }
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        let due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, (_, batch))| batch.is_due(&self.limits.batch, now))
            .map(|(&p, _)| p)
            .collect();
        for partition in due {
            self.seal(partition);
        }
        self.start_inserts(false);
    }

    fn on_completion(&mut self, completion: &Completion) {
        if let Some(rows) = self.in_flight.remove(&completion.tag) {
            self.buffered_rows = self.buffered_rows.saturating_sub(rows);
        }
        self.start_inserts(false);
    }

    fn revoked(&mut self, partitions: &[i32]) {
        for p in partitions {
            if let Some((_, batch)) = self.open.remove(p) {
                self.buffered_rows -= batch.len();
            }
        }
        let before = self.waiting.len();
        let mut dropped = 0;
        self.waiting.retain(|b| {
            let keep = !partitions.contains(&b.partition);
            if !keep {
                dropped += b.rows.len();
            }
            keep
        });
        self.buffered_rows -= dropped;
        if before != self.waiting.len() || dropped > 0 {
            tracing::info!(dropped, "dropped waiting batches of revoked partitions");
        }
    }

    fn flush_all(&mut self) {
        let partitions: Vec<i32> = self.open.keys().copied().collect();
        for p in partitions {
            self.seal(p);
        }
        self.start_inserts(true);
    }
}

/// Inserts one batch until it is in (retrying), dead-letters refused rows,
/// then acknowledges every offset of the batch.
async fn write_batch(
    sink: Arc<ClickHouseSink>,
    context: PipelineContext,
    kafka: Arc<std::collections::BTreeMap<String, String>>,
    batch: SealedBatch,
) {
    let metrics = &context.metrics;
    let (first, last) = match (batch.rows.first(), batch.rows.last()) {
        (Some(f), Some(l)) => (f.offset, l.offset),
        _ => return,
    };
    let token = format!("{}:{}:{first}-{last}", context.topic, batch.partition);
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 0u32;
    let partition = batch.partition;
    let whole = batch.rows.len();
    let insert = borrowing_insert(|rows| {
        let sink = Arc::clone(&sink);
        // Only the whole batch is a fixed offset range; halves get no token.
        let token = (rows.len() == whole).then(|| token.clone());
        async move { sink.insert(rows, partition, token.as_deref()).await }
    });
    let rejected: Vec<Rejected> = loop {
        attempt += 1;
        let started = Instant::now();
        match insert_isolating(&batch.rows, &insert).await {
            Ok(rejected) => {
                metrics
                    .flush_duration
                    .with_label_values(&[SINK, "ok"])
                    .observe(started.elapsed().as_secs_f64());
                break rejected;
            }
            Err(error) => {
                metrics
                    .flush_duration
                    .with_label_values(&[SINK, "error"])
                    .observe(started.elapsed().as_secs_f64());
                metrics
                    .sink_errors
                    .with_label_values(&[SINK, error.class()])
                    .inc();
                let level_warn = attempt <= 3 || attempt.is_multiple_of(10);
                if level_warn {
                    tracing::warn!(partition, first, last, attempt, %error, retry_in = ?backoff, "insert failed; retrying");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    if attempt > 1 {
        tracing::info!(
            partition,
            first,
            last,
            attempt,
            "insert succeeded after retries"
        );
    }
    for r in &rejected {
        metrics
            .sink_errors
            .with_label_values(&[SINK, "permanent"])
            .inc();
        dead_letter_refused(&context, &kafka, partition, r).await;
    }
    metrics.batch_rows.observe(batch.rows.len() as f64);
    metrics.batch_bytes.observe(batch.bytes as f64);
    let now = now_ms();
    for row in &batch.rows {
        metrics.observe_latency(row.message.sent_at, now);
    }
    context.acks.done(Completion {
        tag: batch.tag,
        partition,
        epoch: batch.epoch,
        offsets: batch.rows.iter().map(|r| r.offset).collect(),
    });
}

/// Pins the closure's signature so its future may borrow the rows.
fn borrowing_insert<'a, F, Fut>(f: F) -> F
where
    F: Fn(&'a [StoredMessage]) -> Fut + Sync,
    Fut: std::future::Future<Output = Result<(), crate::sink::SinkError>> + Send + 'a,
{
    f
}

/// Sends a refused row's original record to the DLQ (kind `sink`), retrying
/// until it is there: the batch is not acknowledged before.
async fn dead_letter_refused(
    context: &PipelineContext,
    kafka: &Arc<std::collections::BTreeMap<String, String>>,
    partition: i32,
    rejected: &Rejected,
) {
    let Some(dlq) = &context.dlq else { return };
    let mut backoff = Duration::from_millis(200);
    loop {
        let (props, topic, offset) = (Arc::clone(kafka), context.topic.clone(), rejected.offset);
        let original = tokio::task::spawn_blocking(move || {
            dlq::refetch(&props, &topic, partition, offset, Duration::from_secs(10))
        })
        .await;
        let result = match original {
            Ok(Ok((key, payload))) => {
                let letter = DeadLetter {
                    key,
                    payload,
                    source_topic: context.topic.clone(),
                    partition,
                    offset: rejected.offset,
                    error: rejected.reason.clone(),
                    kind: "sink".to_owned(),
                };
                dlq.send(&letter).await.map_err(|e| e.to_string())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                context
                    .metrics
                    .dead_lettered
                    .with_label_values(&["sink"])
                    .inc();
                tracing::warn!(partition, offset = rejected.offset, reason = %rejected.reason, "row refused by ClickHouse; dead-lettered");
                return;
            }
            Err(error) => {
                context.metrics.dlq_errors.inc();
                tracing::warn!(partition, offset = rejected.offset, %error, "cannot dead-letter refused row; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
