//! Commit policy: a record stays uncommitted while a rule window may still
//! need it, so a crash, a SIGKILL or a partition moving to another instance
//! loses no half-built window: the next owner re-reads the records of the
//! last `span` (the longest window of the enabled rules) and rebuilds the
//! same state, firing the same alerts (same `alert_id`, derived from the
//! incident's key and first evidence) instead of missing an incident that
//! spanned the crash.
//!
//! A record is released (reported durable) once the partition's event time
//! has moved `span` past its `sent_at`, or `span` of wall time has passed
//! since it was read (a quiet partition). Release is in offset order.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parley_shared::runtime::Completion;

use crate::rules::{Kind, RuleSet};

/// The longest window of `rules` (what a restart must re-read to rebuild
/// every window); zero when no rule keeps a window.
pub fn longest_window(rules: &RuleSet) -> Duration {
    let longest = rules
        .rules
        .iter()
        .filter_map(|rule| match rule.kind {
            Kind::Flood { window, .. }
            | Kind::Repetition { window, .. }
            | Kind::CrossRoom { window, .. }
            | Kind::Caps { window, .. }
            | Kind::Links { window, .. }
            | Kind::Raid { window, .. } => Some(window),
            Kind::Content { .. } | Kind::Length { .. } | Kind::RateSpike { .. } => None,
        })
        .max()
        .unwrap_or(0);
    Duration::from_millis(longest.max(0) as u64)
}

#[derive(Debug)]
struct Held {
    offset: i64,
    sent_at: i64,
    read_at: Instant,
}

#[derive(Debug)]
struct PartitionHold {
    epoch: u64,
    /// Latest event time seen (never ahead of the wall clock).
    clock: i64,
    queue: VecDeque<Held>,
}

/// Records held back per partition.
#[derive(Debug)]
pub struct HoldBack {
    span: Duration,
    partitions: HashMap<i32, PartitionHold>,
    held: usize,
}

impl HoldBack {
    /// Holds records for `span` (zero: none are held).
    pub fn new(span: Duration) -> Self {
        HoldBack {
            span,
            partitions: HashMap::new(),
            held: 0,
        }
    }

    /// The span records are held for.
    pub fn span(&self) -> Duration {
        self.span
    }

    /// Changes the span (rules reloaded); takes effect at the next release.
    pub fn set_span(&mut self, span: Duration) {
        self.span = span;
    }

    /// Whether records are held at all (else they are durable at once).
    pub fn enabled(&self) -> bool {
        !self.span.is_zero()
    }

    /// Holds a record read at `read_at`; `now_ms` caps a future `sent_at`.
    pub fn hold(
        &mut self,
        partition: i32,
        epoch: u64,
        offset: i64,
        sent_at: i64,
        now_ms: i64,
        read_at: Instant,
    ) {
        let p = self.partitions.entry(partition).or_insert(PartitionHold {
            epoch,
            clock: i64::MIN,
            queue: VecDeque::new(),
        });
        if p.epoch != epoch {
            // Reassigned: what was held belongs to the old assignment.
            self.held -= p.queue.len();
            p.queue.clear();
            p.epoch = epoch;
            p.clock = i64::MIN;
        }
        p.clock = p.clock.max(sent_at.min(now_ms));
        p.queue.push_back(Held {
            offset,
            sent_at,
            read_at,
        });
        self.held += 1;
    }

    /// Releases what no window needs any more: one completion per partition.
    pub fn release(&mut self, now: Instant) -> Vec<Completion> {
        let span_ms = self.span.as_millis() as i64;
        let mut out = Vec::new();
        for (&partition, p) in &mut self.partitions {
            let mut offsets = Vec::new();
            while let Some(front) = p.queue.front() {
                let by_event = front.sent_at.saturating_add(span_ms) <= p.clock;
                let by_wall = now.saturating_duration_since(front.read_at) >= self.span;
                if !(by_event || by_wall) {
                    break;
                }
                offsets.push(front.offset);
                p.queue.pop_front();
            }
            if !offsets.is_empty() {
                self.held -= offsets.len();
                out.push(Completion {
                    tag: 0,
                    partition,
                    epoch: p.epoch,
                    offsets,
                });
            }
        }
        out
    }

    /// Forgets a revoked partition's records (they stay uncommitted).
    pub fn forget(&mut self, partition: i32) {
        if let Some(p) = self.partitions.remove(&partition) {
            self.held -= p.queue.len();
        }
    }

    /// Records held now.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn records_are_released_once_event_time_passed_the_span_in_offset_order() {
        let start = Instant::now();
        let mut h = HoldBack::new(Duration::from_secs(600));
        let now = 100 * MIN;
        h.hold(3, 1, 10, now - 12 * MIN, now, start);
        h.hold(3, 1, 11, now - 11 * MIN, now, start);
        h.hold(3, 1, 12, now - MIN, now, start);
        // A record older than the span behind a newer one waits its turn.
        h.hold(3, 1, 13, now - 20 * MIN, now, start);
        assert_eq!(h.len(), 4);
        let released = h.release(start);
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].offsets, vec![10, 11]);
        assert_eq!((released[0].partition, released[0].epoch), (3, 1));
        assert_eq!(h.len(), 2);
        // Time goes on in the partition: the rest goes.
        h.hold(3, 1, 14, now + 10 * MIN, now + 10 * MIN, start);
        assert_eq!(h.release(start)[0].offsets, vec![12, 13]);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn a_quiet_partition_releases_after_the_span_of_wall_time() {
        let start = Instant::now();
        let mut h = HoldBack::new(Duration::from_secs(10));
        h.hold(0, 1, 5, 1_000, 1_000, start);
        assert!(h.release(start + Duration::from_secs(9)).is_empty());
        let released = h.release(start + Duration::from_secs(10));
        assert_eq!(released[0].offsets, vec![5]);
        assert!(h.is_empty());
    }

    #[test]
    fn a_future_sent_at_does_not_release_everything() {
        let start = Instant::now();
        let mut h = HoldBack::new(Duration::from_secs(600));
        let now = 100 * MIN;
        h.hold(0, 1, 1, now - MIN, now, start);
        h.hold(0, 1, 2, now + 1_000 * MIN, now, start);
        assert!(
            h.release(start).is_empty(),
            "clock capped at the wall clock"
        );
    }

    #[test]
    fn a_revoked_or_reassigned_partition_drops_what_it_held() {
        let start = Instant::now();
        let mut h = HoldBack::new(Duration::from_secs(600));
        h.hold(1, 1, 1, 0, 0, start);
        h.hold(2, 1, 1, 0, 0, start);
        h.forget(1);
        assert_eq!(h.len(), 1);
        h.hold(2, 2, 7, 0, 0, start);
        assert_eq!(h.len(), 1, "the old epoch's records are dropped");
        let released = h.release(start + Duration::from_secs(600));
        assert_eq!(
            (released[0].epoch, released[0].offsets.clone()),
            (2, vec![7])
        );
    }
}
