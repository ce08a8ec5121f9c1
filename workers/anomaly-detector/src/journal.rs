//! The incident journal: the alert topic read back. Every alert record
//! carries its incident's key in the [`INCIDENT_HEADER`] header; at start
//! the journal reads the alerts of the last `lookback` (before any message
//! is evaluated), then follows the topic, telling [`Incidents`] which
//! incidents exist and how far their evidence goes. An incident that
//! outlasts what a restart re-reads (a raid extended for minutes, a
//! partition handed to another instance) so keeps one `alert_id`: the
//! state store changelog of Kafka Streams, with the output topic as the
//! changelog.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use parley_shared::metrics::now_ms;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use crate::incidents::{Incidents, Known};
use crate::sinks::INCIDENT_HEADER;

/// The part of an Alert v1 the journal reads.
#[derive(Debug, Deserialize)]
struct AlertRecord {
    alert_id: String,
    window_start: i64,
    window_end: i64,
}

/// Time allowed to broker requests (metadata, offsets, watermarks).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often known incidents older than the lookback are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Reads the alert topic back into [`Incidents`].
pub struct Journal {
    consumer: BaseConsumer,
    topic: String,
    incidents: Arc<Mutex<Incidents>>,
    lookback: Duration,
    /// Partitions still to read up to their high watermark at start.
    behind: HashMap<i32, i64>,
    read: u64,
}

impl Journal {
    /// Assigns every partition of `topic` from `lookback` ago (no consumer
    /// group: nothing is committed).
    pub fn start(
        properties: &BTreeMap<String, String>,
        topic: &str,
        lookback: Duration,
        incidents: Arc<Mutex<Incidents>>,
    ) -> Result<Self, KafkaError> {
        let mut config =
            parley_shared::config::reader_config(properties, "anomaly-detector.journal");
        config
            .set("auto.offset.reset", "earliest")
            .set("client.id", "anomaly-detector-journal");
        let consumer: BaseConsumer = config.create()?;
        let metadata = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT)?;
        let from = now_ms().saturating_sub(lookback.as_millis() as i64);
        let mut wanted = TopicPartitionList::new();
        for partition in metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
        {
            wanted.add_partition_offset(topic, partition.id(), Offset::Offset(from))?;
        }
        let starts = consumer.offsets_for_times(wanted, REQUEST_TIMEOUT)?;
        let mut behind = HashMap::new();
        for element in starts.elements() {
            let (_, high) =
                consumer.fetch_watermarks(topic, element.partition(), REQUEST_TIMEOUT)?;
            let start = match element.offset() {
                Offset::Offset(o) => o,
                _ => high,
            };
            if start < high {
                behind.insert(element.partition(), high);
            }
        }
        consumer.assign(&starts)?;
        Ok(Journal {
            consumer,
            topic: topic.to_owned(),
            incidents,
            lookback,
            behind,
            read: 0,
        })
    }

    /// Reads up to the end the topic had at start, for at most `timeout`;
    /// false if it did not get there.
    pub fn catch_up(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.behind.is_empty() && Instant::now() < deadline {
            self.poll(Duration::from_millis(100));
        }
        self.behind.is_empty()
    }

    /// Follows the topic until `stop`.
    pub fn follow(mut self, stop: &AtomicBool) {
        let mut pruned = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            self.poll(Duration::from_millis(200));
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                let before = now_ms().saturating_sub(self.lookback.as_millis() as i64);
                self.incidents.lock().forget_known_before(before);
            }
        }
    }

    /// Alert records read so far.
    pub fn read(&self) -> u64 {
        self.read
    }

    fn poll(&mut self, timeout: Duration) {
        match self.consumer.poll(timeout) {
            Some(Ok(message)) => {
                let (partition, offset) = (message.partition(), message.offset());
                if let Some((key, known)) = known_incident(&message) {
                    self.read += 1;
                    self.incidents.lock().remember(&key, known);
                }
                if self
                    .behind
                    .get(&partition)
                    .is_some_and(|&high| offset + 1 >= high)
                {
                    self.behind.remove(&partition);
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, topic = %self.topic, "incident journal: read failed; retrying");
            }
            None => {}
        }
    }
}

/// The incident an alert record tells of; `None` for a record without an
/// incident key (written by something else) or not an alert.
fn known_incident(message: &impl Message) -> Option<(String, Known)> {
    let key = message
        .headers()?
        .iter()
        .find(|h| h.key == INCIDENT_HEADER)?
        .value
        .and_then(|v| std::str::from_utf8(v).ok())?
        .to_owned();
    let alert: AlertRecord = serde_json::from_slice(message.payload()?).ok()?;
    Some((
        key,
        Known {
            alert_id: alert.alert_id,
            window_start: alert.window_start,
            window_end: alert.window_end,
        },
    ))
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    use super::*;

    fn record(headers: Option<OwnedHeaders>, payload: &str) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.as_bytes().to_vec()),
            Some(b"room".to_vec()),
            "alerts".into(),
            Timestamp::NotAvailable,
            0,
            7,
            headers,
        )
    }

    #[test]
    fn an_alert_with_its_incident_key_is_known_and_others_are_skipped() {
        let payload = r#"{"v":1,"alert_id":"a-1","rule":"raid","window_start":5,"window_end":9,"message_ids":[]}"#;
        let headers = OwnedHeaders::new().insert(Header {
            key: INCIDENT_HEADER,
            value: Some("raid|room:r|"),
        });
        let (key, known) = known_incident(&record(Some(headers), payload)).expect("known");
        assert_eq!(key, "raid|room:r|");
        assert_eq!(
            known,
            Known {
                alert_id: "a-1".into(),
                window_start: 5,
                window_end: 9
            }
        );
        // No header (another producer), or not an alert: skipped.
        assert!(known_incident(&record(None, payload)).is_none());
        let headers = OwnedHeaders::new().insert(Header {
            key: INCIDENT_HEADER,
            value: Some("k"),
        });
        assert!(known_incident(&record(Some(headers), "not json")).is_none());
    }
}
