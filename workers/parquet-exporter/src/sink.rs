//! The exporter as a sink of the shared sink driver: a batch is one closed
//! part, handed to the encoder thread when it closes (so a partition's
//! parts are published in offset order); its write is the encoder's verdict
//! on it: finished, fsynced and renamed into place (or uploaded), or not.
//!
//! A failed part cannot be written again: its temp file is gone, and
//! keeping its rows to encode again would hold up to `--file-bytes` of
//! Arrow columns per partition. So the sink is a [`Recovery::Rewind`] one:
//! the runtime drops every unpublished part, the driver probes the output
//! ([`Output::probe`] and a listing) with backoff, and once it works the
//! records are read again from Kafka, after the files, as on assign.

use std::ops::Range;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use parley_shared::runtime::sink_driver::{RecordRef, Sink, SinkBatch, SinkError};
use parley_shared::runtime::Recovery;
use tokio::sync::oneshot;

use crate::encoder::SINK;
use crate::output::Output;
use crate::part_file::PartRecords;

/// What the encoder says of a part: published, or why not.
pub type Published = Result<(), String>;

/// A closed part as the sink driver sees it: its records, and the
/// encoder's verdict to come.
pub struct PartBatch {
    records: PartRecords,
    verdict: Mutex<Option<oneshot::Receiver<Published>>>,
}

impl PartBatch {
    /// The part of `records`, whose publication the encoder reports on
    /// `verdict`.
    pub fn new(records: PartRecords, verdict: oneshot::Receiver<Published>) -> Self {
        PartBatch {
            records,
            verdict: Mutex::new(Some(verdict)),
        }
    }
}

impl SinkBatch for PartBatch {
    fn len(&self) -> usize {
        self.records.offsets.len()
    }

    fn bytes(&self) -> usize {
        self.records.encoded.load(Ordering::Relaxed)
    }

    fn record(&self, index: usize) -> RecordRef {
        RecordRef {
            partition: self.records.partition,
            epoch: self.records.epoch,
            offset: self.records.offsets[index],
            sent_at: self.records.sent_at[index],
        }
    }

    /// A part holds one partition: all its records go, or none. (Its file
    /// is the encoder's: published before the partition moves.)
    fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        if !partitions.contains(&self.records.partition) {
            return 0;
        }
        let n = self.records.offsets.len();
        self.records.offsets.clear();
        self.records.sent_at.clear();
        n
    }
}

/// The output, as the sink driver writes to it.
pub struct ParquetSink {
    output: Output,
    consumer: usize,
}

impl ParquetSink {
    /// The sink of consumer `consumer` publishing to `output`.
    pub fn new(output: Output, consumer: usize) -> Self {
        ParquetSink { output, consumer }
    }

    fn reason(&self, what: impl std::fmt::Display) -> String {
        format!("output {}: {what}", self.output.name())
    }
}

impl Sink for ParquetSink {
    type Batch = PartBatch;

    fn label(&self) -> &'static str {
        SINK
    }

    fn verb(&self) -> &'static str {
        "publish"
    }

    fn recovery(&self) -> Recovery {
        Recovery::Rewind
    }

    async fn write(&self, part: &PartBatch, _rows: Range<usize>) -> Result<(), SinkError> {
        let verdict = part.verdict.lock().take();
        let Some(verdict) = verdict else {
            return Err(SinkError::Retryable(self.reason("a part is written once")));
        };
        match verdict.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(SinkError::Retryable(reason)),
            Err(_) => Err(SinkError::Retryable(
                self.reason("the encoder thread stopped"),
            )),
        }
    }

    /// A 1 MiB file written, fsynced and deleted in the temp folder, then
    /// the published parts listed (for S3, the bucket).
    async fn probe(&self) -> Result<(), SinkError> {
        let (output, consumer) = (self.output.clone(), self.consumer);
        let checked = tokio::task::spawn_blocking(move || {
            output.probe(consumer).map_err(|e| e.to_string())?;
            output
                .scan()
                .map(|_| ())
                .map_err(|e| format!("cannot list the parts already written: {e}"))
        })
        .await
        .unwrap_or_else(|e| Err(format!("probe task: {e}")));
        checked.map_err(|what| SinkError::Retryable(self.reason(what)))
    }
}
