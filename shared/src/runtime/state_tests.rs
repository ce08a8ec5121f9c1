//! The loop's decisions on in-memory input: backpressure (held records
//! offered again in order), the durable prefix committed, rebalances, and
//! a sink outage's rewind (every partition revoked locally, read again
//! from the durable position after).

use super::*;

/// Takes up to `room` records at a time (Pending), or any number (Done).
#[derive(Default)]
struct FakePipeline {
    done_at_once: bool,
    room: usize,
    taken: Vec<(i32, i64, u64)>,
    revoked: Vec<i32>,
    assigns: usize,
    starts: Vec<(i32, i64)>,
    ticks: usize,
}

impl Pipeline for FakePipeline {
    type Item = &'static str;

    fn submit(
        &mut self,
        record: Envelope<&'static str>,
    ) -> Result<Progress, Envelope<&'static str>> {
        if self.done_at_once {
            return Ok(Progress::Done);
        }
        if self.room == 0 {
            return Err(record);
        }
        self.room -= 1;
        self.taken
            .push((record.partition, record.offset, record.epoch));
        Ok(Progress::Pending)
    }

    fn tick(&mut self, _now: Instant) {
        self.ticks += 1;
    }

    fn assigned(&mut self, _partitions: &[i32]) -> Vec<(i32, i64)> {
        self.assigns += 1;
        self.starts.clone()
    }

    fn revoked(&mut self, partitions: &[i32]) {
        self.revoked.extend_from_slice(partitions);
        self.taken.retain(|(p, _, _)| !partitions.contains(p));
    }
}

fn state(room: usize) -> LoopState<FakePipeline> {
    let mut s = LoopState::new(FakePipeline {
        room,
        ..Default::default()
    });
    s.assign(&[0, 1]);
    s
}

fn done(partition: i32, epoch: u64, offsets: &[i64]) -> Completion {
    Completion {
        tag: 1,
        partition,
        epoch,
        offsets: offsets.to_vec(),
    }
}

#[test]
fn done_records_commit_at_once() {
    let mut s = LoopState::new(FakePipeline {
        done_at_once: true,
        ..Default::default()
    });
    s.assign(&[3]);
    assert_eq!(s.offer(3, 10, 1, "a"), 1);
    assert_eq!(s.offer(3, 11, 1, "b"), 1);
    let b = s.bookkeeping([], Instant::now());
    assert_eq!(b.commits, vec![(3, 12)]);
    assert_eq!(b.pending, 0);
    assert!(b.changed, "the assign is reported once");
    assert!(!s.bookkeeping([], Instant::now()).changed);
}

#[test]
fn only_the_durable_prefix_is_committed() {
    let mut s = state(10);
    for offset in 0..4 {
        s.offer(0, offset, 1, "m");
    }
    let epoch = s.pipeline.taken[0].2;
    // 2 and 3 done first: nothing committable below the gap at 0.
    let b = s.bookkeeping([done(0, epoch, &[2, 3])], Instant::now());
    assert_eq!((b.processed, b.commits.clone(), b.pending), (2, vec![], 2));
    let b = s.bookkeeping([done(0, epoch, &[0, 1])], Instant::now());
    assert_eq!(b.commits, vec![(0, 4)]);
    assert_eq!(b.pending, 0);
}

#[test]
fn refused_records_are_held_in_order_and_offered_again() {
    let mut s = state(2);
    for offset in 0..5 {
        s.offer(0, offset, 1, "m");
    }
    assert_eq!(s.held.len(), 3);
    let b = s.bookkeeping([], Instant::now());
    assert!(b.refused, "the loop waits, then pauses");
    assert_eq!(b.pending, 5);
    // A record read meanwhile queues behind the held ones.
    s.offer(1, 0, 1, "m");
    assert_eq!(s.held.len(), 4);
    s.pipeline.room = 10;
    let b = s.bookkeeping([], Instant::now());
    assert!(!b.refused, "taken again: resume");
    let order: Vec<(i32, i64)> = s.pipeline.taken.iter().map(|&(p, o, _)| (p, o)).collect();
    assert_eq!(order, vec![(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]);
    assert!(s.pipeline.ticks >= 2);
}

#[test]
fn a_revoke_drops_buffered_and_held_work_and_commits_the_durable_prefix() {
    let mut s = state(3);
    for offset in 0..3 {
        s.offer(0, offset, 1, "m");
    }
    s.offer(1, 7, 1, "m");
    s.offer(1, 8, 1, "m");
    let epoch = s.pipeline.taken[0].2;
    s.apply([done(0, epoch, &[0])]);
    s.bookkeeping([], Instant::now());
    let commits = s.release(&[0, 1]);
    assert_eq!(commits, vec![(0, 1)]);
    assert_eq!(s.pipeline.revoked, vec![0, 1]);
    assert!(s.held.is_empty());
    assert_eq!(s.pending(), 0);
    // A completion of the old epoch after the revoke is ignored.
    s.assign(&[0]);
    assert_eq!(s.apply([done(0, epoch, &[1, 2])]), 0);
}

#[test]
fn an_assign_passes_the_pipeline_start_offsets_on() {
    let mut s = LoopState::new(FakePipeline {
        starts: vec![(4, 100)],
        ..Default::default()
    });
    assert_eq!(s.assign(&[4, 5]), vec![(4, 100)]);
    assert!(s.assignment_changed);
}

#[test]
fn a_sink_outage_that_lost_work_rewinds_and_seeks_back_to_the_durable_position() {
    let mut s = state(10);
    for offset in 0..4 {
        s.offer(0, offset, 1, "m");
    }
    s.offer(1, 20, 1, "m");
    let epoch = s.pipeline.taken[0].2;
    // 0 became durable just before the fault: it counts.
    let (processed, commits, floor) = s.rewind_for_sink([done(0, epoch, &[0])]);
    assert_eq!(processed, 1);
    let mut revoked = s.pipeline.revoked.clone();
    revoked.sort_unstable();
    assert_eq!(revoked, vec![0, 1], "every partition revoked locally");
    assert!(s.pipeline.taken.is_empty(), "the pipeline dropped its work");
    let mut commits = commits;
    commits.sort_unstable();
    assert_eq!(commits, vec![(0, 1)]);
    assert_eq!(s.pending(), 0, "unfinished records forgotten");
    assert!(floor > epoch, "the dropped work's epoch is below the floor");
    assert!(s.tracker.epoch(0).is_some_and(|e| e >= floor));
    // Read during the outage: not taken, but read again later.
    s.skip(1, 25);
    s.skip(2, 9);
    s.pipeline.starts = vec![(0, 2)];
    let assigns = s.pipeline.assigns;
    let seeks = s.reassign_after_sink(&[0, 1]);
    assert_eq!(
        s.pipeline.assigns,
        assigns + 1,
        "told of its partitions again"
    );
    assert_eq!(seeks.get(&0), Some(&2), "the pipeline's start wins");
    assert_eq!(seeks.get(&1), Some(&20), "the earliest unfinished record");
    assert_eq!(seeks.get(&2), None, "not assigned any more");
    // Completions of the dropped work are ignored.
    assert_eq!(s.apply([done(0, epoch, &[1, 2, 3])]), 0);
}
