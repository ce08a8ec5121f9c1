//! The consumer runtime every worker uses: subscribe, poll, decode, DLQ,
//! backpressure, commit-after-work, rebalances, shutdown, metrics, health.
//! A worker supplies its [`Pipeline`] and, if it batches into a store, a
//! [`sink_driver::Sink`].
//!
//! A record's path, and the file of each step:
//!
//! 1. **poll**: `consumer/mod.rs`, one thread per consumer polling a
//!    `BaseConsumer`; rebalance and statistics callbacks in `context.rs`.
//! 2. **decode**: [`Decode`] (this file); a record that does not decode is
//!    dead-lettered unchanged (`consumer/dead_letter.rs`).
//! 3. **pipeline**: the worker's [`Pipeline::submit`] gets an [`Envelope`];
//!    it is done at once, pending, or handed back (backpressure: held and
//!    offered again in order, `state.rs`; partitions paused after a while,
//!    `flow.rs`).
//! 4. **batch keeper**: [`batch_keeper::BatchKeeper`], the worker's open
//!    batches by key, sealed by rows, bytes or age, dropped on revoke.
//! 5. **sink driver**: [`sink_driver::SinkDriver`] writes sealed batches
//!    through the worker's [`sink_driver::Sink`]: in-flight cap, retryable
//!    errors reported as a sink outage and retried (in place, or by reading
//!    the records again), permanent errors bisected into the DLQ.
//! 6. **acks**: a [`Completion`] per partition and epoch through [`Acks`].
//! 7. **tracker**: [`tracker::OffsetTracker`] finds the durable prefix of
//!    each partition (`state.rs` applies completions to it).
//! 8. **commit**: the loop stores the durable offsets; librdkafka commits
//!    them in the background, on revoke and on close.
//!
//! Everything the loop decides without Kafka (offer/hold, completions,
//! assign/revoke, the outage's reset and rewind, when to pause or resume)
//! is in `state.rs` and `flow.rs` with unit tests; [`testing`] builds a
//! [`PipelineContext`] without a broker for the workers' own tests.
//!
//! Delivery: at-least-once. A record's offset is stored for commit only when
//! it and every record before it in its partition are durable. On revoke,
//! buffered work of those partitions is dropped and what is durable is
//! committed; the next owner re-reads the rest. On SIGTERM: stop taking
//! records, flush, wait up to `--drain-timeout`, commit, exit.
//!
//! A failing sink, one model for every worker: the sink driver reports the
//! outage on the consumer's [`SinkStatus`] (`sink_status.rs`); the consumer
//! pauses its partitions and `/healthz` says why until a write succeeds
//! again, then it resumes (`consumer/outage.rs`). A sink whose failed write
//! lost unfinished work ([`Recovery::Rewind`]) has everything not durable
//! dropped meanwhile and read again from the durable position.

pub mod batch_keeper;
mod consumer;
mod context;
mod flow;
mod groups;
pub mod pipeline;
pub mod settings;
pub mod sink_driver;
pub mod sink_status;
mod state;
pub mod testing;
pub mod tracker;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

pub use groups::GroupSet;
pub use pipeline::{Acks, Completion, Envelope, Pipeline, PipelineError, Progress};
pub use settings::{
    ActionsArgs, CompanionFlags, ConsumerArgs, ConsumerSettings, StartFrom, WorkerIdentity,
};
pub use sink_status::{Recovery, SinkStatus};

use crate::dlq::DeadLetterQueue;
use crate::health::Health;
use crate::metrics::RuntimeMetrics;
use crate::GameMessage;

/// Completion tag the runtime uses for its own DLQ writes.
pub const DLQ_TAG: u64 = u64::MAX;

/// Why a record could not be decoded: the DLQ `error.kind` and `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// `parse`, `schema`, `too-large`…
    pub kind: &'static str,
    /// One human-readable line.
    pub reason: String,
}

/// A record type the runtime can decode from a Kafka key and payload.
pub trait Decode: Sized + Send + 'static {
    /// Decodes and validates, or says why not.
    fn decode(key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Self, DecodeFailure>;
}

impl Decode for GameMessage {
    fn decode(key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Self, DecodeFailure> {
        GameMessage::decode_record(key, payload).map_err(|e| DecodeFailure {
            kind: e.kind().as_str(),
            reason: e.to_string(),
        })
    }
}

impl Decode for crate::action::ModerationAction {
    fn decode(_key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Self, DecodeFailure> {
        crate::action::ModerationAction::decode_record(payload).map_err(|e| DecodeFailure {
            kind: e.kind(),
            reason: e.to_string(),
        })
    }
}

/// What a pipeline gets when it is built, one per consumer.
#[derive(Clone)]
pub struct PipelineContext {
    /// Which consumer of this process (0-based).
    pub consumer: usize,
    /// Where to report durable offsets.
    pub acks: Acks,
    /// The DLQ, for records a sink rejects for good.
    pub dlq: Option<DeadLetterQueue>,
    /// Process metrics.
    pub metrics: RuntimeMetrics,
    /// The tokio runtime, for the pipeline's async work.
    pub runtime: tokio::runtime::Handle,
    /// Topic consumed.
    pub topic: String,
    /// Set when shutdown begins (retry loops give up and leave records uncommitted).
    pub stopping: Arc<AtomicBool>,
    /// The sink's state, reported by the pipeline's sink driver and acted on
    /// by the consumer (pause, `/healthz`, resume).
    pub sink: SinkStatus,
}

/// Why the runtime could not run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A Kafka client could not be created or subscribed.
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The brokers did not answer a metadata request.
    #[error("cannot reach Kafka at {brokers}: {source}")]
    Unreachable {
        /// Bootstrap servers tried.
        brokers: String,
        /// What librdkafka said.
        source: KafkaError,
    },
    /// The topic to consume does not exist.
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// The metrics address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    MetricsBind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// A consumer thread panicked.
    #[error("consumer thread {0} panicked")]
    Panicked(usize),
    /// A pipeline failed in a way it cannot recover from in place (a
    /// restart may help; retrying in place cannot).
    #[error("pipeline failed: {0}")]
    Pipeline(#[from] PipelineError),
}

/// Runs `settings.concurrency` consumers of one group, each with its own
/// pipeline from `make_pipeline`, until `shutdown` resolves; then drains.
/// Serves `/metrics` and `/healthz` on `settings.metrics_addr` meanwhile.
pub async fn run<P, F>(
    settings: ConsumerSettings,
    metrics: RuntimeMetrics,
    make_pipeline: F,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RuntimeError>
where
    P: Pipeline,
    P::Item: Decode,
    F: Fn(PipelineContext) -> P,
{
    let health = Health::new(settings.concurrency.get(), settings.stall_timeout);
    let server = serve_telemetry(&settings, &metrics, &health).await?;
    let result = consume(
        settings,
        metrics,
        HealthSlots::new(health, 0),
        make_pipeline,
        shutdown,
    )
    .await;
    server.stop().await;
    result
}

/// The `/metrics` + `/healthz` server of a process, stopped with [`Self::stop`].
pub struct TelemetryServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TelemetryServer {
    /// Stops serving and waits for the server task.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Binds the metrics address (failing fast if taken) and serves `metrics`
/// and `health` there.
pub async fn serve_telemetry(
    settings: &ConsumerSettings,
    metrics: &RuntimeMetrics,
    health: &Health,
) -> Result<TelemetryServer, RuntimeError> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = crate::http::serve(
        settings.metrics_addr,
        metrics.clone(),
        health.clone(),
        async {
            let _ = stopped.await;
        },
    )
    .await
    .map_err(|source| RuntimeError::MetricsBind {
        addr: settings.metrics_addr,
        source,
    })?;
    Ok(TelemetryServer { stop, task })
}

/// Which slots of a process-wide [`Health`] a group's consumers report to:
/// `first .. first + concurrency`.
#[derive(Clone)]
pub struct HealthSlots {
    health: Health,
    first: usize,
}

impl HealthSlots {
    /// Slots starting at `first` (size the `Health` for every group).
    pub fn new(health: Health, first: usize) -> Self {
        HealthSlots { health, first }
    }
}

/// Runs the consumers of one group, like [`run`] but without serving
/// telemetry, for processes that consume more than one topic (they serve
/// one [`serve_telemetry`] and size one [`Health`] for all their groups).
pub async fn consume<P, F>(
    settings: ConsumerSettings,
    metrics: RuntimeMetrics,
    slots: HealthSlots,
    make_pipeline: F,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RuntimeError>
where
    P: Pipeline,
    P::Item: Decode,
    F: Fn(PipelineContext) -> P,
{
    check_topic(&settings).await?;
    let dlq = match &settings.dlq_topic {
        Some(topic) => Some(DeadLetterQueue::new(
            &settings.client_properties,
            topic,
            settings.worker,
        )?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));

    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut threads = Vec::new();
    for index in 0..settings.concurrency.get() {
        let (acks, completions) = Acks::channel();
        let context = PipelineContext {
            consumer: index,
            acks: acks.clone(),
            dlq: dlq.clone(),
            metrics: metrics.clone(),
            runtime: tokio::runtime::Handle::current(),
            topic: settings.topic.clone(),
            stopping: Arc::clone(&stop),
            sink: SinkStatus::new(),
        };
        let sink = context.sink.clone();
        let consumer_loop = consumer::ConsumerLoop {
            index,
            settings: settings.clone(),
            pipeline: make_pipeline(context),
            sink,
            acks,
            completions,
            dlq: dlq.clone(),
            metrics: metrics.clone(),
            health: Arc::new(consumer::ConsumerHealthRef {
                health: slots.health.clone(),
                index: slots.first + index,
            }),
            stop: Arc::clone(&stop),
            runtime: tokio::runtime::Handle::current(),
        };
        let done = done_tx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("{}-consumer-{index}", settings.worker))
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| consumer_loop.run()))
                        .unwrap_or(Err(RuntimeError::Panicked(index)));
                let _ = done.send((index, result));
            })
            .map_err(|_| RuntimeError::Panicked(index))?;
        threads.push(thread);
    }
    drop(done_tx);

    tokio::pin!(shutdown);
    let mut first_error = None;
    let mut finished = 0;
    tokio::select! {
        () = &mut shutdown => tracing::info!("shutting down: draining in-flight work"),
        Some((index, result)) = done_rx.recv() => {
            finished += 1;
            if let Err(e) = result {
                tracing::error!(consumer = index, error = %e, "consumer stopped");
                first_error = Some(e);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    while finished < threads.len() {
        match tokio::time::timeout(
            settings.drain_timeout + Duration::from_secs(15),
            done_rx.recv(),
        )
        .await
        {
            Ok(Some((index, result))) => {
                finished += 1;
                if let Err(e) = result {
                    tracing::error!(consumer = index, error = %e, "consumer failed");
                    first_error.get_or_insert(e);
                }
            }
            Ok(None) => break,
            Err(_) => {
                tracing::error!("consumers did not stop in time");
                break;
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
    }
}

/// Fails fast, with a clear message, when Kafka is unreachable or the topic
/// (or the DLQ topic) is missing; returns the topic's partition count.
pub async fn check_topic(settings: &ConsumerSettings) -> Result<usize, RuntimeError> {
    let properties = settings.client_properties.clone();
    let brokers = properties
        .get("bootstrap.servers")
        .cloned()
        .unwrap_or_default();
    let topics: Vec<String> = std::iter::once(settings.topic.clone())
        .chain(settings.dlq_topic.clone())
        .collect();
    let wanted = topics.clone();
    let result = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = crate::config::client_config(&properties).create()?;
        wanted
            .iter()
            .map(|topic| {
                crate::topics::partition_count(
                    consumer.client(),
                    topic,
                    Duration::from_secs(15),
                    crate::topics::TOPIC_GRACE,
                )
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| RuntimeError::Panicked(usize::MAX))?;
    let counts = result.map_err(|source| RuntimeError::Unreachable { brokers, source })?;
    let mut partitions = Vec::new();
    for (topic, count) in topics.iter().zip(counts) {
        match count {
            Some(n) => partitions.push(n),
            None => return Err(RuntimeError::UnknownTopic(topic.clone())),
        }
    }
    Ok(partitions.first().copied().unwrap_or(1))
}
