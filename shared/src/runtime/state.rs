//! What one consumer's loop and its rebalance callbacks share, and every
//! decision on it that needs no broker: track and offer a record (holding
//! it back when the pipeline refuses it), apply completions, find the
//! durable prefix to commit, assign and revoke partitions, and a sink
//! outage's rewind (drop what is not durable, read it again after). The
//! Kafka calls around these live in `consumer/` and `context.rs`.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::pipeline::{Completion, Envelope, Pipeline, Progress};
use super::tracker::OffsetTracker;

/// What the loop and the rebalance callbacks share.
pub(crate) struct LoopState<P: Pipeline> {
    pub tracker: OffsetTracker,
    pub pipeline: P,
    /// Records the pipeline refused (backpressure), in order, to offer again.
    pub held: VecDeque<Envelope<P::Item>>,
    /// Set by callbacks so the loop re-applies a pause to new partitions.
    pub assignment_changed: bool,
    /// During a sink outage: per partition, the first offset to read again
    /// once the sink recovers (records read meanwhile are not taken).
    pub rewind: HashMap<i32, i64>,
}

/// What one bookkeeping pass found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Bookkeeping {
    /// Records that became durable in this pass.
    pub processed: usize,
    /// Offsets whose committable position moved, to store.
    pub commits: Vec<(i32, i64)>,
    /// Records read and not durable, less those the pipeline retains.
    pub pending: usize,
    /// Whether records are still held back (the pipeline refuses them).
    pub refused: bool,
    /// Whether the assignment changed since the last pass.
    pub changed: bool,
}

impl<P: Pipeline> LoopState<P> {
    /// A fresh state around `pipeline`.
    pub fn new(pipeline: P) -> Self {
        LoopState {
            tracker: OffsetTracker::new(),
            pipeline,
            held: VecDeque::new(),
            assignment_changed: false,
            rewind: HashMap::new(),
        }
    }

    /// Partitions assigned: new epochs; the pipeline's start offsets.
    pub fn assign(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        for &p in partitions {
            self.tracker.assign(p);
        }
        self.assignment_changed = true;
        self.pipeline.assigned(partitions)
    }

    /// Partitions revoked: their buffered and held work is dropped; returns
    /// the durable offsets to commit for them.
    pub fn release(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        self.pipeline.revoked(partitions);
        self.held.retain(|env| !partitions.contains(&env.partition));
        self.rewind.retain(|p, _| !partitions.contains(p));
        self.assignment_changed = true;
        partitions
            .iter()
            .filter_map(|&p| self.tracker.revoke(p).map(|offset| (p, offset)))
            .collect()
    }

    /// A record was read and decoded: tracks it and offers it to the
    /// pipeline (or holds it, behind records already held). Returns how
    /// many records became durable.
    pub fn offer(&mut self, partition: i32, offset: i64, bytes: usize, value: P::Item) -> usize {
        let epoch = self.tracker.consumed(partition, offset);
        let envelope = Envelope {
            partition,
            offset,
            epoch,
            bytes,
            value,
        };
        if !self.held.is_empty() {
            self.held.push_back(envelope);
            return 0;
        }
        match self.pipeline.submit(envelope) {
            Ok(Progress::Done) => self.tracker.done(partition, epoch, &[offset]),
            Ok(Progress::Pending) => 0,
            Err(envelope) => {
                self.held.push_back(envelope);
                0
            }
        }
    }

    /// Offers held records again, in order, until the pipeline refuses one.
    fn reoffer_held(&mut self) -> usize {
        let mut processed = 0;
        while let Some(env) = self.held.pop_front() {
            let (partition, offset, epoch) = (env.partition, env.offset, env.epoch);
            match self.pipeline.submit(env) {
                Ok(Progress::Done) => processed += self.tracker.done(partition, epoch, &[offset]),
                Ok(Progress::Pending) => {}
                Err(env) => {
                    self.held.push_front(env);
                    break;
                }
            }
        }
        processed
    }

    /// Marks completions durable; returns how many records they made durable.
    pub fn apply(&mut self, completions: impl IntoIterator<Item = Completion>) -> usize {
        completions
            .into_iter()
            .map(|c| self.tracker.done(c.partition, c.epoch, &c.offsets))
            .sum()
    }

    /// One bookkeeping pass: completions, tick, held records, commits.
    pub fn bookkeeping(
        &mut self,
        completions: impl IntoIterator<Item = Completion>,
        now: Instant,
    ) -> Bookkeeping {
        let mut processed = self.apply(completions);
        self.pipeline.tick(now);
        processed += self.reoffer_held();
        Bookkeeping {
            processed,
            commits: self.tracker.take_committable(),
            pending: self.pending(),
            refused: !self.held.is_empty(),
            changed: std::mem::take(&mut self.assignment_changed),
        }
    }

    /// Records not yet durable that the drain and health wait for.
    pub fn pending(&self) -> usize {
        self.tracker
            .pending()
            .saturating_sub(self.pipeline.retained())
    }

    /// The sink lost unfinished work: every partition is revoked locally
    /// (the pipeline drops what is not durable, buffered or in flight), held
    /// records go, the completions that arrived before count, and each
    /// partition remembers where to read again; tracked partitions get new
    /// epochs, so late completions of the dropped work are ignored. Returns
    /// the records made durable, every partition's durable position to
    /// commit, and the lowest epoch still current (older work was dropped).
    pub fn rewind_for_sink(
        &mut self,
        completions: impl IntoIterator<Item = Completion>,
    ) -> (usize, Vec<(i32, i64)>, u64) {
        let partitions = self.tracker.partitions();
        self.pipeline.revoked(&partitions);
        self.held.clear();
        let processed = self.apply(completions);
        let floor = self.tracker.last_epoch() + 1;
        for (partition, offset) in self.tracker.rewind() {
            self.skip(partition, offset);
        }
        (processed, self.tracker.all_committable(), floor)
    }

    /// The sink works again after a rewind: the pipeline is told of its
    /// partitions again, as on assign. Returns where each partition must be
    /// read again, the pipeline's start offsets winning over the rewind
    /// positions.
    pub fn reassign_after_sink(&mut self, assigned: &[i32]) -> HashMap<i32, i64> {
        let starts = self.pipeline.assigned(assigned);
        self.seeks(starts, assigned)
    }

    /// During an outage a record read is not taken: its partition is read
    /// again from it (or from an earlier record) after recovery.
    pub fn skip(&mut self, partition: i32, offset: i64) {
        let start = self.rewind.entry(partition).or_insert(offset);
        *start = (*start).min(offset);
    }

    /// After recovery: where each assigned partition must be read again,
    /// the pipeline's own `starts` winning over the rewind positions.
    pub fn seeks(&self, starts: Vec<(i32, i64)>, assigned: &[i32]) -> HashMap<i32, i64> {
        let mut seeks = self.rewind.clone();
        seeks.extend(starts);
        seeks.retain(|p, _| assigned.contains(p));
        seeks
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
