//! parquet-exporter's flags: the shared consumer flags plus output and rotation.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use parley_shared::batcher::BatchLimits;
use parley_shared::runtime::{ActionsArgs, ConsumerArgs, ConsumerSettings, WorkerIdentity};

use crate::output::OutputTarget;
use crate::part_file::PartSettings;

/// Worker name and default group.
pub const WORKER: &str = "parquet-exporter";
/// Default metrics address (docs/contracts.md).
pub const METRICS_ADDR: &str = "127.0.0.1:9105";

/// Writes `game-messages` and `moderation-actions` as hourly,
/// Hive-partitioned Parquet files.
#[derive(Debug, Clone, Parser)]
#[command(name = "parquet-exporter", version, about)]
pub struct ExporterConfig {
    /// Kafka consumer flags.
    #[command(flatten)]
    pub consumer: ConsumerArgs,

    /// The moderation actions group's flags (`--actions-topic`,
    /// `--actions-group`; default group `parquet-exporter.actions`).
    #[command(flatten)]
    pub actions: ActionsArgs,

    /// Output root, a local path or `s3://bucket/prefix`; files go under
    /// `<out>/game-messages/dt=…/hour=…/` and
    /// `<out>/moderation-actions/dt=…/hour=…/`. S3 is configured by the standard
    /// `AWS_*` variables (`AWS_ENDPOINT` for S3-compatible servers).
    #[arg(long, env = "PARLEY_EXPORT_OUT", default_value = "parley-export")]
    pub out: String,

    /// Local folder for parts being written when `--out` is S3.
    #[arg(long, env = "PARLEY_EXPORT_SPOOL")]
    pub spool_dir: Option<PathBuf>,

    /// Close a file at this many rows.
    #[arg(long, env = "PARLEY_FILE_ROWS", default_value_t = 1_000_000)]
    pub file_rows: usize,

    /// Close a file at about this many bytes.
    #[arg(long, env = "PARLEY_FILE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub file_bytes: usize,

    /// Close a file this long after its first row, so an idle topic still
    /// publishes its last hour.
    #[arg(long, env = "PARLEY_FILE_AGE", value_parser = humantime::parse_duration, default_value = "5m")]
    pub file_age: Duration,

    /// Rows per row group.
    #[arg(long, env = "PARLEY_ROW_GROUP_ROWS", default_value_t = 262_144)]
    pub row_group_rows: usize,

    /// zstd compression level (1–22).
    #[arg(long, env = "PARLEY_ZSTD_LEVEL", default_value_t = 1)]
    pub zstd_level: i32,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    /// Consumer settings (messages).
    pub consumer: ConsumerSettings,
    /// Consumer of the actions topic (own group, one consumer).
    pub actions: ConsumerSettings,
    /// Output.
    pub out: OutputTarget,
    /// Local temp folder for S3 output.
    pub spool: PathBuf,
    /// Rotation: a part closes at this many rows or bytes, or this long
    /// after its first row (the shared batcher's limits).
    pub limits: BatchLimits,
    /// Writer settings.
    pub part: PartSettings,
}

impl ExporterConfig {
    /// Validates everything.
    pub fn settings(&self) -> Result<ExporterSettings, String> {
        let identity = WorkerIdentity::shared_group(WORKER, METRICS_ADDR)?;
        let consumer = self.consumer.settings(&identity).map_err(|e| e.0)?;
        let actions = self.actions.settings(&consumer).map_err(|e| e.0)?;
        let out = OutputTarget::parse(&self.out)?;
        if self.file_rows == 0 || self.file_bytes == 0 || self.file_age.is_zero() {
            return Err("--file-rows, --file-bytes and --file-age must be above 0".into());
        }
        if self.row_group_rows == 0 {
            return Err("--row-group-rows must be above 0".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(format!(
                "--zstd-level must be 1–22, got {}",
                self.zstd_level
            ));
        }
        Ok(ExporterSettings {
            out,
            spool: self.spool_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("parley-export-spool-{}", consumer.group))
            }),
            limits: BatchLimits {
                max_rows: self.file_rows,
                max_bytes: self.file_bytes,
                max_age: self.file_age,
            },
            part: PartSettings {
                row_group_rows: self.row_group_rows,
                zstd_level: self.zstd_level,
            },
            consumer,
            actions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        let s = ExporterConfig::try_parse_from(["x"])
            .expect("parse")
            .settings()
            .expect("valid");
        assert_eq!(s.consumer.group, "parquet-exporter");
        assert_eq!(s.consumer.metrics_addr.port(), 9105);
        assert_eq!(s.actions.topic, "moderation-actions");
        assert_eq!(s.actions.group, "parquet-exporter.actions");
        assert_eq!(s.actions.concurrency.get(), 1);
        for bad in [
            &["x", "--file-rows", "0"][..],
            &["x", "--zstd-level", "30"],
            &["x", "--out", "gs://bucket/prefix"],
            &["x", "--file-age", "0s"],
            &["x", "--actions-topic", "game-messages"],
            &["x", "--actions-group", "parquet-exporter"],
        ] {
            let c = ExporterConfig::try_parse_from(bad).expect("parse");
            assert!(c.settings().is_err(), "{bad:?}");
        }
    }
}
