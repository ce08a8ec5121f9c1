//! db-writer's batches: encoded RowBinary rows with their positions, open
//! (in the shared [`BatchKeeper`](parley_shared::runtime::batch_keeper::BatchKeeper))
//! and sealed (handed to the shared sink driver).

use std::time::Instant;

use bytes::Bytes;
use parley_shared::batcher::Batch;
use parley_shared::runtime::batch_keeper::Accumulator;
use parley_shared::runtime::sink_driver::{RecordRef, SinkBatch};

use crate::row::RowMeta;

/// A batch being filled: row positions and the encoded rows.
#[derive(Debug, Default)]
pub struct OpenBatch {
    /// Where each row sits in `data`, with the row, byte and age counts.
    pub rows: Batch<RowMeta>,
    /// The encoded rows, back to back.
    pub data: Vec<u8>,
}

impl Accumulator for OpenBatch {
    fn rows(&self) -> usize {
        self.rows.len()
    }

    fn bytes(&self) -> usize {
        self.rows.bytes()
    }

    fn opened_at(&self) -> Option<Instant> {
        self.rows.opened_at()
    }

    fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        if !self
            .rows
            .items()
            .iter()
            .any(|r| partitions.contains(&r.partition))
        {
            return 0;
        }
        let opened_at = self.rows.opened_at();
        let rows = self.rows.take();
        let before = rows.len();
        let (kept, data) = keep_rows(&rows, &self.data, partitions);
        self.data = data;
        let now = opened_at.unwrap_or_else(Instant::now);
        for row in &kept {
            self.rows.push(*row, row.end - row.start, now);
        }
        before - kept.len()
    }
}

impl OpenBatch {
    /// Seals the batch; `token` is its dedup token, if it has one.
    pub fn seal(mut self, token: Option<String>) -> SealedBatch {
        SealedBatch {
            rows: self.rows.take(),
            data: Bytes::from(self.data),
            token,
        }
    }
}

/// A batch ready to insert.
#[derive(Debug)]
pub struct SealedBatch {
    /// Where each row sits in `data`.
    pub rows: Vec<RowMeta>,
    /// The encoded rows.
    pub data: Bytes,
    /// `topic:partition:first-last` for a per-partition batch.
    pub token: Option<String>,
}

impl SealedBatch {
    /// The encoded bytes of `rows[range]` (consecutive in `data`).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Bytes {
        match (
            self.rows.get(range.start),
            range.end.checked_sub(1).and_then(|l| self.rows.get(l)),
        ) {
            (Some(first), Some(last)) if !range.is_empty() => {
                self.data.slice(first.start..last.end)
            }
            _ => Bytes::new(),
        }
    }
}

impl SinkBatch for SealedBatch {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn bytes(&self) -> usize {
        self.data.len()
    }

    fn record(&self, index: usize) -> RecordRef {
        let row = &self.rows[index];
        RecordRef {
            partition: row.partition,
            epoch: row.epoch,
            offset: row.offset,
            sent_at: row.sent_at,
        }
    }

    fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        let before = self.rows.len();
        if self.rows.iter().any(|r| partitions.contains(&r.partition)) {
            let (rows, data) = keep_rows(&self.rows, &self.data, partitions);
            self.rows = rows;
            self.data = Bytes::from(data);
            // No longer the offset range the token names.
            self.token = None;
        }
        before - self.rows.len()
    }
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

    fn rows() -> Vec<RowMeta> {
        vec![
            row(0, 10, 0, 2),
            row(1, 20, 2, 5),
            row(0, 11, 5, 6),
            row(2, 7, 6, 8),
        ]
    }

    #[test]
    fn revoked_partitions_leave_the_other_rows_intact() {
        let data = b"aaBBBcdd".to_vec();
        let (kept, bytes) = keep_rows(&rows(), &data, &[1]);
        assert_eq!(bytes, b"aacdd");
        assert_eq!(
            kept,
            vec![row(0, 10, 0, 2), row(0, 11, 2, 3), row(2, 7, 3, 5)]
        );

        let mut open = OpenBatch {
            data,
            ..Default::default()
        };
        for r in rows() {
            open.rows.push(r, r.end - r.start, Instant::now());
        }
        assert_eq!(open.drop_partitions(&[0, 2]), 3);
        assert_eq!(open.data, b"BBB");
        assert_eq!(open.rows.items(), &[row(1, 20, 0, 3)]);
    }

    #[test]
    fn a_sealed_batch_loses_its_token_when_rows_are_dropped() {
        let mut sealed = SealedBatch {
            rows: rows(),
            data: Bytes::from_static(b"aaBBBcdd"),
            token: Some("t:0:10-11".into()),
        };
        assert_eq!(sealed.slice(1..3), Bytes::from_static(b"BBBc"));
        assert_eq!(sealed.slice(2..2), Bytes::new());
        assert_eq!(sealed.drop_partitions(&[5]), 0);
        assert!(sealed.token.is_some());
        assert_eq!(sealed.drop_partitions(&[1, 2]), 2);
        assert_eq!(sealed.token, None);
        assert_eq!(sealed.data, Bytes::from_static(b"aac"));
        assert_eq!(sealed.record(1).offset, 11);
    }
}
