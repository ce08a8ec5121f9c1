//! loadgen: realistic GameMessage v1 traffic for Parley.
//!
//! Produces to `game-messages` (key = room) with an idempotent `acks=all`
//! producer: N games, rooms with Zipf-like popularity, users of each game,
//! short multilingual chat lines, joins, leaves and system messages. It can
//! inject labelled incidents (floods, repetition, copy-paste spam, link spam,
//! caps, toxicity, raids) and malformed records, and write the ground truth
//! of every record to `--truth` as JSON lines.
//!
//! Steps: [`traffic::TrafficGenerator`] (pure, seeded) → pacing →
//! [`producer::ChatProducer`] → delivery counts → [`Summary`].

pub mod config;
pub mod corpus;
pub mod incidents;
pub mod malformed;
pub mod producer;
pub mod traffic;
pub mod world;

use std::fs::File;
use std::future::Future;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::error::KafkaError;
use serde::Serialize;

pub use config::LoadgenConfig;
use producer::ChatProducer;
use traffic::{TrafficCounts, TrafficGenerator, TrafficSettings};
use world::World;

/// How long to wait at the end for the brokers to acknowledge what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// Why loadgen stopped without producing everything.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// A flag is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The brokers did not answer.
    #[error("cannot reach Kafka: {0}")]
    Unreachable(KafkaError),
    /// The topic does not exist (auto-creation is off in Parley's stack).
    #[error("topic {0:?} does not exist; create it first (deploy/local/stack.sh up creates the standard topics)")]
    UnknownTopic(String),
    /// The producer failed.
    #[error("Kafka producer error: {0}")]
    Kafka(#[from] KafkaError),
    /// The truth file could not be written.
    #[error("cannot write truth file: {0}")]
    Truth(#[from] std::io::Error),
    /// Some records were not acknowledged.
    #[error("{failed} of {total} records were not delivered (first error: {first_error})")]
    Undelivered {
        /// Records that failed.
        failed: u64,
        /// Records sent.
        total: u64,
        /// The first delivery error.
        first_error: String,
    },
    /// The producing thread died.
    #[error("producer thread failed: {0}")]
    Thread(String),
}

/// What a run produced, printed as one JSON line at the end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Topic produced to.
    pub topic: String,
    /// Seed used (pass it back with --seed to repeat the run).
    pub seed: u64,
    /// Records produced (valid + malformed).
    pub records: u64,
    /// Breakdown of the records.
    #[serde(flatten)]
    pub counts: TrafficCounts,
    /// Records acknowledged by the brokers.
    pub delivered: u64,
    /// Wall time from first send to last acknowledgement.
    pub seconds: f64,
    /// Acknowledged records per second.
    pub rate: f64,
    /// Payload bytes produced.
    pub bytes: u64,
}

/// Produces until --count, --duration or `shutdown`, then flushes.
pub async fn run(
    config: LoadgenConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, LoadgenError> {
    config.validate().map_err(LoadgenError::Config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker_stop = Arc::clone(&stop);
    let mut worker = tokio::task::spawn_blocking(move || produce(&config, &worker_stop));
    tokio::pin!(shutdown);
    let joined = tokio::select! {
        joined = &mut worker => joined,
        () = &mut shutdown => {
            tracing::info!("stopping: finishing queued records");
            stop.store(true, Ordering::Relaxed);
            worker.await
        }
    };
    joined.map_err(|e| LoadgenError::Thread(e.to_string()))?
}

fn produce(config: &LoadgenConfig, stop: &AtomicBool) -> Result<Summary, LoadgenError> {
    let seed = config.seed.unwrap_or_else(rand::random);
    let world = World::new(config.games, config.rooms, config.users)
        .map_err(|e| LoadgenError::Config(e.to_string()))?;
    let mut traffic = TrafficGenerator::new(
        world,
        TrafficSettings {
            seed,
            incidents: config.incidents.clone(),
            malformed_ratio: config.malformed_ratio,
        },
    );
    let producer = ChatProducer::connect(config.kafka.client_properties(), &config.topic)?;
    let mut truth = config
        .truth
        .as_ref()
        .map(|path| File::create(path).map(BufWriter::new))
        .transpose()?;
    tracing::info!(
        topic = %config.topic, seed, rate = config.rate, count = config.count,
        duration = ?config.duration, "producing"
    );

    let started = Instant::now();
    let start_ms = now_ms();
    let mut last_progress = (Instant::now(), 0u64);
    let (mut records, mut bytes) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        if config.count.is_some_and(|count| records >= count)
            || config.duration.is_some_and(|d| started.elapsed() >= d)
        {
            break;
        }
        pace(config.rate, records, started);
        let sent_at = match (config.time_span, config.count) {
            (Some(span), Some(count)) => {
                let span_ms = span.as_millis() as i64;
                start_ms - span_ms + (span_ms as f64 * records as f64 / count as f64) as i64
            }
            _ => now_ms(),
        };
        let record = traffic.next_record(sent_at);
        if let Some(out) = truth.as_mut() {
            serde_json::to_writer(&mut *out, &record.truth).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        producer.send(&record.key, &record.payload)?;
        records += 1;
        bytes += record.payload.len() as u64;
        if last_progress.0.elapsed() >= config.progress_interval {
            let window = last_progress.0.elapsed().as_secs_f64();
            tracing::info!(
                records,
                delivered = producer.deliveries().delivered(),
                failed = producer.deliveries().failed(),
                rate = ((records - last_progress.1) as f64 / window).round(),
                "progress"
            );
            last_progress = (Instant::now(), records);
        }
    }
    if let Some(out) = truth.as_mut() {
        out.flush()?;
    }
    producer.flush(FLUSH_TIMEOUT)?;
    let seconds = started.elapsed().as_secs_f64();
    let deliveries = producer.deliveries();
    if deliveries.failed() > 0 || deliveries.delivered() < records {
        return Err(LoadgenError::Undelivered {
            failed: records - deliveries.delivered(),
            total: records,
            first_error: deliveries
                .first_error()
                .unwrap_or_else(|| "flush timed out".into()),
        });
    }
    let summary = Summary {
        topic: config.topic.clone(),
        seed,
        records,
        counts: traffic.counts().clone(),
        delivered: deliveries.delivered(),
        seconds,
        rate: deliveries.delivered() as f64 / seconds.max(1e-9),
        bytes,
    };
    tracing::info!(
        records,
        delivered = summary.delivered,
        malformed = summary.counts.malformed,
        incidents = summary.counts.incidents,
        seconds = format!("{seconds:.2}"),
        rate = summary.rate.round(),
        "done"
    );
    Ok(summary)
}

/// Sleeps until record number `sent` is due at `rate` per second.
fn pace(rate: f64, sent: u64, started: Instant) {
    if rate <= 0.0 {
        return;
    }
    let due = Duration::from_secs_f64(sent as f64 / rate);
    let elapsed = started.elapsed();
    if due > elapsed + Duration::from_millis(1) {
        std::thread::sleep(due - elapsed);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
