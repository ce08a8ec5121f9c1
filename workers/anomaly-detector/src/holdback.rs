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
//! Consecutive records are held as runs of about a second (a run goes when
//! its latest record may), so memory grows with the span, not the rate. A
//! record whose sighting is not yet acknowledged by the by-game topic
//! ([`HoldBack::hold_unacked`]) is not released before [`HoldBack::acked`],
//! whatever the span (zero included), nor is anything after it.
//!
//! The main consumer holds for the longest window of the rules it
//! evaluates ([`longest_window`], cross-room rules excluded); the by-game
//! consumer holds its sightings for the longest cross-room window
//! ([`longest_copy_window`]), so a restart there rebuilds the copy tracks.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parley_shared::runtime::Completion;

use crate::detectors::{CapsRule, CrossRoomRule, FloodRule, LinksRule, RaidRule, RepetitionRule};
use crate::rules::{Kind, RuleSet};

/// The longest window of the rules the main consumer evaluates (what a
/// restart must re-read to rebuild every window); zero when none keeps
/// one. Cross-room rules are counted by the by-game consumer.
pub fn longest_window(rules: &RuleSet) -> Duration {
    let longest = rules
        .rules
        .iter()
        .filter_map(|rule| match rule.kind {
            Kind::Flood(FloodRule { window, .. })
            | Kind::Repetition(RepetitionRule { window, .. })
            | Kind::Caps(CapsRule { window, .. })
            | Kind::Links(LinksRule { window, .. })
            | Kind::Raid(RaidRule { window, .. }) => Some(window),
            Kind::CrossRoom(_) | Kind::Content(_) | Kind::Length(_) | Kind::RateSpike(_) => None,
        })
        .max()
        .unwrap_or(0);
    Duration::from_millis(longest.max(0) as u64)
}

/// The longest cross-room window of `rules` (what the by-game consumer
/// re-reads after a restart); zero when no cross-room rule is enabled.
pub fn longest_copy_window(rules: &RuleSet) -> Duration {
    let longest = rules
        .rules
        .iter()
        .filter_map(|rule| match rule.kind {
            Kind::CrossRoom(CrossRoomRule { window, .. }) => Some(window),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    Duration::from_millis(longest.max(0) as u64)
}

/// Consecutive records held together: read within [`MERGE`] of each other
/// with event times within [`MERGE`], so a ten-minute hold at 20k records/s
/// keeps a few thousand runs instead of twelve million entries. A run goes
/// when its latest record may go (held at most [`MERGE`] longer).
#[derive(Debug)]
struct Held {
    first: i64,
    last: i64,
    sent_min: i64,
    sent_max: i64,
    read_first: Instant,
    read_last: Instant,
    /// False while the record's sighting awaits the broker's ack (such a
    /// record is a run of its own).
    acked: bool,
}

/// Time span of one run, in read time and in event time.
const MERGE: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct PartitionHold {
    epoch: u64,
    /// Latest event time seen (never ahead of the wall clock).
    clock: i64,
    queue: VecDeque<Held>,
}

impl Held {
    fn len(&self) -> usize {
        (self.last - self.first + 1) as usize
    }
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
        self.push(partition, epoch, offset, sent_at, now_ms, read_at, true);
    }

    /// Holds a record like [`Self::hold`], and past the span until
    /// [`Self::acked`] says its sighting is in Kafka.
    pub fn hold_unacked(
        &mut self,
        partition: i32,
        epoch: u64,
        offset: i64,
        sent_at: i64,
        now_ms: i64,
        read_at: Instant,
    ) {
        self.push(partition, epoch, offset, sent_at, now_ms, read_at, false);
    }

    /// The sighting of a record held with [`Self::hold_unacked`] was
    /// acknowledged (ignored if the partition moved since).
    pub fn acked(&mut self, partition: i32, epoch: u64, offset: i64) {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return;
        };
        if p.epoch != epoch {
            return;
        }
        // Runs are in offset order; an unacked record is a run of its own.
        let i = p.queue.partition_point(|h| h.last < offset);
        if let Some(held) = p.queue.get_mut(i).filter(|h| h.first == offset) {
            held.acked = true;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        partition: i32,
        epoch: u64,
        offset: i64,
        sent_at: i64,
        now_ms: i64,
        read_at: Instant,
        acked: bool,
    ) {
        let p = self.partitions.entry(partition).or_insert(PartitionHold {
            epoch,
            clock: i64::MIN,
            queue: VecDeque::new(),
        });
        if p.epoch != epoch {
            // Reassigned: what was held belongs to the old assignment.
            self.held -= p.queue.iter().map(Held::len).sum::<usize>();
            p.queue.clear();
            p.epoch = epoch;
            p.clock = i64::MIN;
        }
        p.clock = p.clock.max(sent_at.min(now_ms));
        self.held += 1;
        let merge_ms = MERGE.as_millis() as i64;
        if let Some(back) = p.queue.back_mut() {
            let joins = acked
                && back.acked
                && offset == back.last + 1
                && read_at.saturating_duration_since(back.read_first) < MERGE
                && sent_at.max(back.sent_max) - sent_at.min(back.sent_min) <= merge_ms;
            if joins {
                back.last = offset;
                back.sent_min = back.sent_min.min(sent_at);
                back.sent_max = back.sent_max.max(sent_at);
                back.read_last = back.read_last.max(read_at);
                return;
            }
        }
        p.queue.push_back(Held {
            first: offset,
            last: offset,
            sent_min: sent_at,
            sent_max: sent_at,
            read_first: read_at,
            read_last: read_at,
            acked,
        });
    }

    /// Releases what no window needs any more: one completion per partition.
    pub fn release(&mut self, now: Instant) -> Vec<Completion> {
        let span_ms = self.span.as_millis() as i64;
        let mut out = Vec::new();
        for (&partition, p) in &mut self.partitions {
            let mut offsets = Vec::new();
            while let Some(front) = p.queue.front().filter(|h| h.acked) {
                let by_event = front.sent_max.saturating_add(span_ms) <= p.clock;
                let by_wall = now.saturating_duration_since(front.read_last) >= self.span;
                if !(by_event || by_wall) {
                    break;
                }
                offsets.extend(front.first..=front.last);
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
            self.held -= p.queue.iter().map(Held::len).sum::<usize>();
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
    fn a_record_awaiting_its_sighting_ack_holds_back_what_follows() {
        let start = Instant::now();
        let later = start + Duration::from_secs(600);
        // No span at all: only the ack holds.
        let mut h = HoldBack::new(Duration::ZERO);
        h.hold(0, 1, 1, 0, 0, start);
        h.hold_unacked(0, 1, 2, 0, 0, start);
        h.hold(0, 1, 3, 0, 0, start);
        assert_eq!(h.release(later)[0].offsets, vec![1]);
        assert!(
            h.release(later).is_empty(),
            "2 awaits its ack, 3 waits behind"
        );
        h.acked(0, 0, 2);
        assert!(h.release(later).is_empty(), "an ack of an older epoch");
        h.acked(0, 1, 2);
        assert_eq!(h.release(later)[0].offsets, vec![2, 3]);
        assert!(h.is_empty());
    }

    #[test]
    fn cross_room_windows_are_held_by_the_by_game_consumer_only() {
        let rules = crate::rules::RuleSet::parse(
            r#"[[rule]]
name = "flood"
kind = "flood"
category = "flood"
severity = "warning"
threshold = 3
window = "30s"

[[rule]]
name = "spam"
kind = "cross_room"
category = "spam"
severity = "warning"
min_users = 3
min_rooms = 2
window = "10m"
signals = ["free"]"#,
            std::path::Path::new("test.toml"),
            std::path::Path::new("."),
        )
        .expect("rules");
        assert_eq!(longest_window(&rules), Duration::from_secs(30));
        assert_eq!(longest_copy_window(&rules), Duration::from_secs(600));
    }

    #[test]
    fn consecutive_records_are_held_as_runs_of_a_second() {
        let start = Instant::now();
        let mut h = HoldBack::new(Duration::from_secs(600));
        let now = 100 * MIN;
        // 10 s of traffic, 100 records a second, event time in step.
        for i in 0..1_000i64 {
            let at = now - 20 * MIN + i * 10;
            h.hold(
                4,
                1,
                i,
                at,
                now,
                start + Duration::from_millis(i as u64 * 10),
            );
        }
        assert_eq!(h.len(), 1_000);
        let runs = h.partitions[&4].queue.len();
        assert!((10..=11).contains(&runs), "{runs} runs");
        // Event time moves on: all older than the span, released in order.
        h.hold(4, 1, 1_000, now, now, start);
        let released = h.release(start);
        assert_eq!(released[0].offsets, (0..1_000).collect::<Vec<_>>());
        assert_eq!(h.len(), 1);
        // A gap in offsets or an unacked record starts a run of its own.
        h.hold(4, 1, 2_000, now, now, start);
        h.hold(4, 1, 2_002, now, now, start);
        h.hold_unacked(4, 1, 2_003, now, now, start);
        h.hold(4, 1, 2_004, now, now, start);
        assert_eq!(
            h.partitions[&4].queue.len(),
            5,
            "1,000 / 2,000 / 2,002 / 2,003 / 2,004"
        );
        h.acked(4, 1, 2_003);
        let later = start + Duration::from_secs(600);
        assert_eq!(
            h.release(later)[0].offsets,
            vec![1_000, 2_000, 2_002, 2_003, 2_004]
        );
        assert!(h.is_empty());
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
