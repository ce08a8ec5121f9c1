//! A room's recovery buffer: its latest records, in offset order, and the
//! offset from which the buffer is complete (`covered_from`): every record
//! of the room at or after that offset is in the buffer.

use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;

/// How many recent records are checked for a repeated `message_id`.
const DEDUP_WINDOW: usize = 64;

/// One buffered record, already encoded as a `message` frame.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Offset in the room's partition.
    pub offset: i64,
    /// Encoded frame.
    pub frame: Utf8Bytes,
    /// Only moderators and admins may receive it.
    pub moderators_only: bool,
    /// `sent_at` of the record (ms).
    pub sent_at: i64,
    /// Hash of `message_id`, to drop producer duplicates.
    pub id_hash: u64,
}

/// What [`RoomRing::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// A new record: deliver it.
    New,
    /// Offset already seen (a replayed partition): skip.
    OldOffset,
    /// Same `message_id` as a recent record: skip.
    DuplicateId,
}

/// Recent records of one room.
#[derive(Debug)]
pub struct RoomRing {
    entries: VecDeque<Entry>,
    covered_from: i64,
    last_offset: i64,
    bytes: usize,
}

impl RoomRing {
    /// An empty buffer complete from `covered_from` on.
    pub fn new(covered_from: i64) -> Self {
        RoomRing {
            entries: VecDeque::new(),
            covered_from,
            last_offset: covered_from - 1,
            bytes: 0,
        }
    }

    /// Appends a record unless it is a replay or a duplicate.
    pub fn push(&mut self, entry: Entry) -> Pushed {
        if entry.offset <= self.last_offset {
            return Pushed::OldOffset;
        }
        self.last_offset = entry.offset;
        if self
            .entries
            .iter()
            .rev()
            .take(DEDUP_WINDOW)
            .any(|e| e.id_hash == entry.id_hash)
        {
            return Pushed::DuplicateId;
        }
        self.bytes += entry.frame.len();
        self.entries.push_back(entry);
        Pushed::New
    }

    /// Drops the oldest record; the buffer is then complete only after it.
    pub fn pop_oldest(&mut self) -> Option<Entry> {
        let entry = self.entries.pop_front()?;
        self.bytes -= entry.frame.len();
        self.covered_from = entry.offset + 1;
        Some(entry)
    }

    /// Removes the record whose `message_id` hashes to `id_hash` (a
    /// deletion); the buffer stays complete (the record is gone for good).
    pub fn remove(&mut self, id_hash: u64) -> Option<Entry> {
        let index = self.entries.iter().rposition(|e| e.id_hash == id_hash)?;
        let entry = self.entries.remove(index)?;
        self.bytes -= entry.frame.len();
        Some(entry)
    }

    /// Offset of the oldest record held.
    pub fn oldest_offset(&self) -> Option<i64> {
        self.entries.front().map(|e| e.offset)
    }

    /// Every record of the room at or after this offset is held.
    pub fn covered_from(&self) -> i64 {
        self.covered_from
    }

    /// Raises the coverage start (records before it can no longer be vouched for).
    pub fn raise_coverage(&mut self, from: i64) {
        if from > self.covered_from {
            while self.entries.front().is_some_and(|e| e.offset < from) {
                self.pop_oldest();
            }
            self.covered_from = from;
            self.last_offset = self.last_offset.max(from - 1);
        }
    }

    /// Highest offset seen.
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of encoded frames held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The records after `offset`, if the buffer is complete from there.
    pub fn after(&self, offset: i64) -> Option<impl Iterator<Item = &Entry>> {
        if offset + 1 < self.covered_from {
            return None;
        }
        Some(self.entries.iter().filter(move |e| e.offset > offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(offset: i64, id: u64) -> Entry {
        Entry {
            offset,
            frame: Utf8Bytes::from(format!("f{offset}")),
            moderators_only: false,
            sent_at: 0,
            id_hash: id,
        }
    }

    #[test]
    fn replays_and_duplicate_ids_are_skipped() {
        let mut ring = RoomRing::new(10);
        assert_eq!(ring.push(entry(12, 1)), Pushed::New);
        assert_eq!(ring.push(entry(12, 2)), Pushed::OldOffset);
        assert_eq!(ring.push(entry(11, 3)), Pushed::OldOffset);
        assert_eq!(ring.push(entry(15, 1)), Pushed::DuplicateId);
        assert_eq!(ring.push(entry(16, 4)), Pushed::New);
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn coverage_moves_past_what_was_dropped() {
        let mut ring = RoomRing::new(0);
        for o in [3, 5, 9] {
            ring.push(entry(o, o as u64));
        }
        assert_eq!(
            ring.after(2)
                .expect("covered")
                .map(|e| e.offset)
                .collect::<Vec<_>>(),
            [3, 5, 9]
        );
        ring.pop_oldest();
        assert_eq!(ring.covered_from(), 4);
        assert!(ring.after(2).is_none(), "offset 3 is gone");
        assert_eq!(
            ring.after(3)
                .expect("covered")
                .map(|e| e.offset)
                .collect::<Vec<_>>(),
            [5, 9]
        );
        assert_eq!(ring.after(9).expect("covered").count(), 0);
        ring.raise_coverage(9);
        assert_eq!(ring.oldest_offset(), Some(9));
    }

    proptest! {
        /// Whatever is dropped, `after(o)` is either refused or returns
        /// exactly the pushed records above `o` that are still held, in order.
        #[test]
        fn after_is_exact_or_refused(
            gaps in proptest::collection::vec(1i64..5, 1..80),
            drops in 0usize..80,
            probe in 0usize..80,
        ) {
            let mut ring = RoomRing::new(0);
            let mut offsets = Vec::new();
            let mut o = 0;
            for (i, g) in gaps.iter().enumerate() {
                o += g;
                ring.push(entry(o, i as u64 + 1000));
                offsets.push(o);
            }
            for _ in 0..drops.min(offsets.len()) {
                ring.pop_oldest();
            }
            let since = offsets.get(probe % offsets.len()).copied().unwrap_or(0) - 1;
            let found: Option<Vec<i64>> = ring.after(since).map(|f| f.map(|e| e.offset).collect());
            match found {
                Some(found) => {
                    let want: Vec<i64> = offsets.iter().copied().filter(|&x| x > since).collect();
                    prop_assert_eq!(found, want);
                }
                None => prop_assert!(since + 1 < ring.covered_from()),
            }
        }
    }
}
