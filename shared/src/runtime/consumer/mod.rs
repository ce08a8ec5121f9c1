//! One consumer's loop, on its own thread: poll → decode → DLQ or submit →
//! apply completions → store durable offsets → pause/resume → repeat; then
//! drain on shutdown. A `BaseConsumer` polled from a dedicated thread keeps
//! clear of `StreamConsumer` wake-up stalls (rust-rdkafka #638/#665).
//!
//! This is the Kafka layer only: what to do with a record, a completion or
//! a rebalance is decided in [`super::state`] and when to pause or resume,
//! and what a change of the sink's status asks, in [`super::flow`], both
//! tested without a broker. `outage.rs` follows the sink's status (pause,
//! rewind, seek back, resume), `drain.rs` the shutdown, and
//! `dead_letter.rs` sends records that do not decode to the DLQ.

mod dead_letter;
mod drain;
mod outage;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};

use super::context::{lock, offsets_list, ParleyContext};
use super::flow::{Flow, PauseAction};
use super::pipeline::{Acks, Completion, Pipeline};
use super::sink_status::SinkStatus;
use super::state::LoopState;
use super::{Decode, PipelineError, RuntimeError};
use crate::dlq::DeadLetterQueue;
use crate::health::ConsumerHealth;
use crate::metrics::RuntimeMetrics;
use crate::runtime::settings::ConsumerSettings;

/// How long one poll may block when the last one found nothing. While
/// records flow the next poll does not wait at all: librdkafka then reads
/// no clock, which at 300k records/s was ~3% of a worker's CPU.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// While paused, how long to wait for a completion before polling again.
const PAUSED_WAIT: Duration = Duration::from_millis(20);
/// Bookkeeping (ticks, commits, health) runs at least this often, and at
/// once when a completion arrives; not on every record.
const BOOKKEEPING_EVERY: Duration = Duration::from_millis(5);

/// Everything one consumer thread needs.
pub(crate) struct ConsumerLoop<P: Pipeline> {
    pub index: usize,
    pub settings: ConsumerSettings,
    pub pipeline: P,
    pub sink: SinkStatus,
    pub acks: Acks,
    pub completions: Receiver<Completion>,
    pub dlq: Option<DeadLetterQueue>,
    pub metrics: RuntimeMetrics,
    pub health: Arc<ConsumerHealthRef>,
    pub stop: Arc<AtomicBool>,
    pub runtime: tokio::runtime::Handle,
}

/// A handle on this consumer's slot in the process health.
pub(crate) struct ConsumerHealthRef {
    pub health: crate::health::Health,
    pub index: usize,
}

impl ConsumerHealthRef {
    fn get(&self) -> Option<&ConsumerHealth> {
        self.health.consumer(self.index)
    }
}

/// The running loop: the consumer, the shared state and the flow state.
struct Running<P: Pipeline> {
    index: usize,
    topic: String,
    consumer: BaseConsumer<ParleyContext<P>>,
    state: Arc<Mutex<LoopState<P>>>,
    completions: Receiver<Completion>,
    carried: Vec<Completion>,
    metrics: RuntimeMetrics,
    health: Arc<ConsumerHealthRef>,
    stop: Arc<AtomicBool>,
    sink: SinkStatus,
    flow: Flow,
    next_bookkeeping: Instant,
    turns_since_clock: u32,
    idle: bool,
    dead_letters: dead_letter::DeadLetterer,
}

impl<P: Pipeline> ConsumerLoop<P>
where
    P::Item: Decode,
{
    /// Runs until `stop`, then drains for at most the drain timeout.
    pub fn run(self) -> Result<(), RuntimeError> {
        let state = Arc::new(Mutex::new(LoopState::new(self.pipeline)));
        let context = ParleyContext {
            state: Arc::clone(&state),
            metrics: self.metrics.clone(),
            topic: self.settings.topic.clone(),
            index: self.index,
        };
        let mut config = ClientConfig::new();
        for (k, v) in self.settings.consumer_properties(self.index) {
            config.set(k, v);
        }
        let consumer: BaseConsumer<ParleyContext<P>> = config.create_with_context(context)?;
        consumer.subscribe(&[&self.settings.topic])?;
        tracing::info!(consumer = self.index, group = %self.settings.group, topic = %self.settings.topic, "consuming");
        let mut running = Running {
            index: self.index,
            topic: self.settings.topic.clone(),
            consumer,
            state,
            completions: self.completions,
            carried: Vec::new(),
            metrics: self.metrics.clone(),
            health: self.health,
            stop: Arc::clone(&self.stop),
            sink: self.sink,
            flow: Flow::default(),
            next_bookkeeping: Instant::now(),
            turns_since_clock: 0,
            idle: true,
            dead_letters: dead_letter::DeadLetterer {
                index: self.index,
                topic: self.settings.topic.clone(),
                acks: self.acks,
                dlq: self.dlq,
                metrics: self.metrics,
                stop: self.stop,
                runtime: self.runtime,
                log: std::cell::Cell::new((Instant::now(), 0)),
            },
        };
        let mut failure: Option<PipelineError> = None;
        while !running.stop.load(Ordering::Relaxed) {
            if running.turn() {
                failure = lock(&running.state).pipeline.failure();
                if failure.is_some() {
                    break;
                }
            }
            running.follow_sink();
        }
        if let Some(error) = failure {
            tracing::error!(consumer = self.index, %error, "pipeline failed; committing what is durable and stopping");
            running.store_durable();
            running.leave_group();
            if let Some(h) = running.health.get() {
                h.stopped();
            }
            return Err(RuntimeError::Pipeline(error));
        }
        running.drain(self.settings.drain_timeout);
        running.leave_group();
        if let Some(h) = running.health.get() {
            h.stopped();
        }
        Ok(())
    }
}

impl<P: Pipeline> Running<P>
where
    P::Item: Decode,
{
    /// One loop turn: bookkeeping when due, then one poll. Returns whether
    /// the bookkeeping ran.
    fn turn(&mut self) -> bool {
        self.carried.extend(self.completions.try_iter());
        // Reading the clock on every record is measurable at 300k/s: while
        // records flow, look at it every 32 turns.
        self.turns_since_clock += 1;
        let blocked = self.flow.blocked();
        if !(blocked || !self.carried.is_empty() || self.idle || self.turns_since_clock >= 32) {
            self.poll_one();
            return false;
        }
        self.turns_since_clock = 0;
        let now = Instant::now();
        let due = blocked || !self.carried.is_empty() || now >= self.next_bookkeeping;
        if due {
            self.next_bookkeeping = now + BOOKKEEPING_EVERY;
            if let Some(h) = self.health.get() {
                h.polled();
            }
            let (refused, changed) = self.bookkeeping();
            match self.flow.decide(now, refused, changed) {
                PauseAction::Pause => self.set_paused(true),
                PauseAction::Resume => self.set_paused(false),
                PauseAction::Keep => {}
            }
            if self.flow.recovery_due(now) {
                self.retry_recovery();
            }
        }
        self.poll_one();
        due
    }

    /// Polls (or, under backpressure, waits for the sink) and handles what came.
    fn poll_one(&mut self) {
        let message = if self.flow.paused() {
            // Paused: keep polling (rebalances, heartbeats) while waiting.
            if let Ok(c) = self.completions.recv_timeout(PAUSED_WAIT) {
                self.carried.push(c);
            }
            self.consumer.poll(Duration::ZERO)
        } else if self.flow.blocked() {
            // Backpressure, briefly: wait for the sink instead of reading on.
            if let Ok(c) = self.completions.recv_timeout(PAUSED_WAIT) {
                self.carried.push(c);
            }
            None
        } else if self.idle {
            self.consumer.poll(POLL_TIMEOUT)
        } else {
            self.consumer.poll(Duration::ZERO)
        };
        self.idle = message.is_none();
        match message {
            Some(Ok(message)) if self.flow.outage().is_some_and(|o| o.rewind) => {
                // Read again from the durable position once the sink works.
                lock(&self.state).skip(message.partition(), message.offset());
            }
            Some(Ok(message)) => self.handle(&message),
            Some(Err(e)) => tracing::warn!(consumer = self.index, error = %e, "consumer error"),
            None => {}
        }
    }

    /// Applies completions, ticks the pipeline, re-offers held records and
    /// stores committable offsets. Returns (records refused, assignment changed).
    fn bookkeeping(&mut self) -> (bool, bool) {
        let done = {
            let mut state = lock(&self.state);
            let completions = self.carried.drain(..).chain(self.completions.try_iter());
            state.bookkeeping(completions, Instant::now())
        };
        self.metrics.processed.inc_by(done.processed as u64);
        if let Some(h) = self.health.get() {
            h.update(done.pending, !done.commits.is_empty());
        }
        self.store(&done.commits);
        (done.refused, done.changed)
    }

    fn store(&self, commits: &[(i32, i64)]) {
        if commits.is_empty() {
            return;
        }
        if let Err(e) = self
            .consumer
            .store_offsets(&offsets_list(&self.topic, commits))
        {
            // A partition revoked in between: its new owner re-reads.
            tracing::debug!(consumer = self.index, error = %e, "store_offsets failed");
        }
    }

    fn set_paused(&mut self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let result = if pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if let Err(e) = result {
            tracing::warn!(consumer = self.index, error = %e, pause, "pause/resume failed");
            return;
        }
        let was = self.flow.paused();
        if pause != was && self.flow.outage().is_none() {
            tracing::info!(
                consumer = self.index,
                partitions = assignment.count(),
                "{}",
                if pause {
                    "backpressure: partitions paused"
                } else {
                    "partitions resumed"
                }
            );
        }
        if pause != was {
            if pause {
                self.metrics.paused.inc()
            } else {
                self.metrics.paused.dec()
            }
        }
        self.flow.set_paused(pause);
    }

    /// A record read: decoded and offered, or dead-lettered.
    fn handle(&self, message: &BorrowedMessage<'_>) {
        self.metrics.consumed.inc();
        let (partition, offset) = (message.partition(), message.offset());
        match P::Item::decode(message.key(), message.payload()) {
            Ok(value) => {
                let n = lock(&self.state).offer(partition, offset, message.payload_len(), value);
                if n > 0 {
                    self.metrics.processed.inc_by(n as u64);
                }
            }
            Err(failure) => {
                let epoch = lock(&self.state).tracker.consumed(partition, offset);
                if !self.dead_letters.send(message, epoch, failure) {
                    // No DLQ for this worker: skip and count.
                    let n = lock(&self.state).tracker.done(partition, epoch, &[offset]);
                    self.metrics.processed.inc_by(n as u64);
                }
            }
        }
    }
}
