//! The `kafka-latency` subcommand: the floor under every WebSocket
//! latency. A bare consumer reads the replayed topic and records
//! now − `sent_at` per record, i.e. what producer batching, the broker and
//! fetching cost before any server under test sees a record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use crate::config::KafkaLatencyConfig;
use crate::latency::{LatencyHistogram, LatencySummary};

/// What the consumer saw, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct KafkaLatencySummary {
    /// Topic read.
    pub topic: String,
    /// Records with a `sent_at`.
    pub records: u64,
    /// now − `sent_at` at consume time, ms.
    pub latency_ms: LatencySummary,
}

/// The `sent_at` of a GameMessage or of a Centrifugo publish command.
pub fn sent_at_of(value: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Data {
        sent_at: i64,
    }
    #[derive(serde::Deserialize)]
    struct Payload {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Record {
        #[serde(default)]
        sent_at: Option<i64>,
        #[serde(default)]
        payload: Option<Payload>,
    }
    let record: Record = serde_json::from_slice(value).ok()?;
    record.sent_at.or(record.payload.map(|p| p.data.sent_at))
}

fn consume(config: &KafkaLatencyConfig, stop: &AtomicBool) -> anyhow::Result<KafkaLatencySummary> {
    let group = format!(
        "ws-loadclient-latency-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .context("create consumer")?;
    // Assigned, not subscribed: no group join delays the first records.
    let metadata = consumer
        .fetch_metadata(Some(&config.topic), Duration::from_secs(15))
        .context("fetch metadata")?;
    let mut assignment = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| t.name() == config.topic)
    {
        for p in topic.partitions() {
            assignment.add_partition_offset(&config.topic, p.id(), Offset::Beginning)?;
        }
    }
    if assignment.count() == 0 {
        anyhow::bail!("topic {:?} does not exist", config.topic);
    }
    consumer.assign(&assignment).context("assign")?;
    let histogram = LatencyHistogram::new();
    let deadline = Instant::now() + config.duration;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.context("consume")?;
        if let Some(sent_at) = message.payload().and_then(sent_at_of) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            histogram.record(now - sent_at);
        }
    }
    Ok(KafkaLatencySummary {
        topic: config.topic.clone(),
        records: histogram.count(),
        latency_ms: histogram.summary(),
    })
}

/// Consumes until `--duration` or `shutdown`, then returns the summary.
pub async fn run(
    config: KafkaLatencyConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<KafkaLatencySummary> {
    crate::run_blocking_until(
        "consumer thread",
        move |stop| consume(&config, stop),
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_at_of_both_formats() {
        assert_eq!(sent_at_of(br#"{"sent_at":5,"room_id":"r"}"#), Some(5));
        assert_eq!(
            sent_at_of(br#"{"method":"publish","payload":{"channel":"c","data":{"sent_at":7}}}"#),
            Some(7)
        );
        assert_eq!(sent_at_of(b"junk"), None);
    }
}
