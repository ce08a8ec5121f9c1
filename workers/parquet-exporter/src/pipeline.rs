//! parquet-exporter's steps after decode: one open part per partition →
//! rotate → finish + rename → ack.
//!
//! A partition has at most one open part, so its parts hold consecutive
//! offset ranges and the highest last offset in the file names is exactly
//! how far the partition got: on assign, reading resumes after it whatever
//! Kafka's committed offset says. A part closes when a record's `sent_at`
//! falls in another hour, at the row, byte or age limit, on revoke
//! (abandoned: the next owner rewrites it) and on shutdown (finished).

use std::collections::HashMap;
use std::time::Instant;

use parley_shared::batcher::BatchLimits;
use parley_shared::metrics::now_ms;
use parley_shared::runtime::{Completion, Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::GameMessage;
use parquet::file::properties::WriterProperties;

use crate::layout::hour_of;
use crate::output::Output;
use crate::part_file::{PartError, PartFile};

/// Sink label of the exporter's metrics.
const SINK: &str = "parquet";

/// One consumer's Parquet pipeline.
pub struct ParquetPipeline {
    output: Output,
    properties: WriterProperties,
    limits: BatchLimits,
    context: PipelineContext,
    open: HashMap<i32, OpenPart>,
    failure: Option<String>,
    /// Milliseconds since the epoch, refreshed every tick, for `ingested_at`.
    ingested_at: i64,
}

struct OpenPart {
    file: PartFile,
    sent_at: Vec<i64>,
}

impl ParquetPipeline {
    /// A pipeline publishing to `output`.
    pub fn new(
        output: Output,
        properties: WriterProperties,
        limits: BatchLimits,
        context: PipelineContext,
    ) -> Self {
        ParquetPipeline {
            output,
            properties,
            limits,
            context,
            open: HashMap::new(),
            failure: None,
            ingested_at: now_ms(),
        }
    }

    fn fail(&mut self, error: &PartError) {
        self.context
            .metrics
            .sink_errors
            .with_label_values(&[SINK, "permanent"])
            .inc();
        tracing::error!(%error, "cannot write Parquet");
        self.failure.get_or_insert_with(|| error.to_string());
    }

    /// Finishes and publishes the open part of `partition`, then acks it.
    fn close(&mut self, partition: i32) {
        let Some(OpenPart { file, sent_at }) = self.open.remove(&partition) else {
            return;
        };
        let started = Instant::now();
        let (epoch, rows) = (file.epoch, file.rows());
        let bytes = file.bytes();
        match file
            .seal()
            .and_then(|part| Ok((self.output.publish(&part)?, part.offsets)))
        {
            Ok((path, offsets)) => {
                let metrics = &self.context.metrics;
                metrics
                    .flush_duration
                    .with_label_values(&[SINK, "ok"])
                    .observe(started.elapsed().as_secs_f64());
                metrics.batch_rows.observe(rows as f64);
                metrics.batch_bytes.observe(bytes as f64);
                let now = now_ms();
                for s in sent_at {
                    metrics.observe_latency(s, now);
                }
                tracing::debug!(%path, rows, "part published");
                self.context.acks.done(Completion {
                    tag: 0,
                    partition,
                    epoch,
                    offsets,
                });
            }
            Err(error) => self.fail(&error),
        }
    }

    fn append(&mut self, record: &Envelope<GameMessage>, hour: i64) -> Result<(), PartError> {
        let partition = record.partition;
        let part = match self.open.get_mut(&partition) {
            Some(part) => part,
            None => {
                let file = PartFile::create(
                    self.output.layout(),
                    &self.properties,
                    partition,
                    hour,
                    record.offset,
                    record.epoch,
                )?;
                self.open.entry(partition).or_insert(OpenPart {
                    file,
                    sent_at: Vec::new(),
                })
            }
        };
        part.file
            .push(&record.value, record.offset, self.ingested_at)?;
        part.sent_at.push(record.value.sent_at);
        Ok(())
    }
}

impl Pipeline for ParquetPipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        if self.failure.is_some() {
            return Err(record);
        }
        let partition = record.partition;
        let hour = hour_of(record.value.sent_at);
        let rotate = self
            .open
            .get(&partition)
            .is_some_and(|p| p.file.hour != hour || p.file.epoch != record.epoch);
        if rotate {
            self.close(partition);
        }
        if let Err(error) = self.append(&record, hour) {
            self.fail(&error);
            return Err(record);
        }
        let full = self
            .open
            .get(&partition)
            .is_some_and(|p| self.limits.reached(p.file.rows(), p.file.bytes()));
        if full {
            self.close(partition);
        }
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        self.ingested_at = now_ms();
        let due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, p)| self.limits.expired(p.file.opened_at, now))
            .map(|(&partition, _)| partition)
            .collect();
        for partition in due {
            self.close(partition);
        }
    }

    fn assigned(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        match self.output.layout().remove_tmp(partitions) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, ?partitions, "removed leftover temporary files"),
            Err(e) => tracing::warn!(error = %e, "cannot clean temporary files"),
        }
        match self.output.scan() {
            Ok(highest) => {
                let starts: Vec<(i32, i64)> = partitions
                    .iter()
                    .filter_map(|p| highest.get(p).map(|&last| (*p, last + 1)))
                    .collect();
                if !starts.is_empty() {
                    tracing::info!(?starts, "resuming after the files already written");
                }
                starts
            }
            Err(error) => {
                self.fail(&error);
                Vec::new()
            }
        }
    }

    fn revoked(&mut self, partitions: &[i32]) {
        for p in partitions {
            if let Some(part) = self.open.remove(p) {
                part.file.abandon();
            }
        }
    }

    fn flush_all(&mut self) {
        let partitions: Vec<i32> = self.open.keys().copied().collect();
        for p in partitions {
            self.close(p);
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}
