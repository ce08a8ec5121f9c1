//! db-writer's steps after decode: batch → insert → ack.
//!
//! Rows are encoded to RowBinary as they arrive, into an open batch (rows,
//! bytes and age limits from the shared batcher). The batch scope depends on
//! the server: where ClickHouse takes `insert_deduplication_token`, each
//! partition has its own batch, closed also at offset multiples of the row
//! limit, so a replay re-forms the same batch and its token
//! (`topic:partition:first-last`) makes the server drop it. Elsewhere (the
//! Debian 18.16 server) one batch spans the consumer's partitions: fewer,
//! larger inserts, duplicates collapsed by the ReplacingMergeTree.
//!
//! Closed batches wait for one of `max_in_flight` insert slots. Past
//! `max_buffered_rows` the pipeline refuses records (the runtime waits, then
//! pauses the partitions). An insert retries retryable errors with backoff
//! forever (nothing dropped, nothing committed meanwhile); permanent errors
//! isolate the refused rows, which go to the DLQ with kind `sink`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parley_shared::batcher::{Batch, BatchLimits};
use parley_shared::dlq::{self, DeadLetter};
use parley_shared::metrics::now_ms;
use parley_shared::runtime::{Completion, Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::GameMessage;

use crate::row::{encode, RowMeta};
use crate::sink::{insert_isolating, ClickHouseSink, Rejected};

/// Sink label of db-writer's metrics.
const SINK: &str = "clickhouse";
/// Longest pause between insert retries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Key of the one shared batch when batches span partitions.
const SHARED: i32 = -1;

/// Batching and flow-control settings.
#[derive(Debug, Clone, Copy)]
pub struct PipelineLimits {
    /// Batch limits.
    pub batch: BatchLimits,
    /// Inserts in flight.
    pub max_in_flight: usize,
    /// Rows buffered before refusing more.
    pub max_buffered_rows: usize,
    /// One batch per partition (with dedup tokens) or one for all.
    pub per_partition: bool,
}

/// A batch being filled: row positions and the encoded rows.
#[derive(Default)]
struct OpenBatch {
    rows: Batch<RowMeta>,
    data: Vec<u8>,
}

/// A batch ready to insert.
struct SealedBatch {
    tag: u64,
    rows: Vec<RowMeta>,
    data: Bytes,
    /// `topic:partition:first-last` for a per-partition batch.
    token: Option<String>,
}

/// One consumer's ClickHouse pipeline.
pub struct ClickHousePipeline {
    sink: Arc<ClickHouseSink>,
    context: PipelineContext,
    limits: PipelineLimits,
    kafka_properties: Arc<BTreeMap<String, String>>,
    open: HashMap<i32, OpenBatch>,
    waiting: VecDeque<SealedBatch>,
    /// Rows of each in-flight batch not yet acknowledged.
    in_flight: HashMap<u64, usize>,
    buffered_rows: usize,
    next_tag: u64,
    /// Seconds since the epoch, refreshed every tick, for `ingested_at`.
    ingested_at: u32,
}

impl ClickHousePipeline {
    /// A pipeline writing through `sink`.
    pub fn new(
        sink: Arc<ClickHouseSink>,
        context: PipelineContext,
        limits: PipelineLimits,
        kafka_properties: Arc<BTreeMap<String, String>>,
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
            ingested_at: unix_seconds(),
        }
    }

    fn scope(&self, partition: i32) -> i32 {
        if self.limits.per_partition {
            partition
        } else {
            SHARED
        }
    }

    fn seal(&mut self, scope: i32) {
        let Some(open) = self.open.get_mut(&scope) else {
            return;
        };
        if open.rows.is_empty() {
            return;
        }
        let rows = open.rows.take();
        let data = Bytes::from(std::mem::take(&mut open.data));
        let token = match (scope, rows.first(), rows.last()) {
            (SHARED, _, _) => None,
            (_, Some(first), Some(last)) => Some(format!(
                "{}:{scope}:{}-{}",
                self.context.topic, first.offset, last.offset
            )),
            _ => None,
        };
        self.next_tag += 1;
        self.waiting.push_back(SealedBatch {
            tag: self.next_tag,
            rows,
            data,
            token,
        });
    }

    fn start_inserts(&mut self, ignore_limit: bool) {
        while ignore_limit || self.in_flight.len() < self.limits.max_in_flight {
            let Some(batch) = self.waiting.pop_front() else {
                break;
            };
            self.in_flight.insert(batch.tag, batch.rows.len());
            let sink = Arc::clone(&self.sink);
            let context = self.context.clone();
            let kafka = Arc::clone(&self.kafka_properties);
            self.context.runtime.spawn(async move {
                write_batch(sink, context, kafka, batch).await;
            });
        }
    }

    /// Seals the largest open batch, to make room when full.
    fn seal_largest(&mut self) {
        let largest = self
            .open
            .iter()
            .filter(|(_, b)| !b.rows.is_empty())
            .max_by_key(|(_, b)| b.rows.len())
            .map(|(&scope, _)| scope);
        if let Some(scope) = largest {
            self.seal(scope);
            self.start_inserts(false);
        }
    }
}

impl Pipeline for ClickHousePipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        if self.buffered_rows >= self.limits.max_buffered_rows {
            // Full: send the largest batch early, so the wait lasts one
            // insert rather than one batch age.
            self.seal_largest();
            return Err(record);
        }
        let scope = self.scope(record.partition);
        let ingested_at = self.ingested_at;
        let open = self.open.entry(scope).or_default();
        let start = open.data.len();
        encode(
            &mut open.data,
            &record.value,
            record.partition,
            record.offset,
            ingested_at,
        );
        let end = open.data.len();
        let meta = RowMeta {
            partition: record.partition,
            epoch: record.epoch,
            offset: record.offset,
            sent_at: record.value.sent_at,
            start,
            end,
        };
        open.rows.push(meta, end - start, Instant::now());
        self.buffered_rows += 1;
        let aligned_end =
            scope != SHARED && (record.offset + 1) % self.limits.batch.max_rows as i64 == 0;
        if aligned_end || open.rows.is_full(&self.limits.batch) {
            self.seal(scope);
            self.start_inserts(false);
        }
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        self.ingested_at = unix_seconds();
        let due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, b)| b.rows.is_due(&self.limits.batch, now))
            .map(|(&scope, _)| scope)
            .collect();
        for scope in due {
            self.seal(scope);
        }
        self.start_inserts(false);
    }

    fn on_completion(&mut self, completion: &Completion) {
        let rows = completion.offsets.len();
        self.buffered_rows = self.buffered_rows.saturating_sub(rows);
        if let Some(remaining) = self.in_flight.get_mut(&completion.tag) {
            *remaining = remaining.saturating_sub(rows);
            if *remaining == 0 {
                self.in_flight.remove(&completion.tag);
            }
        }
        self.start_inserts(false);
    }

    fn revoked(&mut self, partitions: &[i32]) {
        let mut dropped = 0;
        for open in self.open.values_mut() {
            if open
                .rows
                .items()
                .iter()
                .any(|r| partitions.contains(&r.partition))
            {
                dropped += drop_rows(open, partitions);
            }
        }
        for batch in &mut self.waiting {
            let before = batch.rows.len();
            if batch.rows.iter().any(|r| partitions.contains(&r.partition)) {
                let (rows, data) = keep_rows(&batch.rows, &batch.data, partitions);
                batch.rows = rows;
                batch.data = Bytes::from(data);
                batch.token = None;
            }
            dropped += before - batch.rows.len();
        }
        self.waiting.retain(|b| !b.rows.is_empty());
        self.buffered_rows = self.buffered_rows.saturating_sub(dropped);
        if dropped > 0 {
            tracing::info!(
                dropped,
                ?partitions,
                "dropped buffered rows of revoked partitions"
            );
        }
    }

    fn flush_all(&mut self) {
        let scopes: Vec<i32> = self.open.keys().copied().collect();
        for scope in scopes {
            self.seal(scope);
        }
        self.start_inserts(true);
    }
}

/// Removes the rows of `partitions` from an open batch; returns how many.
fn drop_rows(open: &mut OpenBatch, partitions: &[i32]) -> usize {
    let opened_at = open.rows.opened_at();
    let rows = open.rows.take();
    let before = rows.len();
    let (kept, data) = keep_rows(&rows, &open.data, partitions);
    open.data = data;
    let now = opened_at.unwrap_or_else(Instant::now);
    for row in &kept {
        open.rows.push(*row, row.end - row.start, now);
    }
    before - kept.len()
}

/// The rows (re-positioned) and bytes of a batch without `partitions`.
fn keep_rows(rows: &[RowMeta], data: &[u8], partitions: &[i32]) -> (Vec<RowMeta>, Vec<u8>) {
    let mut kept = Vec::with_capacity(rows.len());
    let mut out = Vec::with_capacity(data.len());
    for row in rows.iter().filter(|r| !partitions.contains(&r.partition)) {
        let start = out.len();
        out.extend_from_slice(&data[row.start..row.end]);
        kept.push(RowMeta {
            start,
            end: out.len(),
            ..*row
        });
    }
    (kept, out)
}

/// Inserts one batch until it is in (retrying), dead-letters refused rows,
/// then acknowledges every offset of the batch.
async fn write_batch(
    sink: Arc<ClickHouseSink>,
    context: PipelineContext,
    kafka: Arc<BTreeMap<String, String>>,
    batch: SealedBatch,
) {
    let metrics = &context.metrics;
    let (first, last) = match (batch.rows.first(), batch.rows.last()) {
        (Some(f), Some(l)) => (f.offset, l.offset),
        _ => return,
    };
    let partition = batch.rows[0].partition;
    let token = batch.token.clone().unwrap_or_default();
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 0u32;
    let whole = batch.rows.len();
    let data = batch.data.clone();
    let insert = borrowing_insert(|rows| {
        let sink = Arc::clone(&sink);
        // Only the whole batch is a fixed offset range; halves get no token.
        let token = (rows.len() == whole && !token.is_empty()).then(|| token.clone());
        let bytes = match (rows.first(), rows.last()) {
            (Some(first), Some(last)) => data.slice(first.start..last.end),
            _ => Bytes::new(),
        };
        async move { sink.insert(bytes, token.as_deref()).await }
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
        dead_letter_refused(&context, &kafka, r).await;
    }
    metrics.batch_rows.observe(batch.rows.len() as f64);
    metrics.batch_bytes.observe(batch.data.len() as f64);
    let now = now_ms();
    for row in &batch.rows {
        metrics.observe_latency(row.sent_at, now);
    }
    // One completion per partition (and epoch) in the batch, same tag.
    let mut by_partition: BTreeMap<(i32, u64), Vec<i64>> = BTreeMap::new();
    for row in &batch.rows {
        by_partition
            .entry((row.partition, row.epoch))
            .or_default()
            .push(row.offset);
    }
    for ((partition, epoch), offsets) in by_partition {
        context.acks.done(Completion {
            tag: batch.tag,
            partition,
            epoch,
            offsets,
        });
    }
}

/// Pins the closure's signature so its future may borrow the rows.
fn borrowing_insert<'a, F, Fut>(f: F) -> F
where
    F: Fn(&'a [RowMeta]) -> Fut + Sync,
    Fut: std::future::Future<Output = Result<(), crate::sink::SinkError>> + Send + 'a,
{
    f
}

/// Sends a refused row's original record to the DLQ (kind `sink`), retrying
/// until it is there: the batch is not acknowledged before.
async fn dead_letter_refused(
    context: &PipelineContext,
    kafka: &Arc<BTreeMap<String, String>>,
    rejected: &Rejected,
) {
    let partition = rejected.partition;
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

fn unix_seconds() -> u32 {
    (now_ms() / 1000).clamp(0, i64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(partition: i32, offset: i64, start: usize, end: usize) -> RowMeta {
        RowMeta {
            partition,
            epoch: 1,
            offset,
            sent_at: 0,
            start,
            end,
        }
    }

    #[test]
    fn revoked_partitions_leave_the_other_rows_intact() {
        let data = b"aaBBBcdd".to_vec();
        let rows = vec![
            row(0, 10, 0, 2),
            row(1, 20, 2, 5),
            row(0, 11, 5, 6),
            row(2, 7, 6, 8),
        ];
        let (kept, bytes) = keep_rows(&rows, &data, &[1]);
        assert_eq!(bytes, b"aacdd");
        assert_eq!(
            kept,
            vec![row(0, 10, 0, 2), row(0, 11, 2, 3), row(2, 7, 3, 5)]
        );

        let mut open = OpenBatch {
            data,
            ..Default::default()
        };
        for r in rows {
            open.rows.push(r, r.end - r.start, Instant::now());
        }
        assert_eq!(drop_rows(&mut open, &[0, 2]), 3);
        assert_eq!(open.data, b"BBB");
        assert_eq!(open.rows.items(), &[row(1, 20, 0, 3)]);
    }
}
