//! The Kafka side: an idempotent `acks=all` producer that counts deliveries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::LoadgenError;

/// How long to wait for the broker's metadata before giving up.
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

/// Counts delivery reports from librdkafka's background thread.
#[derive(Debug, Default)]
pub struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl DeliveryCounter {
    /// Records acknowledged by the brokers.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Records that could not be delivered.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The first delivery error seen, if any.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}

/// A producer bound to one topic.
pub struct ChatProducer {
    producer: ThreadedProducer<DeliveryCounter>,
    topic: String,
}

impl ChatProducer {
    /// Connects and checks that `topic` exists, with a clear error if not.
    pub fn connect(
        properties: impl IntoIterator<Item = (String, String)>,
        topic: &str,
    ) -> Result<Self, LoadgenError> {
        let mut config = ClientConfig::new();
        for (key, value) in [
            ("client.id", "parley-loadgen"),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "10"),
            ("compression.type", "lz4"),
            ("batch.size", "1000000"),
            ("queue.buffering.max.messages", "500000"),
            ("queue.buffering.max.kbytes", "1048576"),
            ("message.timeout.ms", "120000"),
        ] {
            config.set(key, value);
        }
        for (key, value) in properties {
            config.set(key, value);
        }
        let producer: ThreadedProducer<DeliveryCounter> =
            config.create_with_context(DeliveryCounter::default())?;
        let found = parley_shared::topics::partition_count(
            producer.client(),
            topic,
            METADATA_TIMEOUT,
            parley_shared::topics::TOPIC_GRACE,
        )
        .map_err(LoadgenError::Unreachable)?;
        let missing = found.is_none();
        if missing {
            return Err(LoadgenError::UnknownTopic(topic.to_owned()));
        }
        Ok(ChatProducer {
            producer,
            topic: topic.to_owned(),
        })
    }

    /// Queues one record, waiting while librdkafka's queue is full.
    pub fn send(&self, key: &str, payload: &[u8]) -> Result<(), LoadgenError> {
        let mut record = BaseRecord::to(&self.topic).key(key).payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    thread::sleep(Duration::from_millis(2));
                }
                Err((error, _)) => return Err(LoadgenError::Kafka(error)),
            }
        }
    }

    /// Delivery counts so far.
    pub fn deliveries(&self) -> &DeliveryCounter {
        self.producer.context()
    }

    /// Waits until every queued record is acknowledged or failed.
    pub fn flush(&self, timeout: Duration) -> Result<(), LoadgenError> {
        self.producer.flush(timeout).map_err(LoadgenError::Kafka)
    }
}
