//! One batcher for every batching worker: limits on rows, bytes and age,
//! the age timer starting at the first item.

use std::time::{Duration, Instant};

/// When a batch must be flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Flush at this many items.
    pub max_rows: usize,
    /// Flush at this many bytes (the item that crosses it is included).
    pub max_bytes: usize,
    /// Flush this long after the first item arrived.
    pub max_age: Duration,
}

impl BatchLimits {
    /// True when `rows` or `bytes` reached its limit.
    pub fn reached(&self, rows: usize, bytes: usize) -> bool {
        rows >= self.max_rows || bytes >= self.max_bytes
    }

    /// True when something opened at `opened_at` is older than the age limit.
    pub fn expired(&self, opened_at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(opened_at) >= self.max_age
    }
}

/// A growing batch of items with their byte sizes.
#[derive(Debug)]
pub struct Batch<T> {
    items: Vec<T>,
    bytes: usize,
    opened_at: Option<Instant>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            items: Vec::new(),
            bytes: 0,
            opened_at: None,
        }
    }
}

impl<T> Batch<T> {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an item of `bytes` bytes; the first item starts the age timer.
    pub fn push(&mut self, item: T, bytes: usize, now: Instant) {
        if self.items.is_empty() {
            self.opened_at = Some(now);
        }
        self.items.push(item);
        self.bytes += bytes;
    }

    /// True when the row or byte limit is reached.
    pub fn is_full(&self, limits: &BatchLimits) -> bool {
        limits.reached(self.items.len(), self.bytes)
    }

    /// True when non-empty and older than the age limit.
    pub fn is_due(&self, limits: &BatchLimits, now: Instant) -> bool {
        self.opened_at.is_some_and(|t| limits.expired(t, now))
    }

    /// Items in the batch.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The items of the batch (in arrival order).
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// When the first item arrived.
    pub fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// Empties the batch, returning its items in arrival order.
    pub fn take(&mut self) -> Vec<T> {
        self.bytes = 0;
        self.opened_at = None;
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(rows: usize, bytes: usize) -> BatchLimits {
        BatchLimits {
            max_rows: rows,
            max_bytes: bytes,
            max_age: Duration::from_millis(100),
        }
    }

    #[test]
    fn age_counts_from_the_first_item() {
        let start = Instant::now();
        let l = limits(10, 1000);
        let mut batch = Batch::new();
        assert!(
            !batch.is_due(&l, start + Duration::from_secs(9)),
            "empty is never due"
        );
        batch.push(1, 1, start);
        batch.push(2, 1, start + Duration::from_millis(90));
        assert!(!batch.is_due(&l, start + Duration::from_millis(99)));
        assert!(batch.is_due(&l, start + Duration::from_millis(100)));
        assert_eq!(batch.take(), vec![1, 2]);
        assert!(!batch.is_due(&l, start + Duration::from_secs(9)));
    }

    proptest! {
        /// Flushing whenever full keeps every item, in order, and no batch
        /// passes the row limit or the byte limit by more than its last item.
        #[test]
        fn flush_when_full_keeps_limits_and_items(
            sizes in prop::collection::vec(1usize..500, 0..500),
            max_rows in 1usize..50,
            max_bytes in 1usize..2000,
        ) {
            let l = limits(max_rows, max_bytes);
            let now = Instant::now();
            let mut batch = Batch::new();
            let mut flushed: Vec<Vec<(usize, usize)>> = Vec::new();
            for (i, &size) in sizes.iter().enumerate() {
                batch.push((i, size), size, now);
                if batch.is_full(&l) {
                    flushed.push(batch.take());
                }
            }
            if !batch.is_empty() {
                flushed.push(batch.take());
            }
            let all: Vec<usize> = flushed.iter().flatten().map(|&(i, _)| i).collect();
            prop_assert_eq!(all, (0..sizes.len()).collect::<Vec<_>>());
            for b in &flushed {
                prop_assert!(b.len() <= max_rows);
                let bytes: usize = b.iter().map(|&(_, s)| s).sum();
                let last = b.last().map_or(0, |&(_, s)| s);
                prop_assert!(bytes - last < max_bytes);
            }
        }
    }
}
