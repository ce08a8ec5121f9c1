//! One Parquet part being written: aside in `_tmp/`, then finished, fsynced
//! and renamed into its Hive folder in one step.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use parley_shared::runtime::batch_keeper::Accumulator;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::layout::{tmp_name, Layout};
use crate::rows::{ExportRow, RowColumns};

/// Rows gathered before they are encoded into the open row group.
const BATCH_ROWS: usize = 8192;

/// Why a part could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    /// The filesystem refused (full, unwritable, missing).
    #[error("I/O on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Encoding failed.
    #[error("Parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// Building a record batch failed.
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The object store refused or was unreachable.
    #[error("object store: {0}")]
    Remote(String),
    /// A part was closed that has no file (a bug): its rows are not
    /// acknowledged, and are read again.
    #[error("the part of partition {partition} has no file")]
    Missing {
        /// Kafka partition.
        partition: i32,
    },
}

/// Writer settings.
#[derive(Debug, Clone, Copy)]
pub struct PartSettings {
    /// Rows per row group.
    pub row_group_rows: usize,
    /// zstd level.
    pub zstd_level: i32,
}

/// Parquet writer properties for the export of `R`'s dataset.
pub fn writer_properties<R: ExportRow>(
    settings: PartSettings,
) -> Result<WriterProperties, ParquetError> {
    let no_dictionary = R::NO_DICTIONARY;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(settings.zstd_level)?))
        .set_max_row_group_size(settings.row_group_rows)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .set_created_by(format!(
            "parley parquet-exporter {}",
            env!("CARGO_PKG_VERSION")
        ));
    for &column in no_dictionary {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    Ok(builder.build())
}

/// A complete part in its temp file, ready to be published.
#[derive(Debug)]
pub struct SealedPart {
    /// The temp file.
    pub tmp_path: PathBuf,
    /// Hour since the epoch.
    pub hour: i64,
    /// Kafka partition.
    pub partition: i32,
    /// First offset.
    pub first: i64,
    /// Last offset.
    pub last: i64,
}

/// What a part holds, known to the consumer thread when it closes the part.
#[derive(Debug)]
pub struct PartMeta {
    /// Kafka partition.
    pub partition: i32,
    /// Hour since the epoch of every row's event time.
    pub hour: i64,
    /// First offset.
    pub first: i64,
    /// Last offset.
    pub last: i64,
}

/// The records of a closed part, acknowledged once its file is in place
/// (the sink driver's side of it).
#[derive(Debug)]
pub struct PartRecords {
    /// Kafka partition.
    pub partition: i32,
    /// Assignment epoch of the partition.
    pub epoch: u64,
    /// Every offset in the part, ascending.
    pub offsets: Vec<i64>,
    /// Event time of every row (`sent_at`, an action's `created_at`), for
    /// the latency histogram.
    pub sent_at: Vec<i64>,
    /// Encoded bytes, as the encoder last reported them (final once published).
    pub encoded: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The encoding side of one part: its temp file and Parquet writer.
pub struct PartWriter {
    tmp_path: PathBuf,
    writer: ArrowWriter<File>,
}

impl PartWriter {
    /// Creates the temp file for the part of `partition` starting at
    /// `first`, of rows with `schema`.
    pub fn create(
        layout: &Layout,
        schema: arrow_schema::SchemaRef,
        properties: &WriterProperties,
        partition: i32,
        first: i64,
    ) -> Result<Self, PartError> {
        let dir = layout.tmp_dir();
        std::fs::create_dir_all(&dir).map_err(|source| PartError::Io {
            path: dir.clone(),
            source,
        })?;
        let tmp_path = dir.join(tmp_name(partition, first));
        let file = File::create(&tmp_path).map_err(|source| PartError::Io {
            path: tmp_path.clone(),
            source,
        })?;
        let writer =
            ArrowWriter::try_new(file, schema, Some(properties.clone())).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp_path);
            })?;
        Ok(PartWriter { tmp_path, writer })
    }

    /// Encodes one record batch into the open row group.
    pub fn write(&mut self, batch: &arrow_array::RecordBatch) -> Result<(), PartError> {
        self.writer.write(batch)?;
        Ok(())
    }

    /// Bytes written plus bytes buffered in the open row group (an estimate).
    pub fn bytes(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Writes the footer and fsyncs the temp file; the part is then ready
    /// to publish. On failure the temp file is deleted.
    pub fn seal(self, meta: PartMeta) -> Result<SealedPart, PartError> {
        let synced = self
            .writer
            .into_inner()
            .map_err(PartError::from)
            .and_then(|file| {
                file.sync_all().map_err(|source| PartError::Io {
                    path: self.tmp_path.clone(),
                    source,
                })
            });
        if let Err(error) = synced {
            let _ = std::fs::remove_file(&self.tmp_path);
            return Err(error);
        }
        Ok(SealedPart {
            tmp_path: self.tmp_path,
            hour: meta.hour,
            partition: meta.partition,
            first: meta.first,
            last: meta.last,
        })
    }

    /// Gives the part up: its temp file is deleted (best effort).
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp_path);
    }
}

/// Rows of the open part not yet handed to the encoder, and what is known
/// about the part: the consumer thread's side of it.
pub struct OpenPart<R: ExportRow> {
    /// Kafka partition.
    pub partition: i32,
    /// Hour since the epoch of every row's event time.
    pub hour: i64,
    /// First offset in the part.
    pub first: i64,
    /// Last offset in the part.
    pub last: i64,
    /// Offsets written (acknowledged when the file is in place).
    pub offsets: Vec<i64>,
    /// Event time of every row, for the latency histogram.
    pub sent_at: Vec<i64>,
    /// Assignment epoch of the partition.
    pub epoch: u64,
    /// When the first row arrived.
    pub opened_at: Instant,
    /// Encoded bytes, as the encoder last reported them.
    pub encoded: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    buffer: R::Columns,
    buffered_bytes: usize,
}

impl<R: ExportRow> OpenPart<R> {
    /// A part of `partition` for `hour`, starting at `first`.
    pub fn new(partition: i32, hour: i64, first: i64, epoch: u64) -> Self {
        OpenPart {
            partition,
            hour,
            first,
            last: first,
            offsets: Vec::new(),
            sent_at: Vec::new(),
            epoch,
            opened_at: Instant::now(),
            encoded: Default::default(),
            buffer: R::Columns::empty(),
            buffered_bytes: 0,
        }
    }

    /// Appends one row; returns a record batch for the encoder every
    /// [`BATCH_ROWS`] rows.
    pub fn push(
        &mut self,
        row: &R,
        offset: i64,
        ingested_at_ms: i64,
    ) -> Result<Option<arrow_array::RecordBatch>, PartError> {
        self.buffer
            .push(row, self.partition, offset, ingested_at_ms);
        self.buffered_bytes += row.size_hint();
        self.offsets.push(offset);
        self.sent_at.push(row.event_time());
        self.last = offset;
        if self.buffer.len() >= BATCH_ROWS {
            return self.take_batch().map(Some);
        }
        Ok(None)
    }

    /// The rows buffered so far, as a batch (empty when none).
    pub fn take_batch(&mut self) -> Result<arrow_array::RecordBatch, PartError> {
        self.buffered_bytes = 0;
        Ok(self.buffer.finish()?)
    }

    /// True when rows are buffered.
    pub fn has_rows_buffered(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Rows in the part.
    pub fn rows(&self) -> usize {
        self.offsets.len()
    }

    /// Encoded bytes plus an estimate of the buffered rows' bytes.
    pub fn bytes(&self) -> usize {
        self.encoded.load(std::sync::atomic::Ordering::Relaxed) + self.buffered_bytes
    }

    /// What the encoder needs to seal and publish the part, and the records
    /// the sink driver acknowledges once it is.
    pub fn into_parts(self) -> (PartMeta, PartRecords) {
        let meta = PartMeta {
            partition: self.partition,
            hour: self.hour,
            first: self.first,
            last: self.last,
        };
        let records = PartRecords {
            partition: self.partition,
            epoch: self.epoch,
            offsets: self.offsets,
            sent_at: self.sent_at,
            encoded: self.encoded,
        };
        (meta, records)
    }
}

impl<R: ExportRow> Accumulator for OpenPart<R> {
    fn rows(&self) -> usize {
        OpenPart::rows(self)
    }

    fn bytes(&self) -> usize {
        OpenPart::bytes(self)
    }

    fn opened_at(&self) -> Option<Instant> {
        Some(self.opened_at)
    }

    /// A part holds one partition: all its rows go, or none.
    fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        if partitions.contains(&self.partition) {
            OpenPart::rows(self)
        } else {
            0
        }
    }
}
