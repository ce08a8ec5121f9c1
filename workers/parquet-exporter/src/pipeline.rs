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
use parley_shared::runtime::{Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::GameMessage;
use parquet::file::properties::WriterProperties;

use crate::encoder::Encoder;
use crate::layout::hour_of;
use crate::output::Output;
use crate::part_file::{OpenPart, PartError};

/// One consumer's Parquet pipeline: rows gathered here, encoded and
/// published by its [`Encoder`] thread.
pub struct ParquetPipeline {
    output: Output,
    limits: BatchLimits,
    encoder: Result<Encoder, String>,
    open: HashMap<i32, OpenPart>,
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
        let encoder = Encoder::start(output.clone(), properties, context)
            .map_err(|e| format!("cannot start the encoder thread: {e}"));
        ParquetPipeline {
            output,
            limits,
            encoder,
            open: HashMap::new(),
            ingested_at: now_ms(),
        }
    }

    /// Hands the open part of `partition` to the encoder to finish,
    /// publish and ack.
    fn close(&mut self, partition: i32) -> Result<(), PartError> {
        let (Some(mut part), Ok(encoder)) = (self.open.remove(&partition), &self.encoder) else {
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
        let part = self.open.entry(partition).or_insert_with(|| {
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
}

impl Pipeline for ParquetPipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        if self.failure().is_some() {
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
            tracing::error!(%error, "cannot build a Parquet batch");
            self.encoder = Err(error.to_string());
            return Err(record);
        }
        let full = self
            .open
            .get(&partition)
            .is_some_and(|p| self.limits.reached(p.rows(), p.bytes()));
        if full {
            if let Err(error) = self.close(partition) {
                self.encoder = Err(error.to_string());
            }
        }
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        self.ingested_at = now_ms();
        let due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, p)| self.limits.expired(p.opened_at, now))
            .map(|(&partition, _)| partition)
            .collect();
        for partition in due {
            if let Err(error) = self.close(partition) {
                self.encoder = Err(error.to_string());
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
                tracing::error!(%error, "cannot list the parts already written");
                self.encoder = Err(error.to_string());
                Vec::new()
            }
        }
    }

    fn revoked(&mut self, partitions: &[i32]) {
        for p in partitions {
            if self.open.remove(p).is_some() {
                if let Ok(encoder) = &self.encoder {
                    encoder.abandon(*p);
                }
            }
        }
        // Parts of these partitions already sealing are published before
        // the partitions move: the next owner resumes after them.
        self.wait_for_encoder();
    }

    fn flush_all(&mut self) {
        let partitions: Vec<i32> = self.open.keys().copied().collect();
        for p in partitions {
            if let Err(error) = self.close(p) {
                self.encoder = Err(error.to_string());
            }
        }
        self.wait_for_encoder();
    }

    fn failure(&self) -> Option<String> {
        match &self.encoder {
            Ok(encoder) => encoder.failure(),
            Err(reason) => Some(reason.clone()),
        }
    }
}
