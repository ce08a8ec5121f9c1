//! One consumer's loop, on its own thread: poll → decode → DLQ or submit →
//! apply completions → store durable offsets → pause/resume → repeat; then
//! drain on shutdown. A `BaseConsumer` polled from a dedicated thread keeps
//! clear of `StreamConsumer` wake-up stalls (rust-rdkafka #638/#665).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};

use super::context::{commit_sync, lock, offsets_list, LoopState, ParleyContext};
use super::pipeline::{Acks, Completion, Envelope, Pipeline, Progress};
use super::tracker::OffsetTracker;
use super::{Decode, RuntimeError, DLQ_TAG};
use crate::dlq::{DeadLetter, DeadLetterQueue};
use crate::health::ConsumerHealth;
use crate::metrics::RuntimeMetrics;
use crate::runtime::settings::ConsumerSettings;

/// How long one poll may block while records flow.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// While paused, how long to wait for a completion before polling again.
const PAUSED_WAIT: Duration = Duration::from_millis(20);
/// A pipeline refusing records for this long gets its partitions paused;
/// shorter stalls just wait (pausing purges librdkafka's prefetched records).
const PAUSE_AFTER: Duration = Duration::from_millis(500);
/// Bookkeeping (ticks, commits, health) runs at least this often, and at
/// once when a completion arrives; not on every record.
const BOOKKEEPING_EVERY: Duration = Duration::from_millis(5);

/// Everything one consumer thread needs.
pub(crate) struct ConsumerLoop<P: Pipeline> {
    pub index: usize,
    pub settings: ConsumerSettings,
    pub pipeline: P,
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

struct Running<P: Pipeline> {
    index: usize,
    topic: String,
    consumer: BaseConsumer<ParleyContext<P>>,
    state: Arc<Mutex<LoopState<P>>>,
    completions: Receiver<Completion>,
    carried: Vec<Completion>,
    acks: Acks,
    dlq: Option<DeadLetterQueue>,
    metrics: RuntimeMetrics,
    health: Arc<ConsumerHealthRef>,
    stop: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
    paused: bool,
    blocked_since: Option<Instant>,
    next_bookkeeping: Instant,
    turns_since_clock: u32,
    idle: bool,
    dead_letter_log: std::cell::Cell<(Instant, u64)>,
}

impl<P: Pipeline> ConsumerLoop<P>
where
    P::Item: Decode,
{
    /// Runs until `stop`, then drains for at most the drain timeout.
    pub fn run(self) -> Result<(), RuntimeError> {
        let state = Arc::new(Mutex::new(LoopState {
            tracker: OffsetTracker::new(),
            pipeline: self.pipeline,
            held: Default::default(),
            assignment_changed: false,
        }));
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
            acks: self.acks,
            dlq: self.dlq,
            metrics: self.metrics,
            health: self.health,
            stop: self.stop,
            runtime: self.runtime,
            paused: false,
            blocked_since: None,
            next_bookkeeping: Instant::now(),
            turns_since_clock: 0,
            idle: true,
            dead_letter_log: std::cell::Cell::new((Instant::now(), 0)),
        };
        let mut failure = None;
        while !running.stop.load(Ordering::Relaxed) {
            running.turn();
            failure = lock(&running.state).pipeline.failure();
            if failure.is_some() {
                break;
            }
        }
        if let Some(reason) = failure {
            tracing::error!(consumer = self.index, %reason, "pipeline failed; committing what is durable and stopping");
            running.commit_durable();
            if let Some(h) = running.health.get() {
                h.stopped();
            }
            return Err(RuntimeError::Pipeline(reason));
        }
        running.drain(self.settings.drain_timeout);
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
    /// One loop turn: bookkeeping, then one poll.
    fn turn(&mut self) {
        self.carried.extend(self.completions.try_iter());
        // Reading the clock on every record is measurable at 300k/s: while
        // records flow, look at it every 32 turns.
        self.turns_since_clock += 1;
        let blocked = self.blocked_since.is_some();
        if !(blocked || !self.carried.is_empty() || self.idle || self.turns_since_clock >= 32) {
            return self.poll_one();
        }
        self.turns_since_clock = 0;
        let now = Instant::now();
        if blocked || !self.carried.is_empty() || now >= self.next_bookkeeping {
            self.next_bookkeeping = now + BOOKKEEPING_EVERY;
            if let Some(h) = self.health.get() {
                h.polled();
            }
            let (refused, changed) = self.bookkeeping();
            if refused {
                let since = *self.blocked_since.get_or_insert(now);
                if now.duration_since(since) >= PAUSE_AFTER && (!self.paused || changed) {
                    self.set_paused(true);
                }
            } else {
                self.blocked_since = None;
                if self.paused {
                    self.set_paused(false);
                }
            }
        }
        self.poll_one();
    }

    /// Polls (or, under backpressure, waits for the sink) and handles what came.
    fn poll_one(&mut self) {
        let message = if self.paused {
            // Paused: keep polling (rebalances, heartbeats) while waiting.
            if let Ok(c) = self.completions.recv_timeout(PAUSED_WAIT) {
                self.carried.push(c);
            }
            self.consumer.poll(Duration::ZERO)
        } else if self.blocked_since.is_some() {
            // Backpressure, briefly: wait for the sink instead of reading on.
            if let Ok(c) = self.completions.recv_timeout(PAUSED_WAIT) {
                self.carried.push(c);
            }
            None
        } else {
            self.consumer.poll(POLL_TIMEOUT)
        };
        self.idle = message.is_none();
        match message {
            Some(Ok(message)) => self.handle(&message),
            Some(Err(e)) => tracing::warn!(consumer = self.index, error = %e, "consumer error"),
            None => {}
        }
    }

    /// Applies completions, ticks the pipeline, re-offers held records and
    /// stores committable offsets. Returns (records refused, assignment changed).
    fn bookkeeping(&mut self) -> (bool, bool) {
        let (commits, pending, should_pause, changed) = {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            let mut processed = 0;
            for c in self.carried.drain(..).chain(self.completions.try_iter()) {
                processed += state.tracker.done(c.partition, c.epoch, &c.offsets);
                if c.tag != DLQ_TAG {
                    state.pipeline.on_completion(&c);
                }
            }
            self.metrics.processed.inc_by(processed as u64);
            state.pipeline.tick(Instant::now());
            while let Some(env) = state.held.pop_front() {
                let (partition, offset, epoch) = (env.partition, env.offset, env.epoch);
                match state.pipeline.submit(env) {
                    Ok(Progress::Done) => {
                        let n = state.tracker.done(partition, epoch, &[offset]);
                        self.metrics.processed.inc_by(n as u64);
                    }
                    Ok(Progress::Pending) => {}
                    Err(env) => {
                        state.held.push_front(env);
                        break;
                    }
                }
            }
            let commits = state.tracker.take_committable();
            let changed = std::mem::take(&mut state.assignment_changed);
            (
                commits,
                state.tracker.pending(),
                !state.held.is_empty(),
                changed,
            )
        };
        if let Some(h) = self.health.get() {
            h.update(pending, !commits.is_empty());
        }
        self.store(&commits);
        (should_pause, changed)
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
        if pause != self.paused {
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
            if pause {
                self.metrics.paused.inc()
            } else {
                self.metrics.paused.dec()
            }
        }
        self.paused = pause;
    }

    fn handle(&self, message: &BorrowedMessage<'_>) {
        self.metrics.consumed.inc();
        let (partition, offset) = (message.partition(), message.offset());
        match P::Item::decode(message.key(), message.payload()) {
            Ok(value) => {
                let mut guard = lock(&self.state);
                let state = &mut *guard;
                let epoch = state.tracker.consumed(partition, offset);
                let envelope = Envelope {
                    partition,
                    offset,
                    epoch,
                    bytes: message.payload_len(),
                    value,
                };
                if !state.held.is_empty() {
                    state.held.push_back(envelope);
                    return;
                }
                match state.pipeline.submit(envelope) {
                    Ok(Progress::Done) => {
                        let n = state.tracker.done(partition, epoch, &[offset]);
                        self.metrics.processed.inc_by(n as u64);
                    }
                    Ok(Progress::Pending) => {}
                    Err(envelope) => state.held.push_back(envelope),
                }
            }
            Err(failure) => {
                let epoch = lock(&self.state).tracker.consumed(partition, offset);
                self.metrics
                    .dead_lettered
                    .with_label_values(&[failure.kind])
                    .inc();
                self.log_dead_letter(partition, offset, failure.kind, &failure.reason);
                let Some(dlq) = self.dlq.clone() else {
                    // No DLQ for this worker: skip and count.
                    let n = lock(&self.state).tracker.done(partition, epoch, &[offset]);
                    self.metrics.processed.inc_by(n as u64);
                    return;
                };
                let letter = DeadLetter {
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec),
                    source_topic: self.topic.clone(),
                    partition,
                    offset,
                    error: failure.reason,
                    kind: failure.kind.to_owned(),
                };
                let (acks, metrics, stop) = (
                    self.acks.clone(),
                    self.metrics.clone(),
                    Arc::clone(&self.stop),
                );
                self.runtime.spawn(async move {
                    let mut backoff = Duration::from_millis(100);
                    loop {
                        match dlq.send(&letter).await {
                            Ok(()) => break,
                            Err(e) => {
                                metrics.dlq_errors.inc();
                                tracing::warn!(partition, offset, error = %e, "DLQ produce failed; retrying");
                                if stop.load(Ordering::Relaxed) {
                                    return; // not acknowledged: re-read after restart
                                }
                                tokio::time::sleep(backoff).await;
                                backoff = (backoff * 2).min(Duration::from_secs(5));
                            }
                        }
                    }
                    acks.done(Completion { tag: DLQ_TAG, partition, epoch, offsets: vec![offset] });
                });
            }
        }
    }

    /// Logs bad records, at most one line a second (the metric counts all).
    fn log_dead_letter(&self, partition: i32, offset: i64, kind: &str, reason: &str) {
        let (since, count) = self.dead_letter_log.get();
        if since.elapsed() >= Duration::from_secs(1) {
            tracing::warn!(
                consumer = self.index,
                partition,
                offset,
                kind,
                reason,
                since_last_report = count + 1,
                "bad record dead-lettered"
            );
            self.dead_letter_log.set((Instant::now(), 0));
        } else {
            self.dead_letter_log.set((since, count + 1));
        }
    }

    /// Shutdown: flush everything, wait for completions until the deadline,
    /// commit what is durable. Held (never submitted) records stay uncommitted.
    fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let held = {
            let mut state = lock(&self.state);
            state.pipeline.flush_all();
            state.held.len()
        };
        if let Ok(assignment) = self.consumer.assignment() {
            let _ = self.consumer.pause(&assignment);
        }
        loop {
            self.bookkeeping();
            let pending = lock(&self.state).tracker.pending();
            if pending <= held || Instant::now() >= deadline {
                if pending > held {
                    tracing::warn!(
                        consumer = self.index,
                        pending,
                        "drain deadline reached; uncommitted records will be read again"
                    );
                }
                break;
            }
            if let Ok(c) = self.completions.recv_timeout(Duration::from_millis(20)) {
                self.carried.push(c);
            }
            let _ = self.consumer.poll(Duration::ZERO);
        }
        self.commit_durable();
    }

    /// Commits every partition's durable position now.
    fn commit_durable(&mut self) {
        self.bookkeeping();
        let commits = lock(&self.state).tracker.all_committable();
        commit_sync(
            &self.consumer,
            &self.topic,
            &commits,
            self.index,
            "at shutdown",
        );
    }
}
