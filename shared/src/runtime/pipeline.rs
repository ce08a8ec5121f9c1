//! The contract between the consumer runtime and a worker's own steps.
//!
//! The runtime decodes each record and hands the valid ones to the worker's
//! [`Pipeline`] as an [`Envelope`]. The pipeline says whether the record is
//! already durable ([`Progress::Done`]), will be reported durable later
//! through [`Acks`] ([`Progress::Pending`]), or cannot be taken now (it hands
//! the envelope back; the runtime pauses the partitions and offers it again).
//! Offsets are committed only up to the first record not yet durable. A sink
//! that fails for a while is the sink driver's to report
//! ([`super::SinkStatus`]): the runtime pauses the partitions until it works
//! again, and if the failure lost unfinished work it revokes and assigns
//! every partition locally ([`Pipeline::revoked`], [`Pipeline::assigned`])
//! around the outage, so the records are read again.

use std::sync::mpsc;
use std::time::Instant;

/// Why a pipeline cannot go on in place. Retrying in place cannot help;
/// the consumer commits what is durable and stops, and a restart re-reads
/// the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// A thread or task the pipeline needs could not start.
    #[error("cannot start {what}: {reason}")]
    Start {
        /// What could not start (`the encoder thread`).
        what: &'static str,
        /// Why, as the OS said.
        reason: String,
    },
    /// A thread the pipeline needs has stopped (a bug).
    #[error("{what} stopped")]
    Stopped {
        /// What stopped.
        what: &'static str,
    },
}

/// A decoded record with where it came from. Offsets travel with the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<T> {
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
    /// Assignment epoch of the partition when the record was read; a
    /// completion from an older epoch is ignored (the partition moved).
    pub epoch: u64,
    /// Payload size in bytes, for byte-based batch limits.
    pub bytes: usize,
    /// The decoded value.
    pub value: T,
}

/// What became of a submitted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The work is durable now; its offset may be committed.
    Done,
    /// The pipeline will report it through [`Acks`] when durable.
    Pending,
}

/// Records of one partition that became durable (or were dead-lettered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The pipeline's own tag (e.g. a batch id); the runtime passes it back.
    pub tag: u64,
    /// Partition of every offset in `offsets`.
    pub partition: i32,
    /// Epoch from the envelopes.
    pub epoch: u64,
    /// The offsets now durable, ascending.
    pub offsets: Vec<i64>,
}

/// Reports completions to the consumer that owns the partitions. Cheap to
/// clone into the tasks that do the work.
#[derive(Debug, Clone)]
pub struct Acks(mpsc::Sender<Completion>);

impl Acks {
    /// A connected sender and receiver (the runtime keeps the receiver;
    /// tests use [`crate::runtime::testing::TestContext`]).
    pub fn channel() -> (Acks, mpsc::Receiver<Completion>) {
        let (tx, rx) = mpsc::channel();
        (Acks(tx), rx)
    }

    /// Reports durable offsets. Ignored if the consumer has already stopped
    /// (its uncommitted records will be read again by the next owner).
    pub fn done(&self, completion: Completion) {
        let _ = self.0.send(completion);
    }
}

/// A worker's steps after decoding: everything that is its own logic.
pub trait Pipeline: Send + 'static {
    /// The record type the pipeline takes.
    type Item: Send;

    /// Offers one record. Returns it back when the pipeline is full.
    fn submit(&mut self, record: Envelope<Self::Item>) -> Result<Progress, Envelope<Self::Item>>;

    /// Called every loop turn (at least every 100 ms): start age-based work.
    fn tick(&mut self, _now: Instant) {}

    /// Partitions were assigned. Return a start offset for any partition
    /// that must not resume from the committed offset. Also called for every
    /// partition when a sink outage that lost unfinished work ends (reading
    /// resumes from the durable position otherwise); a sink failure the
    /// pipeline reports meanwhile keeps the outage on.
    fn assigned(&mut self, _partitions: &[i32]) -> Vec<(i32, i64)> {
        Vec::new()
    }

    /// Partitions are being revoked: drop their buffered work. Work already
    /// in flight may finish; its completion is ignored by epoch. Also called
    /// for every partition when a sink failure lost unfinished work
    /// ([`super::sink_driver::Recovery::Rewind`]): nothing half-written may
    /// stay.
    fn revoked(&mut self, _partitions: &[i32]) {}

    /// Shutdown: start flushing everything buffered, ignoring in-flight
    /// limits. The runtime then waits for the completions, up to a deadline.
    fn flush_all(&mut self) {}

    /// Records deliberately left uncommitted (Pending, reported durable
    /// only later, e.g. while a window may still need them; a restart reads
    /// them again). The drain does not wait for them and health does not
    /// count them as stalled work.
    fn retained(&self) -> usize {
        0
    }

    /// Whether this pipeline holds records back on purpose (see
    /// [`Self::retained`]): its `parley_consumer_lag` is then measured from
    /// the read position, not the committed offset, so the held span does
    /// not read as lag.
    fn holds_back(&self) -> bool {
        false
    }

    /// A failure the pipeline cannot recover from in place, not a sink
    /// outage (a thread it needs has died). The consumer then commits what
    /// is durable and stops with an error, so a restart re-reads the rest.
    fn failure(&self) -> Option<PipelineError> {
        None
    }
}
