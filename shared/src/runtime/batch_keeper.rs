//! The open batches of one consumer, one per key (a partition, a partition
//! and hour, or one key for all): open on the first row, seal by rows,
//! bytes or age ([`BatchLimits`]), seal everything at shutdown, and drop
//! the rows of revoked partitions.
//!
//! What a batch holds is the worker's own [`Accumulator`] (encoded rows for
//! db-writer, an open Parquet part for the exporter); the keeper only
//! decides when it is sealed and hands it back.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use crate::batcher::{Batch, BatchLimits};

/// The payload of one open batch, as the keeper sees it.
pub trait Accumulator {
    /// Rows in the batch.
    fn rows(&self) -> usize;
    /// Bytes in the batch, as the byte limit counts them.
    fn bytes(&self) -> usize;
    /// When the first row arrived (`None` while empty).
    fn opened_at(&self) -> Option<Instant>;
    /// Drops the rows of `partitions`; returns how many were dropped.
    fn drop_partitions(&mut self, partitions: &[i32]) -> usize;
}

impl<T: PartitionOf> Accumulator for Batch<T> {
    fn rows(&self) -> usize {
        self.len()
    }

    fn bytes(&self) -> usize {
        Batch::bytes(self)
    }

    fn opened_at(&self) -> Option<Instant> {
        Batch::opened_at(self)
    }

    fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        let opened_at = Batch::opened_at(self);
        let items = self.take();
        let before = items.len();
        let now = opened_at.unwrap_or_else(Instant::now);
        let mut kept = 0;
        for item in items {
            if !partitions.contains(&item.partition()) {
                let bytes = item.bytes();
                self.push(item, bytes, now);
                kept += 1;
            }
        }
        before - kept
    }
}

/// An item that knows its partition and size (for [`Batch`] accumulators).
pub trait PartitionOf {
    /// Kafka partition of the item.
    fn partition(&self) -> i32;
    /// Bytes of the item.
    fn bytes(&self) -> usize;
}

/// What a revoke took away.
#[derive(Debug)]
pub struct Revoked<K, A> {
    /// Rows dropped over every batch.
    pub rows: usize,
    /// Batches left empty, removed from the keeper (the worker may have
    /// resources to release for them).
    pub emptied: Vec<(K, A)>,
}

/// One consumer's open batches, by key.
#[derive(Debug)]
pub struct BatchKeeper<K, A> {
    limits: BatchLimits,
    open: HashMap<K, A>,
}

impl<K: Hash + Eq + Copy, A: Accumulator> BatchKeeper<K, A> {
    /// No open batch yet.
    pub fn new(limits: BatchLimits) -> Self {
        BatchKeeper {
            limits,
            open: HashMap::new(),
        }
    }

    /// The limits batches are sealed by.
    pub fn limits(&self) -> &BatchLimits {
        &self.limits
    }

    /// The open batch of `key`, if any.
    pub fn get(&self, key: &K) -> Option<&A> {
        self.open.get(key)
    }

    /// The open batch of `key`, opened with `open` if there is none.
    pub fn open_or(&mut self, key: K, open: impl FnOnce() -> A) -> &mut A {
        self.open.entry(key).or_insert_with(open)
    }

    /// Whether the batch of `key` reached the row or byte limit.
    pub fn is_full(&self, key: &K) -> bool {
        self.open
            .get(key)
            .is_some_and(|a| self.limits.reached(a.rows(), a.bytes()))
    }

    /// Seals the batch of `key`: removes and returns it.
    pub fn seal(&mut self, key: &K) -> Option<A> {
        self.open.remove(key)
    }

    /// Seals every batch older than the age limit, oldest first.
    pub fn seal_due(&mut self, now: Instant) -> Vec<(K, A)> {
        let mut due: Vec<(K, Instant)> = self
            .open
            .iter()
            .filter_map(|(&k, a)| a.opened_at().map(|t| (k, t)))
            .filter(|&(_, t)| self.limits.expired(t, now))
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        due.sort_by_key(|&(_, t)| t);
        due.into_iter()
            .filter_map(|(k, _)| self.open.remove(&k).map(|a| (k, a)))
            .collect()
    }

    /// Seals every batch (shutdown), oldest first.
    pub fn seal_all(&mut self) -> Vec<(K, A)> {
        let mut all: Vec<(K, A)> = self.open.drain().collect();
        all.sort_by_key(|(_, a)| a.opened_at());
        all
    }

    /// Seals the batch with the most rows (to make room when full).
    pub fn seal_largest(&mut self) -> Option<(K, A)> {
        let key = self
            .open
            .iter()
            .filter(|(_, a)| a.rows() > 0)
            .max_by_key(|(_, a)| a.rows())
            .map(|(&k, _)| k)?;
        self.open.remove(&key).map(|a| (key, a))
    }

    /// Drops the rows of revoked `partitions` from every open batch.
    pub fn revoke(&mut self, partitions: &[i32]) -> Revoked<K, A> {
        let mut rows = 0;
        let mut empty = Vec::new();
        for (&k, a) in &mut self.open {
            let had = a.rows();
            let dropped = a.drop_partitions(partitions);
            rows += dropped;
            if dropped > 0 && dropped == had {
                empty.push(k);
            }
        }
        let emptied = empty
            .into_iter()
            .filter_map(|k| self.open.remove(&k).map(|a| (k, a)))
            .collect();
        Revoked { rows, emptied }
    }

    /// Drops every open batch, returning them (a sink reset).
    pub fn clear(&mut self) -> Vec<(K, A)> {
        self.open.drain().collect()
    }

    /// Open batches.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no batch is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Row(i32, usize);

    impl PartitionOf for Row {
        fn partition(&self) -> i32 {
            self.0
        }
        fn bytes(&self) -> usize {
            self.1
        }
    }

    fn keeper(rows: usize, bytes: usize) -> BatchKeeper<i32, Batch<Row>> {
        BatchKeeper::new(BatchLimits {
            max_rows: rows,
            max_bytes: bytes,
            max_age: Duration::from_millis(100),
        })
    }

    fn push(k: &mut BatchKeeper<i32, Batch<Row>>, key: i32, row: Row, now: Instant) {
        k.open_or(key, Batch::new).push(row, row.1, now);
    }

    #[test]
    fn seals_by_rows_and_by_bytes() {
        let now = Instant::now();
        let mut k = keeper(3, 100);
        for _ in 0..2 {
            push(&mut k, 0, Row(0, 1), now);
        }
        assert!(!k.is_full(&0));
        push(&mut k, 0, Row(0, 1), now);
        assert!(k.is_full(&0), "third row reaches the row limit");
        assert_eq!(k.seal(&0).map(|b| b.len()), Some(3));
        push(&mut k, 1, Row(1, 120), now);
        assert!(k.is_full(&1), "one large row reaches the byte limit");
        assert!(k.seal(&7).is_none());
    }

    #[test]
    fn seals_by_age_oldest_first_and_all_at_shutdown() {
        let start = Instant::now();
        let mut k = keeper(100, 1000);
        push(&mut k, 2, Row(2, 1), start + Duration::from_millis(10));
        push(&mut k, 1, Row(1, 1), start);
        push(&mut k, 3, Row(3, 1), start + Duration::from_millis(90));
        let due: Vec<i32> = k
            .seal_due(start + Duration::from_millis(115))
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        assert_eq!(due, vec![1, 2]);
        assert!(k.seal_due(start + Duration::from_millis(150)).is_empty());
        assert_eq!(k.seal_due(start + Duration::from_millis(190)).len(), 1);
        push(&mut k, 4, Row(4, 1), start);
        assert_eq!(k.seal_all().len(), 1);
        assert!(k.is_empty());
    }

    #[test]
    fn revoke_mid_batch_keeps_the_other_partitions() {
        let now = Instant::now();
        let mut k = keeper(100, 1000);
        // One shared batch (key -1) across partitions, and one of its own.
        for (p, bytes) in [(0, 2), (1, 3), (0, 1), (2, 2)] {
            push(&mut k, -1, Row(p, bytes), now);
        }
        push(&mut k, 1, Row(1, 5), now);
        let revoked = k.revoke(&[1]);
        assert_eq!(revoked.rows, 2);
        assert_eq!(
            revoked
                .emptied
                .iter()
                .map(|(key, _)| *key)
                .collect::<Vec<_>>(),
            vec![1]
        );
        let shared = k.get(&-1).map(|b| (b.items().to_vec(), Batch::bytes(b)));
        assert_eq!(
            shared,
            Some((vec![Row(0, 2), Row(0, 1), Row(2, 2)], 5)),
            "order and byte count of the rest kept"
        );
        assert_eq!(k.get(&-1).and_then(Accumulator::opened_at), Some(now));
    }

    #[test]
    fn the_largest_batch_is_sealed_first_when_full() {
        let now = Instant::now();
        let mut k = keeper(100, 1000);
        push(&mut k, 0, Row(0, 1), now);
        for _ in 0..3 {
            push(&mut k, 5, Row(5, 1), now);
        }
        assert_eq!(
            k.seal_largest().map(|(key, b)| (key, b.len())),
            Some((5, 3))
        );
        assert_eq!(k.len(), 1);
    }
}
