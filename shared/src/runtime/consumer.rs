//! One consumer's loop, on its own thread: poll → decode → DLQ or submit →
//! apply completions → store durable offsets → pause/resume → repeat; then
//! drain on shutdown. A `BaseConsumer` polled from a dedicated thread keeps
//! clear of `StreamConsumer` wake-up stalls (rust-rdkafka #638/#665).
//!
//! A sink outage ([`Pipeline::sink_fault`]): pause every partition, have the
//! pipeline drop what is not durable, forget those records (new epochs) and
//! remember where each partition must be read again, commit what is
//! durable, report unhealthy; then try [`Pipeline::recover`] with backoff,
//! and when it succeeds seek back, resume and report healthy. One log line
//! when the sink fails and one when it recovers, not one per try.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};

use super::context::{lock, offsets_list, store_for_commit, LoopState, ParleyContext};
use super::outage::{Backoff, Outage};
use super::pipeline::{Acks, Completion, Envelope, Pipeline, Progress};
use super::tracker::OffsetTracker;
use super::{Decode, RuntimeError, DLQ_TAG};
use crate::dlq::{DeadLetter, DeadLetterQueue};
use crate::health::ConsumerHealth;
use crate::metrics::RuntimeMetrics;
use crate::retry::{retry, Verdict};
use crate::runtime::settings::ConsumerSettings;

/// How long one poll may block when the last one found nothing. While
/// records flow the next poll does not wait at all: librdkafka then reads
/// no clock, which at 300k records/s was ~3% of a worker's CPU.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// While paused, how long to wait for a completion before polling again.
const PAUSED_WAIT: Duration = Duration::from_millis(20);
/// A pipeline refusing records for this long gets its partitions paused;
/// shorter stalls just wait (pausing purges librdkafka's prefetched records).
const PAUSE_AFTER: Duration = Duration::from_millis(500);
/// Bookkeeping (ticks, commits, health) runs at least this often, and at
/// once when a completion arrives; not on every record.
const BOOKKEEPING_EVERY: Duration = Duration::from_millis(5);
/// How long a seek back to the durable position may take after an outage.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping consumer waits for its partitions to be released.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The sink outage in progress, if any.
    outage: Option<Outage>,
    /// Delays between tries of a failed sink.
    backoff: Backoff,
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
            rewind: HashMap::new(),
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
            outage: None,
            backoff: Backoff::sink_outage(),
        };
        let mut failure = None;
        while !running.stop.load(Ordering::Relaxed) {
            running.turn();
            let fault = {
                let state = lock(&running.state);
                failure = state.pipeline.failure();
                match running.outage {
                    None => state.pipeline.sink_fault(),
                    Some(_) => None,
                }
            };
            if failure.is_some() {
                break;
            }
            match fault {
                Some(reason) => running.sink_failed(reason),
                None if running.outage.is_some() => running.retry_sink(),
                None => {}
            }
        }
        if let Some(reason) = failure {
            tracing::error!(consumer = self.index, %reason, "pipeline failed; committing what is durable and stopping");
            running.store_durable();
            running.leave_group();
            if let Some(h) = running.health.get() {
                h.stopped();
            }
            return Err(RuntimeError::Pipeline(reason));
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
            if self.outage.is_some() {
                if changed || !self.paused {
                    self.set_paused(true);
                }
            } else if refused {
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
        } else if self.idle {
            self.consumer.poll(POLL_TIMEOUT)
        } else {
            self.consumer.poll(Duration::ZERO)
        };
        self.idle = message.is_none();
        match message {
            Some(Ok(message)) if self.outage.is_some() => self.skip(&message),
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
            apply_completions(&mut self.carried, &self.completions, &self.metrics, state);
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
                state
                    .tracker
                    .pending()
                    .saturating_sub(state.pipeline.retained()),
                !state.held.is_empty(),
                changed,
            )
        };
        if let Some(h) = self.health.get() {
            h.update(pending, !commits.is_empty());
        }
        if !commits.is_empty() && self.outage.is_none() {
            self.backoff.reset();
        }
        self.store(&commits);
        (should_pause, changed)
    }

    /// The sink fails: pause, drop what is not durable, remember where to
    /// read again, commit what is durable, report unhealthy.
    fn sink_failed(&mut self, reason: String) {
        let now = Instant::now();
        let retry_in = self.backoff.next_delay();
        self.outage = Some(Outage {
            reason: reason.clone(),
            since: now,
            retry_at: now + retry_in,
        });
        self.set_paused(true);
        let commits = {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            // Work that finished before the reset is durable: count it first.
            state.pipeline.reset();
            state.held.clear();
            apply_completions(&mut self.carried, &self.completions, &self.metrics, state);
            for (partition, offset) in state.tracker.rewind() {
                let start = state.rewind.entry(partition).or_insert(offset);
                *start = (*start).min(offset);
            }
            state.tracker.all_committable()
        };
        if let Some(h) = self.health.get() {
            h.set_sink_fault(Some(&reason));
            h.update(0, false);
        }
        tracing::error!(
            consumer = self.index,
            %reason,
            ?retry_in,
            "sink failing: partitions paused, unfinished work dropped; trying again with backoff"
        );
        store_for_commit(
            &self.consumer,
            &self.topic,
            &commits,
            self.index,
            "as the sink failed",
        );
    }

    /// During an outage, when due: tries the sink; if it works, seeks every
    /// partition back to where reading must start again and resumes.
    fn retry_sink(&mut self) {
        let now = Instant::now();
        if self.outage.as_ref().is_none_or(|o| now < o.retry_at) {
            return;
        }
        let partitions: Vec<i32> = self
            .consumer
            .assignment()
            .map(|tpl| {
                tpl.elements_for_topic(&self.topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect()
            })
            .unwrap_or_default();
        let recovered = lock(&self.state).pipeline.recover(&partitions);
        let seeks = recovered.and_then(|starts| {
            let mut seeks = lock(&self.state).rewind.clone();
            seeks.extend(starts);
            seeks.retain(|p, _| partitions.contains(p));
            self.seek(&seeks)
                .map_err(|e| format!("cannot seek back to the durable position: {e}"))
        });
        match seeks {
            Ok(()) => {
                lock(&self.state).rewind.clear();
                self.set_paused(false);
                let outage = self.outage.take();
                if let Some(h) = self.health.get() {
                    h.set_sink_fault(None);
                }
                tracing::info!(
                    consumer = self.index,
                    down_for = ?outage.map(|o| o.since.elapsed()).unwrap_or_default(),
                    "sink recovered: partitions resumed from the durable position"
                );
            }
            Err(reason) => {
                let retry_in = self.backoff.next_delay();
                let Some(outage) = self.outage.as_mut() else {
                    return;
                };
                outage.retry_at = now + retry_in;
                if reason != outage.reason {
                    tracing::warn!(consumer = self.index, %reason, ?retry_in, "sink still failing");
                    if let Some(h) = self.health.get() {
                        h.set_sink_fault(Some(&reason));
                    }
                    outage.reason = reason;
                } else {
                    tracing::debug!(consumer = self.index, %reason, ?retry_in, "sink still failing");
                }
            }
        }
    }

    /// Seeks partitions (paused or not) to the given offsets.
    fn seek(&self, offsets: &HashMap<i32, i64>) -> KafkaResult<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let list: Vec<(i32, i64)> = offsets.iter().map(|(&p, &o)| (p, o)).collect();
        let result = self
            .consumer
            .seek_partitions(offsets_list(&self.topic, &list), SEEK_TIMEOUT)?;
        result.elements().iter().try_for_each(|e| e.error())
    }

    /// During an outage a record is not taken: its partition is read again
    /// from it (or from an earlier record) after recovery.
    fn skip(&self, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        let mut state = lock(&self.state);
        let start = state.rewind.entry(partition).or_insert(offset);
        *start = (*start).min(offset);
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
        if pause != self.paused && self.outage.is_none() {
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
        if pause != self.paused {
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
                    let sent = retry(
                        &mut Backoff::produce(),
                        &*stop,
                        || dlq.send(&letter),
                        |e, _| {
                            metrics.dlq_errors.inc();
                            tracing::warn!(partition, offset, error = %e, "DLQ produce failed; retrying");
                            Verdict::Retry
                        },
                    )
                    .await;
                    if sent.is_err() {
                        return; // not acknowledged: re-read after restart
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
            let (pending, fault) = {
                let state = lock(&self.state);
                (
                    state
                        .tracker
                        .pending()
                        .saturating_sub(state.pipeline.retained()),
                    state.pipeline.sink_fault(),
                )
            };
            if let Some(reason) = fault {
                tracing::warn!(consumer = self.index, %reason, "sink failing while draining; unfinished records will be read again");
                break;
            }
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
        self.store_durable();
    }

    /// Before the consumer is closed: unsubscribes and polls until every
    /// partition is released (each revoke stores its durable offsets and
    /// librdkafka commits them), at most [`LEAVE_TIMEOUT`]. Closing a
    /// cooperative consumer straight away while the group rebalances (this
    /// process's other consumers leaving at the same time) can leave
    /// librdkafka's close waiting for ever (librdkafka #4527, the
    /// unsubscribe-first workaround).
    fn leave_group(&mut self) {
        self.consumer.unsubscribe();
        let deadline = Instant::now() + LEAVE_TIMEOUT;
        while Instant::now() < deadline {
            let assigned = self.consumer.assignment().map_or(0, |a| a.count());
            if assigned == 0 {
                return;
            }
            // Partitions are paused; a record still delivered is not taken
            // (its next owner reads it again).
            let _ = self.consumer.poll(Duration::from_millis(20));
        }
        tracing::warn!(consumer = self.index, timeout = ?LEAVE_TIMEOUT, "partitions not released in time; closing anyway");
    }

    /// Stores every partition's durable position; librdkafka commits it as
    /// the consumer closes and releases the partitions.
    fn store_durable(&mut self) {
        self.bookkeeping();
        let commits = lock(&self.state).tracker.all_committable();
        store_for_commit(
            &self.consumer,
            &self.topic,
            &commits,
            self.index,
            "at shutdown",
        );
    }
}

/// Marks the completions received so far (carried, then queued) in the tracker.
fn apply_completions<P: Pipeline>(
    carried: &mut Vec<Completion>,
    completions: &Receiver<Completion>,
    metrics: &RuntimeMetrics,
    state: &mut LoopState<P>,
) {
    let mut processed = 0;
    for c in carried.drain(..).chain(completions.try_iter()) {
        processed += state.tracker.done(c.partition, c.epoch, &c.offsets);
    }
    metrics.processed.inc_by(processed as u64);
}
