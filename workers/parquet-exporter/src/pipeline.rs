//! parquet-exporter's steps after decode, for any dataset ([`ExportRow`]:
//! messages, moderation actions): one open part per partition (in
//! the shared batch keeper) → rotate → finish + rename on the encoder
//! thread → ack through the shared sink driver.
//!
//! A partition has at most one open part, so its parts hold consecutive
//! offset ranges and the highest last offset in the file names is exactly
//! how far the partition got: on assign, reading resumes after it whatever
//! Kafka's committed offset says. A part closes when a record's event time
//! (`sent_at`, an action's `created_at`) falls in another hour, at the row, byte or age limit, on revoke
//! (abandoned: the next owner rewrites it) and on shutdown (finished).
//!
//! An output that cannot be written (full, unwritable, unreachable) is a
//! sink outage of the shared model, reported through the sink driver: the
//! runtime pauses, revokes every partition locally (every open part is
//! deleted), the driver probes the output, and once it works the runtime
//! assigns them again: reading resumes after the files, as on assign.

use std::time::Instant;

use parley_shared::batcher::BatchLimits;
use parley_shared::metrics::now_ms;
use parley_shared::runtime::batch_keeper::BatchKeeper;
use parley_shared::runtime::sink_driver::{SinkDriver, SinkError};
use parley_shared::runtime::{
    Envelope, Pipeline, PipelineContext, PipelineError, Progress, SinkStatus,
};
use parquet::file::properties::WriterProperties;

use crate::encoder::{Encoder, QUEUE};
use crate::layout::hour_of;
use crate::output::Output;
use crate::part_file::{OpenPart, PartError};
use crate::rows::{ExportRow, RowColumns};
use crate::sink::{ParquetSink, PartBatch};

/// One consumer's Parquet pipeline of `R`'s dataset: rows gathered here,
/// encoded and published by its [`Encoder`] thread, acknowledged by its
/// sink driver.
pub struct ParquetPipeline<R: ExportRow> {
    output: Output,
    /// The encoder, or why it could not start (fatal).
    encoder: Result<Encoder, PipelineError>,
    /// Awaits each part's publication and acknowledges its records.
    driver: SinkDriver<ParquetSink>,
    /// Whether the sink fails now (records are refused meanwhile).
    sink: SinkStatus,
    /// The open part of each partition, sealed by rows, bytes and age.
    open: BatchKeeper<i32, OpenPart<R>>,
    /// Milliseconds since the epoch, refreshed every tick, for `ingested_at`.
    ingested_at: i64,
}

impl<R: ExportRow> ParquetPipeline<R> {
    /// A pipeline publishing to `output` (opened for `R::DATASET`).
    pub fn new(
        output: Output,
        properties: WriterProperties,
        limits: BatchLimits,
        context: PipelineContext,
    ) -> Self {
        let encoder =
            Encoder::start(output.clone(), R::Columns::schema(), properties).map_err(|e| {
                PipelineError::Start {
                    what: "the encoder thread",
                    reason: e.to_string(),
                }
            });
        let sink = context.sink.clone();
        let parts = std::sync::Arc::new(ParquetSink::new(output.clone(), context.consumer));
        // Every closed part is already queued on the encoder: the cap only
        // bounds the parts whose verdict the driver awaits at once.
        let driver = SinkDriver::new(parts, context, None, QUEUE);
        ParquetPipeline {
            output,
            encoder,
            driver,
            sink,
            open: BatchKeeper::new(limits),
            ingested_at: now_ms(),
        }
    }

    /// Hands the open part of `partition` to the encoder to finish and
    /// publish, and to the driver to acknowledge.
    fn close(&mut self, partition: i32) -> Result<(), PartError> {
        match self.open.seal(&partition) {
            Some(part) => self.publish(partition, part),
            None => Ok(()),
        }
    }

    /// Hands a sealed part to the encoder and the driver.
    fn publish(&mut self, partition: i32, mut part: OpenPart<R>) -> Result<(), PartError> {
        let Ok(encoder) = &self.encoder else {
            return Ok(());
        };
        if part.has_rows_buffered() {
            encoder.write(partition, part.take_batch()?);
        }
        let (meta, records) = part.into_parts();
        let verdict = encoder.seal(meta, records.epoch);
        self.driver.push(PartBatch::new(records, verdict));
        Ok(())
    }

    fn append(&mut self, record: &Envelope<R>, hour: i64) -> Result<(), PartError> {
        let Ok(encoder) = &self.encoder else {
            return Ok(());
        };
        let partition = record.partition;
        let part = self.open.open_or(partition, || {
            let part = OpenPart::new(partition, hour, record.offset, record.epoch);
            encoder.open(partition, record.offset, record.epoch, part.encoded.clone());
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

    /// Reports an output fault to the sink driver (work of `epoch`, if it
    /// belongs to records).
    fn fail(&self, what: &str, error: impl std::fmt::Display, epoch: Option<u64>) {
        let reason = format!("output {}: {what}: {error}", self.output.name());
        self.driver.failed(SinkError::Retryable(reason), epoch);
    }

    /// Passes a failure the encoder hit on to the sink driver.
    fn report_encoder_failure(&self) {
        if let Ok(encoder) = &self.encoder {
            if let Some((reason, epoch)) = encoder.take_failure() {
                self.driver
                    .failed(SinkError::Retryable(reason), Some(epoch));
            }
        }
    }
}

impl<R: ExportRow> Pipeline for ParquetPipeline<R> {
    type Item = R;

    fn submit(&mut self, record: Envelope<R>) -> Result<Progress, Envelope<R>> {
        if self.failure().is_some() || self.sink.is_failing() {
            return Err(record);
        }
        let partition = record.partition;
        let hour = hour_of(record.value.event_time());
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
            self.fail("cannot build a Parquet batch", error, Some(record.epoch));
            return Err(record);
        }
        if self.open.is_full(&partition) {
            if let Err(error) = self.close(partition) {
                self.fail("cannot build a Parquet batch", error, Some(record.epoch));
            }
        }
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        self.report_encoder_failure();
        self.ingested_at = now_ms();
        for (partition, part) in self.open.seal_due(now) {
            let epoch = part.epoch;
            if let Err(error) = self.publish(partition, part) {
                self.fail("cannot build a Parquet batch", error, Some(epoch));
            }
        }
        // Slots freed by parts published.
        self.driver.start(false);
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
                // The sink outage makes the runtime pause and assign these
                // partitions again, after the files, once the listing works.
                self.fail("cannot list the parts already written", error, None);
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
        self.driver.revoke(partitions);
        // Parts of these partitions already sealing are published before
        // the partitions move: the next owner resumes after them.
        self.wait_for_encoder();
    }

    fn flush_all(&mut self) {
        for (p, part) in self.open.seal_all() {
            let epoch = part.epoch;
            if let Err(error) = self.publish(p, part) {
                self.fail("cannot build a Parquet batch", error, Some(epoch));
            }
        }
        self.driver.flush();
        self.wait_for_encoder();
        self.report_encoder_failure();
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
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
