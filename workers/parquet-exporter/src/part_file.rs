//! One Parquet part being written: aside in `_tmp/`, then finished, fsynced
//! and renamed into its Hive folder in one step.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::columns::{schema, RowBuffer};
use crate::layout::{tmp_name, Layout};

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
}

/// Writer settings.
#[derive(Debug, Clone, Copy)]
pub struct PartSettings {
    /// Rows per row group.
    pub row_group_rows: usize,
    /// zstd level.
    pub zstd_level: i32,
}

/// Parquet writer properties for the export.
pub fn writer_properties(settings: PartSettings) -> Result<WriterProperties, ParquetError> {
    let no_dictionary = ["message_id", "kafka_offset", "sent_at", "ingested_at"];
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(settings.zstd_level)?))
        .set_max_row_group_size(settings.row_group_rows)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .set_created_by(format!(
            "parley parquet-exporter {}",
            env!("CARGO_PKG_VERSION")
        ));
    for column in no_dictionary {
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
    /// Every offset in the part.
    pub offsets: Vec<i64>,
}

/// A part file being written for one partition and one hour.
pub struct PartFile {
    /// Hour since the epoch of every row's `sent_at`.
    pub hour: i64,
    /// First offset in the file.
    pub first: i64,
    /// Last offset in the file.
    pub last: i64,
    /// Offsets written (acknowledged when the file is in place).
    pub offsets: Vec<i64>,
    /// Assignment epoch of the partition.
    pub epoch: u64,
    /// When the first row arrived.
    pub opened_at: Instant,
    partition: i32,
    tmp_path: PathBuf,
    writer: ArrowWriter<File>,
    buffer: RowBuffer,
}

impl PartFile {
    /// Creates the temp file for a part starting at `first`.
    pub fn create(
        layout: &Layout,
        properties: &WriterProperties,
        partition: i32,
        hour: i64,
        first: i64,
        epoch: u64,
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
        let writer = ArrowWriter::try_new(file, schema(), Some(properties.clone()))?;
        Ok(PartFile {
            hour,
            first,
            last: first,
            offsets: Vec::new(),
            epoch,
            opened_at: Instant::now(),
            partition,
            tmp_path,
            writer,
            buffer: RowBuffer::new(),
        })
    }

    /// Appends one message.
    pub fn push(
        &mut self,
        message: &parley_shared::GameMessage,
        offset: i64,
        ingested_at_ms: i64,
    ) -> Result<(), PartError> {
        self.buffer
            .push(message, self.partition, offset, ingested_at_ms);
        self.offsets.push(offset);
        self.last = offset;
        if self.buffer.len() >= BATCH_ROWS {
            let batch = self.buffer.finish()?;
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.offsets.len()
    }

    /// Bytes written plus bytes buffered in the open row group (an estimate).
    pub fn bytes(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Writes the footer and fsyncs the temp file; the part is then ready
    /// to publish.
    pub fn seal(mut self) -> Result<SealedPart, PartError> {
        if !self.buffer.is_empty() {
            let batch = self.buffer.finish()?;
            self.writer.write(&batch)?;
        }
        let file = self.writer.into_inner()?;
        file.sync_all().map_err(|source| PartError::Io {
            path: self.tmp_path.clone(),
            source,
        })?;
        Ok(SealedPart {
            tmp_path: self.tmp_path,
            hour: self.hour,
            partition: self.partition,
            first: self.first,
            last: self.last,
            offsets: self.offsets,
        })
    }

    /// Gives the part up: its temp file is deleted (best effort).
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp_path);
    }
}
