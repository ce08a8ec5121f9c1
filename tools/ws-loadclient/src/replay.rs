//! The `replay` subcommand: the same traffic for every server under test.
//!
//! loadgen fills a source topic once (`--rate 0 --count N --truth F`); each
//! benchmark run replays it to a fresh topic at a fixed rate with `sent_at`
//! restamped at send time, either as the GameMessage itself (Parley) or
//! wrapped in a Centrifugo server API publish command. Per-room order is
//! kept: partitions are merged by `sent_at` without reordering any of them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{ReplayConfig, ReplayFormat};
use crate::protocol::ROOM_NAMESPACE;

/// Kafka metadata and watermark timeout.
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for the last acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// One record read from the source topic.
struct Source {
    sent_at: i64,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
}

/// What a replay did, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct ReplaySummary {
    /// Source topic.
    pub from: String,
    /// Destination topic.
    pub to: String,
    /// Records read from the source.
    pub read: u64,
    /// Records produced.
    pub produced: u64,
    /// Records acknowledged.
    pub delivered: u64,
    /// Records not translatable (not a JSON object) and left out.
    pub skipped: u64,
    /// Seconds from first send to last acknowledgement.
    pub seconds: f64,
    /// Acknowledged records per second.
    pub rate: f64,
}

/// Reads `--from` entirely, then produces it to `--to` at `--rate`.
pub fn replay(config: &ReplayConfig, stop: &AtomicBool) -> anyhow::Result<ReplaySummary> {
    if !config.rate.is_finite() || config.rate <= 0.0 {
        anyhow::bail!("--rate must be positive");
    }
    let partitions = read_topic(config)?;
    let read: u64 = partitions.iter().map(|p| p.len() as u64).sum();
    eprintln!(
        "ws-loadclient replay: read {read} records from {}",
        config.from
    );
    let producer = connect_producer(config)?;
    let started = Instant::now();
    let (mut produced, mut skipped) = (0u64, 0u64);
    for record in merge_by_sent_at(partitions) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = Duration::from_secs_f64(produced as f64 / config.rate);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            thread::sleep(wait);
        }
        let Some(value) = translate(config.format, &record.value, now_ms()) else {
            skipped += 1;
            continue;
        };
        let mut out = BaseRecord::to(&config.to).payload(&value);
        if let Some(key) = record.key.as_deref() {
            out = out.key(key);
        }
        loop {
            match producer.send(out) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    out = back;
                    thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(e).context("produce"),
            }
        }
        produced += 1;
    }
    producer.flush(FLUSH_TIMEOUT).context("flush")?;
    let seconds = started.elapsed().as_secs_f64();
    let counts = producer.context();
    let delivered = counts.delivered.load(Ordering::Relaxed);
    if delivered < produced {
        anyhow::bail!(
            "{} of {produced} records were not delivered",
            produced - delivered
        );
    }
    Ok(ReplaySummary {
        from: config.from.clone(),
        to: config.to.clone(),
        read,
        produced,
        delivered,
        skipped,
        seconds,
        rate: delivered as f64 / seconds.max(1e-9),
    })
}

/// The record to produce for `value` in `format`, with `sent_at` set to
/// `now`; `None` when a Centrifugo command cannot be built from it.
pub fn translate(format: ReplayFormat, value: &[u8], now: i64) -> Option<Vec<u8>> {
    let mut message: Value = match serde_json::from_slice(value) {
        Ok(Value::Object(map)) => Value::Object(map),
        // Malformed records reach Parley untouched (it dead-letters them).
        _ if format == ReplayFormat::Parley => return Some(value.to_vec()),
        _ => return None,
    };
    message["sent_at"] = json!(now);
    match format {
        ReplayFormat::Parley => serde_json::to_vec(&message).ok(),
        ReplayFormat::Centrifugo => {
            let room = message.get("room_id")?.as_str()?;
            let namespace = match message.get("visibility").and_then(Value::as_str) {
                Some("moderators") => "mods:",
                _ => ROOM_NAMESPACE,
            };
            let channel = format!("{namespace}{room}");
            serde_json::to_vec(
                &json!({"method": "publish", "payload": {"channel": channel, "data": message}}),
            )
            .ok()
        }
    }
}

/// Merges per-partition sequences by `sent_at`, never reordering within
/// one partition (ties go to the lower partition).
fn merge_by_sent_at(partitions: Vec<Vec<Source>>) -> impl Iterator<Item = Source> {
    let mut iters: Vec<std::vec::IntoIter<Source>> =
        partitions.into_iter().map(Vec::into_iter).collect();
    let mut heads: Vec<Option<Source>> = iters.iter_mut().map(Iterator::next).collect();
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = heads
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.as_ref().map(|s| Reverse((s.sent_at, i))))
        .collect();
    std::iter::from_fn(move || {
        let Reverse((_, i)) = heap.pop()?;
        let record = heads[i].take()?;
        heads[i] = iters[i].next();
        if let Some(next) = &heads[i] {
            heap.push(Reverse((next.sent_at, i)));
        }
        Some(record)
    })
}

fn read_topic(config: &ReplayConfig) -> anyhow::Result<Vec<Vec<Source>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", "ws-loadclient-replay")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("create consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&config.from), METADATA_TIMEOUT)
        .context("fetch metadata")?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == config.from && !t.partitions().is_empty())
        .with_context(|| format!("topic {:?} does not exist", config.from))?;
    let mut assignment = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in topic.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(&config.from, p.id(), METADATA_TIMEOUT)
            .context("fetch watermarks")?;
        assignment.add_partition_offset(&config.from, p.id(), Offset::Offset(low))?;
        ends.push((p.id(), high, low >= high));
    }
    consumer.assign(&assignment).context("assign")?;
    let mut partitions: Vec<Vec<Source>> = ends.iter().map(|_| Vec::new()).collect();
    let deadline = Instant::now() + config.read_timeout;
    while ends.iter().any(|(_, _, done)| !done) {
        if Instant::now() > deadline {
            anyhow::bail!("reading {} took longer than --read-timeout", config.from);
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.context("consume")?;
        let Some(slot) = ends
            .iter()
            .position(|(id, _, _)| *id == message.partition())
        else {
            continue;
        };
        let value = message.payload().unwrap_or_default().to_vec();
        partitions[slot].push(Source {
            sent_at: sent_at_of(&value),
            key: message.key().map(<[u8]>::to_vec),
            value,
        });
        if message.offset() + 1 >= ends[slot].1 {
            ends[slot].2 = true;
        }
    }
    Ok(partitions)
}

/// `sent_at` of a record, 0 when it has none (malformed records).
fn sent_at_of(value: &[u8]) -> i64 {
    #[derive(serde::Deserialize)]
    struct SentAt {
        sent_at: i64,
    }
    serde_json::from_slice::<SentAt>(value)
        .map(|s| s.sent_at)
        .unwrap_or(0)
}

/// Counts acknowledgements.
#[derive(Default)]
struct Acks {
    delivered: AtomicU64,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if result.is_ok() {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A producer with loadgen's settings, so every server gets the same path.
fn connect_producer(config: &ReplayConfig) -> anyhow::Result<ThreadedProducer<Acks>> {
    let producer: ThreadedProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "ws-loadclient-replay")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "10")
        .set("compression.type", "lz4")
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "120000")
        .create_with_context(Acks::default())
        .context("create producer")?;
    let metadata = producer
        .client()
        .fetch_metadata(Some(&config.to), METADATA_TIMEOUT)
        .context("fetch metadata")?;
    if !metadata
        .topics()
        .iter()
        .any(|t| t.name() == config.to && !t.partitions().is_empty() && t.error().is_none())
    {
        anyhow::bail!("topic {:?} does not exist; create it first", config.to);
    }
    Ok(producer)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs [`replay`] on a blocking thread until done or `shutdown`.
pub async fn run(
    config: ReplayConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ReplaySummary> {
    crate::run_blocking_until("replay thread", move |stop| replay(&config, stop), shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(sent_at: i64, tag: &str) -> Source {
        Source {
            sent_at,
            key: None,
            value: tag.as_bytes().to_vec(),
        }
    }

    #[test]
    fn merge_keeps_partition_order() {
        let merged: Vec<String> = merge_by_sent_at(vec![
            vec![source(1, "a1"), source(5, "a2"), source(3, "a3")],
            vec![source(2, "b1"), source(4, "b2")],
        ])
        .map(|s| String::from_utf8_lossy(&s.value).into_owned())
        .collect();
        assert_eq!(merged, ["a1", "b1", "b2", "a2", "a3"]);
    }

    #[test]
    fn translation() {
        let msg = br#"{"v":1,"message_id":"m","room_id":"g:eu-1","sent_at":1,"content":"hi"}"#;
        let parley: Value =
            serde_json::from_slice(&translate(ReplayFormat::Parley, msg, 99).expect("parley"))
                .expect("json");
        assert_eq!(parley["sent_at"], 99);
        assert_eq!(parley["content"], "hi");
        let cmd: Value = serde_json::from_slice(
            &translate(ReplayFormat::Centrifugo, msg, 99).expect("centrifugo"),
        )
        .expect("json");
        assert_eq!(cmd["method"], "publish");
        assert_eq!(cmd["payload"]["channel"], "room:g:eu-1");
        assert_eq!(cmd["payload"]["data"]["sent_at"], 99);
        let hidden = br#"{"message_id":"m","room_id":"r","sent_at":1,"visibility":"moderators"}"#;
        let cmd: Value = serde_json::from_slice(
            &translate(ReplayFormat::Centrifugo, hidden, 5).expect("centrifugo"),
        )
        .expect("json");
        assert_eq!(cmd["payload"]["channel"], "mods:r");
        assert_eq!(
            translate(ReplayFormat::Parley, b"\xff junk", 5).as_deref(),
            Some(&b"\xff junk"[..])
        );
        assert_eq!(translate(ReplayFormat::Centrifugo, b"junk", 5), None);
        assert_eq!(sent_at_of(msg), 1);
        assert_eq!(sent_at_of(b"junk"), 0);
    }
}
