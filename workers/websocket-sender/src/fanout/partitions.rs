//! What the instance knows per partition of `game-messages`: where its live
//! read started, how far it got, and up to where buffered rooms were
//! forgotten. Together they say from which offset a room's buffer is
//! complete, even for a room the instance has not seen yet.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::Partitioner;

/// Unknown offset.
pub const UNKNOWN: i64 = -1;

/// One partition's live-read state.
#[derive(Debug)]
pub struct PartitionState {
    start: AtomicI64,
    processed_through: AtomicI64,
    forgotten_through: AtomicI64,
}

impl PartitionState {
    fn new() -> Self {
        PartitionState {
            start: AtomicI64::new(UNKNOWN),
            processed_through: AtomicI64::new(UNKNOWN),
            forgotten_through: AtomicI64::new(UNKNOWN),
        }
    }

    /// First offset of the live read, once known.
    pub fn start(&self) -> Option<i64> {
        Some(self.start.load(Ordering::Acquire)).filter(|&s| s >= 0)
    }

    /// Sets the start of the live read if none is known yet.
    pub fn start_at(&self, offset: i64) {
        let _ = self.start.compare_exchange(
            UNKNOWN,
            offset.max(0),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Last offset handed to the rooms (`start - 1` before the first).
    pub fn processed_through(&self) -> i64 {
        let processed = self.processed_through.load(Ordering::Acquire);
        match self.start() {
            Some(start) => processed.max(start - 1),
            None => processed,
        }
    }

    /// Records that `offset` was handed to the rooms.
    pub fn processed(&self, offset: i64) {
        self.processed_through.fetch_max(offset, Ordering::AcqRel);
    }

    /// Records that buffered records up to `offset` were dropped with their
    /// room.
    pub fn forgot_through(&self, offset: i64) {
        self.forgotten_through.fetch_max(offset, Ordering::AcqRel);
    }

    /// From which offset a room not in memory is known to have no record
    /// missed: after the live start and after anything forgotten.
    pub fn coverage_base(&self) -> Option<i64> {
        let start = self.start()?;
        Some(start.max(self.forgotten_through.load(Ordering::Acquire) + 1))
    }
}

/// Every partition's state, and how producers map a room to a partition.
#[derive(Debug)]
pub struct PartitionTable {
    states: RwLock<Vec<Arc<PartitionState>>>,
    count: usize,
    partitioner: Partitioner,
}

impl PartitionTable {
    /// A table for a topic of `count` partitions.
    pub fn new(count: usize, partitioner: Partitioner) -> Self {
        PartitionTable {
            states: RwLock::new(
                (0..count)
                    .map(|_| Arc::new(PartitionState::new()))
                    .collect(),
            ),
            count: count.max(1),
            partitioner,
        }
    }

    /// The state of `partition` (grown on demand if the topic grew).
    pub fn get(&self, partition: i32) -> Arc<PartitionState> {
        let index = partition.max(0) as usize;
        if let Some(state) = self.states.read().get(index) {
            return Arc::clone(state);
        }
        let mut states = self.states.write();
        while states.len() <= index {
            states.push(Arc::new(PartitionState::new()));
        }
        Arc::clone(&states[index])
    }

    /// The partition a producer puts `room` in.
    pub fn partition_of(&self, room: &str) -> i32 {
        let n = self.count as u32;
        let p = match self.partitioner {
            Partitioner::Consistent => crc32fast::hash(room.as_bytes()) % n,
            Partitioner::Murmur2 => (murmur2(room.as_bytes()) & 0x7fff_ffff) % n,
        };
        p as i32
    }
}

/// Kafka's Java client murmur2 (seed 0x9747b28c), as its default partitioner uses.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Vectors from Kafka's UtilsTest.
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
        assert_eq!(
            murmur2(b"a-little-bit-longer-string") as i32,
            -1_486_304_829
        );
        assert_eq!(murmur2(b"abc") as i32, 479_470_107);
    }

    #[test]
    fn coverage_starts_at_the_live_start_and_after_forgotten_records() {
        let table = PartitionTable::new(2, Partitioner::Consistent);
        let p = table.get(1);
        assert_eq!(p.coverage_base(), None, "not started");
        p.start_at(100);
        p.start_at(50);
        assert_eq!(p.coverage_base(), Some(100));
        assert_eq!(p.processed_through(), 99);
        p.processed(120);
        p.forgot_through(110);
        assert_eq!(p.coverage_base(), Some(111));
        assert_eq!(p.processed_through(), 120);
        assert_eq!(table.get(5).start(), None, "grows on demand");
    }

    #[test]
    fn rooms_map_to_partitions_like_librdkafka() {
        let table = PartitionTable::new(12, Partitioner::Consistent);
        // librdkafka consistent_random: CRC32(key) % partitions.
        assert_eq!(
            table.partition_of("room-1"),
            (crc32fast::hash(b"room-1") % 12) as i32
        );
        assert!((0..12).contains(&table.partition_of("другая комната")));
    }
}
