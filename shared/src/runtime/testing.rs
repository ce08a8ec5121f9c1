//! A pipeline context without a broker, for unit tests of pipelines and
//! sinks: build a [`PipelineContext`], feed [`Envelope`]s in memory, read
//! back the completions the pipeline reported and the records it refused
//! for good ([`CollectedDeadLetters`]), or run it inside the runtime's own
//! loop decisions ([`TestLoop`]) to see what would be committed, and what a
//! sink outage does (pause, rewind, where reading starts again).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flow::Flow;
use super::pipeline::{Acks, Completion, Envelope, Pipeline};
use super::sink_driver::{DeadLetterFuture, DeadLetters, Rejected};
use super::sink_status::SinkStatus;
use super::state::LoopState;
use super::PipelineContext;
use crate::metrics::RuntimeMetrics;

/// Topic name test contexts use.
pub const TEST_TOPIC: &str = "test-topic";

/// A [`PipelineContext`] wired to an in-memory completion queue.
pub struct TestContext {
    /// The context to build the pipeline under test with.
    pub context: PipelineContext,
    completions: Receiver<Completion>,
}

impl TestContext {
    /// A context on the current tokio runtime (call from `#[tokio::test]`),
    /// with fresh metrics, no DLQ, topic [`TEST_TOPIC`] and a sink status
    /// of its own (`context.sink`, followed by [`TestLoop::with_sink`]).
    pub fn new() -> Self {
        Self::on(tokio::runtime::Handle::current())
    }

    /// A context whose async work runs on `runtime`.
    pub fn on(runtime: tokio::runtime::Handle) -> Self {
        let (acks, completions) = Acks::channel();
        let metrics = match RuntimeMetrics::new("test", "test-group") {
            Ok(metrics) => metrics,
            Err(e) => panic!("test metrics: {e}"),
        };
        TestContext {
            context: PipelineContext {
                consumer: 0,
                acks,
                dlq: None,
                metrics,
                runtime,
                topic: TEST_TOPIC.to_owned(),
                stopping: Arc::new(AtomicBool::new(false)),
                sink: SinkStatus::new(),
            },
            completions,
        }
    }

    /// Raises the stop signal (shutdown began).
    pub fn stop(&self) {
        self.context.stopping.store(true, Ordering::Relaxed);
    }

    /// Completions reported so far, not yet taken.
    pub fn completions(&self) -> Vec<Completion> {
        self.completions.try_iter().collect()
    }

    /// Waits until completions for at least `offsets` records arrived (or
    /// `timeout` passed); returns them all.
    pub fn wait_for(&self, offsets: usize, timeout: Duration) -> Vec<Completion> {
        let deadline = Instant::now() + timeout;
        let mut got: Vec<Completion> = Vec::new();
        while got.iter().map(|c| c.offsets.len()).sum::<usize>() < offsets {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.completions.recv_timeout(left) {
                Ok(c) => got.push(c),
                Err(_) => break,
            }
        }
        got
    }

    /// Async twin of [`Self::wait_for`], for tests on a current-thread runtime
    /// (it yields to the pipeline's tasks while waiting).
    pub async fn wait_for_async(&self, offsets: usize, timeout: Duration) -> Vec<Completion> {
        let deadline = Instant::now() + timeout;
        let mut got: Vec<Completion> = Vec::new();
        while got.iter().map(|c| c.offsets.len()).sum::<usize>() < offsets
            && Instant::now() < deadline
        {
            got.extend(self.completions.try_iter());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        got.extend(self.completions.try_iter());
        got
    }
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Dead letters kept in memory, for tests of what a sink refused.
#[derive(Default)]
pub struct CollectedDeadLetters {
    letters: parking_lot::Mutex<Vec<Rejected>>,
}

impl CollectedDeadLetters {
    /// An empty collection, shareable with a [`super::sink_driver::SinkDriver`].
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The refused records so far, in order.
    pub fn letters(&self) -> Vec<Rejected> {
        self.letters.lock().clone()
    }
}

impl DeadLetters for CollectedDeadLetters {
    fn send<'a>(&'a self, rejected: &'a Rejected) -> DeadLetterFuture<'a> {
        self.letters.lock().push(rejected.clone());
        Box::pin(async { Ok(()) })
    }
}

/// The runtime's loop decisions around a pipeline, without Kafka: records
/// read are offered (and held back while the pipeline refuses them),
/// completions applied, and the offsets the runtime would commit returned;
/// with [`Self::with_sink`], the sink's status is followed as the loop does.
pub struct TestLoop<P: Pipeline> {
    state: LoopState<P>,
    assigned: Vec<i32>,
    flow: Flow,
    sink: SinkStatus,
}

/// What following the sink's status did, as [`TestLoop::follow_sink`] says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SinkTurn {
    /// Whether the outage is on (the loop keeps the partitions paused).
    pub paused: bool,
    /// Durable positions stored for commit because the sink lost work.
    pub commits: Vec<(i32, i64)>,
    /// After a rewinding outage ended: where each partition is read again.
    pub seeks: Option<HashMap<i32, i64>>,
}

impl<P: Pipeline> TestLoop<P> {
    /// `pipeline` with `partitions` assigned.
    pub fn new(pipeline: P, partitions: &[i32]) -> Self {
        let mut state = LoopState::new(pipeline);
        state.assign(partitions);
        TestLoop {
            state,
            assigned: partitions.to_vec(),
            flow: Flow::default(),
            sink: SinkStatus::new(),
        }
    }

    /// Follows `sink` (the pipeline context's `sink`) in [`Self::follow_sink`].
    pub fn with_sink(mut self, sink: SinkStatus) -> Self {
        self.sink = sink;
        self
    }

    /// A record was read and decoded (epochs are the loop's own). During
    /// an outage that lost work it is not taken but read again later.
    pub fn read(&mut self, partition: i32, offset: i64, bytes: usize, value: P::Item) {
        if self.flow.outage().is_some_and(|o| o.rewind) {
            self.state.skip(partition, offset);
            return;
        }
        self.state.offer(partition, offset, bytes, value);
    }

    /// Follows the sink's status as the loop does after each turn: the
    /// outage begins or ends, lost work is dropped and, at recovery, the
    /// pipeline is told of its partitions again.
    pub fn follow_sink(&mut self) -> SinkTurn {
        let mut turn = SinkTurn::default();
        if self.flow.sink_changed(self.sink.version()) {
            let status = self.sink.snapshot();
            let steps = self.flow.follow_sink(Instant::now(), &status);
            if steps.rewind {
                let (_, commits, floor) = self.state.rewind_for_sink(Vec::new());
                self.sink.rewound(status.rewinds, floor);
                turn.commits = commits;
                turn.commits.sort_unstable();
            }
            if steps.recover {
                self.recover(&mut turn);
            }
        }
        turn.paused = self.flow.outage().is_some();
        turn
    }

    fn recover(&mut self, turn: &mut SinkTurn) {
        if self.flow.outage().is_some_and(|o| o.rewind) {
            let seeks = self.state.reassign_after_sink(&self.assigned);
            if self.sink.is_failing() {
                return;
            }
            self.state.rewind.clear();
            turn.seeks = Some(seeks);
        }
        self.flow.recovered();
    }

    /// One bookkeeping pass with these completions: returns the offsets to
    /// commit (next offset to read, per partition whose position moved).
    pub fn turn(&mut self, completions: Vec<Completion>, now: Instant) -> Vec<(i32, i64)> {
        let mut commits = self.state.bookkeeping(completions, now).commits;
        commits.sort_unstable();
        commits
    }

    /// Records the pipeline handed back, waiting to be offered again.
    pub fn held(&self) -> usize {
        self.state.held.len()
    }

    /// Records read and not yet durable.
    pub fn pending(&self) -> usize {
        self.state.pending()
    }

    /// Revokes `partitions`: returns their durable offsets to commit.
    pub fn revoke(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        self.assigned.retain(|p| !partitions.contains(p));
        self.state.release(partitions)
    }

    /// The pipeline under test.
    pub fn pipeline(&mut self) -> &mut P {
        &mut self.state.pipeline
    }
}

/// An envelope of epoch 1 with a payload size of `bytes`.
pub fn envelope<T>(partition: i32, offset: i64, bytes: usize, value: T) -> Envelope<T> {
    Envelope {
        partition,
        offset,
        epoch: 1,
        bytes,
        value,
    }
}

/// Every offset in `completions` of `partition`, sorted.
pub fn offsets_of(completions: &[Completion], partition: i32) -> Vec<i64> {
    let mut offsets: Vec<i64> = completions
        .iter()
        .filter(|c| c.partition == partition)
        .flat_map(|c| c.offsets.iter().copied())
        .collect();
    offsets.sort_unstable();
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acks_reach_the_test_receiver() {
        let test = TestContext::new();
        test.context.acks.done(Completion {
            tag: 1,
            partition: 2,
            epoch: 1,
            offsets: vec![5, 6],
        });
        let got = test.wait_for(2, Duration::from_secs(1));
        assert_eq!(offsets_of(&got, 2), vec![5, 6]);
        assert!(test.completions().is_empty());
        assert!(!test.context.stopping.load(Ordering::Relaxed));
        test.stop();
        assert!(test.context.stopping.load(Ordering::Relaxed));
    }
}
