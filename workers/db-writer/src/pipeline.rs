//! db-writer's steps after decode: batch → insert → ack, for any stored
//! record type ([`Row`]: messages, moderation actions), one pipeline per
//! consumer of each group.
//!
//! Rows are encoded to RowBinary as they arrive, into an open batch of the
//! shared batch keeper (rows, bytes and age limits). The batch scope depends
//! on the server: where ClickHouse takes `insert_deduplication_token`, each
//! partition has its own batch, closed also at offset multiples of the row
//! limit, so a replay re-forms the same batch and its token
//! (`topic:partition:first-last`) makes the server drop it. Elsewhere (the
//! Debian 18.16 server) one batch spans the consumer's partitions: fewer,
//! larger inserts, duplicates collapsed by the ReplacingMergeTree.
//!
//! Sealed batches go to the shared sink driver: `max_in_flight` inserts at
//! once; a retryable error is a sink outage of the shared model (the
//! runtime pauses the partitions and `/healthz` says why until an insert
//! succeeds) while the batch is retried in place with backoff (nothing
//! dropped, nothing committed meanwhile); permanent errors are narrowed down
//! to the refused rows, which go to the DLQ with kind `sink`. Past
//! `max_buffered_rows` the pipeline refuses records (the runtime waits, then
//! pauses the partitions).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use parley_shared::batcher::BatchLimits;
use parley_shared::metrics::now_ms;
use parley_shared::runtime::batch_keeper::{Accumulator, BatchKeeper};
use parley_shared::runtime::sink_driver::{DeadLetters, KafkaDeadLetters, Sink, SinkDriver};
use parley_shared::runtime::{Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::GameMessage;

use crate::batch::{OpenBatch, SealedBatch};
use crate::row::{Row, RowMeta};
use crate::sink::ClickHouseSink;

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

/// One consumer's ClickHouse pipeline of `R` rows (generic over the sink
/// so its logic is unit-tested without a server).
pub struct ClickHousePipeline<S: Sink = ClickHouseSink, R = GameMessage> {
    keeper: BatchKeeper<i32, OpenBatch>,
    driver: SinkDriver<S>,
    limits: PipelineLimits,
    topic: String,
    /// Rows in open batches (sealed ones are counted by the driver).
    open_rows: usize,
    /// Seconds since the epoch, refreshed every tick, for `ingested_at`.
    ingested_at: u32,
    rows: PhantomData<fn() -> R>,
}

impl<R: Row> ClickHousePipeline<ClickHouseSink, R> {
    /// A pipeline writing through `sink`; refused rows are read back from
    /// Kafka (`kafka_properties`) for the DLQ.
    pub fn new(
        sink: Arc<ClickHouseSink>,
        context: PipelineContext,
        limits: PipelineLimits,
        kafka_properties: Arc<BTreeMap<String, String>>,
    ) -> Self {
        let dead_letters = KafkaDeadLetters::for_context(&context, kafka_properties);
        Self::with_sink(sink, context, limits, dead_letters)
    }
}

impl<S: Sink<Batch = SealedBatch>, R: Row> ClickHousePipeline<S, R> {
    /// A pipeline writing through any sink of sealed batches.
    pub fn with_sink(
        sink: Arc<S>,
        context: PipelineContext,
        limits: PipelineLimits,
        dead_letters: Option<Arc<dyn DeadLetters>>,
    ) -> Self {
        let topic = context.topic.clone();
        ClickHousePipeline {
            keeper: BatchKeeper::new(limits.batch),
            driver: SinkDriver::new(sink, context, dead_letters, limits.max_in_flight),
            limits,
            topic,
            open_rows: 0,
            ingested_at: unix_seconds(),
            rows: PhantomData,
        }
    }

    fn scope(&self, partition: i32) -> i32 {
        if self.limits.per_partition {
            partition
        } else {
            SHARED
        }
    }

    /// Seals the open batch of `scope` and hands it to the driver.
    fn seal(&mut self, scope: i32) {
        if let Some(open) = self.keeper.seal(&scope) {
            self.send(scope, open);
        }
    }

    fn send(&mut self, scope: i32, open: OpenBatch) {
        self.open_rows = self.open_rows.saturating_sub(open.rows());
        let token = match (scope, open.rows.items().first(), open.rows.items().last()) {
            (SHARED, _, _) => None,
            (_, Some(first), Some(last)) => Some(format!(
                "{}:{scope}:{}-{}",
                self.topic, first.offset, last.offset
            )),
            _ => None,
        };
        self.driver.push(open.seal(token));
    }

    /// Rows buffered: open, waiting or being inserted.
    fn buffered_rows(&self) -> usize {
        self.open_rows + self.driver.queued()
    }
}

impl<S: Sink<Batch = SealedBatch>, R: Row> Pipeline for ClickHousePipeline<S, R> {
    type Item = R;

    fn submit(&mut self, record: Envelope<R>) -> Result<Progress, Envelope<R>> {
        if self.buffered_rows() >= self.limits.max_buffered_rows {
            // Full: send the largest batch early, so the wait lasts one
            // insert rather than one batch age.
            if let Some((scope, open)) = self.keeper.seal_largest() {
                self.send(scope, open);
            }
            return Err(record);
        }
        let scope = self.scope(record.partition);
        let ingested_at = self.ingested_at;
        let open = self.keeper.open_or(scope, OpenBatch::default);
        let start = open.data.len();
        record
            .value
            .encode(&mut open.data, record.partition, record.offset, ingested_at);
        let end = open.data.len();
        let meta = RowMeta {
            partition: record.partition,
            epoch: record.epoch,
            offset: record.offset,
            sent_at: record.value.event_ms(),
            start,
            end,
        };
        open.rows.push(meta, end - start, Instant::now());
        let full = open.rows.is_full(&self.limits.batch);
        self.open_rows += 1;
        let aligned_end =
            scope != SHARED && (record.offset + 1) % self.limits.batch.max_rows as i64 == 0;
        if aligned_end || full {
            self.seal(scope);
        }
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        self.ingested_at = unix_seconds();
        for (scope, open) in self.keeper.seal_due(now) {
            self.send(scope, open);
        }
        // Slots freed by finished inserts.
        self.driver.start(false);
    }

    fn revoked(&mut self, partitions: &[i32]) {
        let open = self.keeper.revoke(partitions).rows;
        self.open_rows = self.open_rows.saturating_sub(open);
        let dropped = open + self.driver.revoke(partitions);
        if dropped > 0 {
            tracing::info!(
                dropped,
                ?partitions,
                "dropped buffered rows of revoked partitions"
            );
        }
    }

    fn flush_all(&mut self) {
        for (scope, open) in self.keeper.seal_all() {
            self.send(scope, open);
        }
        self.driver.flush();
    }
}

fn unix_seconds() -> u32 {
    (now_ms() / 1000).clamp(0, i64::from(u32::MAX)) as u32
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
