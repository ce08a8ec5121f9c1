//! parquet-exporter's steps after decode: one open part per partition (in
//! the shared batch keeper) → rotate → finish + rename → ack.
//!
//! A partition has at most one open part, so its parts hold consecutive
//! offset ranges and the highest last offset in the file names is exactly
//! how far the partition got: on assign, reading resumes after it whatever
//! Kafka's committed offset says. A part closes when a record's `sent_at`
//! falls in another hour, at the row, byte or age limit, on revoke
//! (abandoned: the next owner rewrites it) and on shutdown (finished).
//!
//! An output that cannot be written (full, unwritable, unreachable) is a
//! sink fault: the runtime pauses, every open part is deleted, and once a
//! probe write succeeds reading resumes after the files again, as on assign.

use std::time::Instant;

use parley_shared::batcher::BatchLimits;
use parley_shared::metrics::{now_ms, RuntimeMetrics};
use parley_shared::runtime::batch_keeper::BatchKeeper;
use parley_shared::runtime::sink_driver::SinkError;
use parley_shared::runtime::{Envelope, Pipeline, PipelineContext, PipelineError, Progress};
use parley_shared::GameMessage;
use parquet::file::properties::WriterProperties;

use crate::encoder::{Encoder, SINK};
use crate::layout::hour_of;
use crate::output::Output;
use crate::part_file::{OpenPart, PartError};

/// One consumer's Parquet pipeline: rows gathered here, encoded and
/// published by its [`Encoder`] thread.
pub struct ParquetPipeline {
    output: Output,
    /// The encoder, or why it could not start (fatal).
    encoder: Result<Encoder, PipelineError>,
    /// An output fault seen on this thread (the encoder reports its own).
    fault: Option<String>,
    consumer: usize,
    metrics: RuntimeMetrics,
    /// The open part of each partition, sealed by rows, bytes and age.
    open: BatchKeeper<i32, OpenPart>,
    /// Milliseconds since the epoch, refreshed every tick, for `ingested_at`.
    ingested_at: i64,
}

impl ParquetPipeline {
    /// A pipeline publishing to `output`.
    pub fn new(
        output: Output,
        properties: WriterProperties,
        limits: BatchLimits,
        context: PipelineContext,
    ) -> Self {
        let (consumer, metrics) = (context.consumer, context.metrics.clone());
        let encoder =
            Encoder::start(output.clone(), properties, context).map_err(|e| PipelineError::Start {
                what: "the encoder thread",
                reason: e.to_string(),
            });
        ParquetPipeline {
            output,
            encoder,
            fault: None,
            consumer,
            metrics,
            open: BatchKeeper::new(limits),
            ingested_at: now_ms(),
        }
    }

    /// Hands the open part of `partition` to the encoder to finish,
    /// publish and ack.
    fn close(&mut self, partition: i32) -> Result<(), PartError> {
        match self.open.seal(&partition) {
            Some(part) => self.publish(partition, part),
            None => Ok(()),
        }
    }

    /// Hands a sealed part to the encoder to finish, publish and ack.
    fn publish(&self, partition: i32, mut part: OpenPart) -> Result<(), PartError> {
        let Ok(encoder) = &self.encoder else {
            return Ok(());
        };
        if part.has_rows_buffered() {
            encoder.write(partition, part.take_batch()?);
        }
        let (meta, sent_at, epoch) = part.into_meta();
        encoder.seal(meta, sent_at, epoch);
        Ok(())
    }

    fn append(&mut self, record: &Envelope<GameMessage>, hour: i64) -> Result<(), PartError> {
        let Ok(encoder) = &self.encoder else {
            return Ok(());
        };
        let partition = record.partition;
        let part = self.open.open_or(partition, || {
            let part = OpenPart::new(partition, hour, record.offset, record.epoch);
            encoder.open(partition, record.offset, part.encoded.clone());
            part
        });
        if let Some(batch) = part.push(&record.value, record.offset, self.ingested_at)? {
            encoder.write(partition, batch);
        }
        Ok(())
    }

    fn wait_for_encoder(&self) {
        if let Ok(encoder) = &self.encoder {
            encoder.wait();
        }
    }

    /// Records an output fault seen on the consumer thread.
    fn fail(&mut self, what: &str, error: impl std::fmt::Display) {
        self.metrics
            .sink_errors
            .with_label_values(&[SINK, "retryable"])
            .inc();
        self.fault
            .get_or_insert_with(|| format!("output {}: {what}: {error}", self.output.name()));
    }
}

impl Pipeline for ParquetPipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        if self.failure().is_some() || self.sink_fault().is_some() {
            return Err(record);
        }
        let partition = record.partition;
        let hour = hour_of(record.value.sent_at);
        let rotate = self
            .open
            .get(&partition)
            .is_some_and(|p| p.hour != hour || p.epoch != record.epoch);
        let appended = (if rotate {
            self.close(partition)
        } else {
            Ok(())
        })
        .and_then(|()| self.append(&record, hour));
        if let Err(error) = appended {
            self.fail("cannot build a Parquet batch", error);
            return Err(record);
        }
        if self.open.is_full(&partition) {
            if let Err(error) = self.close(partition) {
                self.fail("cannot build a Parquet batch", error);
            }
        }
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        self.ingested_at = now_ms();
        for (partition, part) in self.open.seal_due(now) {
            if let Err(error) = self.publish(partition, part) {
                self.fail("cannot build a Parquet batch", error);
            }
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
                // The sink fault makes the runtime pause and seek these
                // partitions after the files once the listing works.
                self.fail("cannot list the parts already written", error);
                Vec::new()
            }
        }
    }

    fn revoked(&mut self, partitions: &[i32]) {
        for (p, _) in self.open.revoke(partitions).emptied {
            if let Ok(encoder) = &self.encoder {
                encoder.abandon(p);
            }
        }
        // Parts of these partitions already sealing are published before
        // the partitions move: the next owner resumes after them.
        self.wait_for_encoder();
    }

    fn flush_all(&mut self) {
        for (p, part) in self.open.seal_all() {
            if let Err(error) = self.publish(p, part) {
                self.fail("cannot build a Parquet batch", error);
            }
        }
        self.wait_for_encoder();
    }

    fn failure(&self) -> Option<PipelineError> {
        match &self.encoder {
            Ok(encoder) if encoder.stopped() => Some(PipelineError::Stopped {
                what: "the encoder thread",
            }),
            Ok(_) => None,
            Err(error) => Some(error.clone()),
        }
    }

    fn sink_fault(&self) -> Option<SinkError> {
        match (&self.fault, &self.encoder) {
            (Some(reason), _) => Some(SinkError::Retryable(reason.clone())),
            (None, Ok(encoder)) => encoder.fault().map(SinkError::Retryable),
            (None, Err(_)) => None,
        }
    }

    fn reset(&mut self) {
        self.open.clear();
        if let Ok(encoder) = &self.encoder {
            encoder.reset();
        }
    }

    fn recover(&mut self, partitions: &[i32]) -> Result<Vec<(i32, i64)>, SinkError> {
        let name = self.output.name().to_owned();
        let checked = self
            .output
            .probe(self.consumer)
            .map_err(|e| format!("output {name}: {e}"))
            .and_then(|()| {
                // Temp files a failed delete left behind (read-only output).
                self.output
                    .layout()
                    .remove_tmp(partitions)
                    .map_err(|e| format!("output {name}: cannot delete temporary files: {e}"))
            })
            .and_then(|_| {
                self.output.scan().map_err(|e| {
                    format!("output {name}: cannot list the parts already written: {e}")
                })
            });
        let highest = checked.map_err(|reason| {
            self.metrics
                .sink_errors
                .with_label_values(&[SINK, "retryable"])
                .inc();
            SinkError::Retryable(reason)
        })?;
        self.fault = None;
        Ok(partitions
            .iter()
            .filter_map(|p| highest.get(p).map(|&last| (*p, last + 1)))
            .collect())
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
