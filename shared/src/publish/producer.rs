//! The producer behind every publish: idempotent, `acks=all`, lz4, a short
//! linger, keyed by room. [`MessageProducer::send`] returns only after the
//! brokers acknowledged the record, with its partition and offset; a
//! record not acknowledged within the delivery timeout is an error (the
//! edge answers 4503 and acknowledges nothing).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use crate::action::ModerationAction;
use crate::message::GameMessage;

/// A record an edge produces: its Kafka key and JSON payload.
pub trait KeyedRecord {
    /// The Kafka key (the room, for both of Parley's edge topics).
    fn key(&self) -> &[u8];
    /// The JSON payload.
    fn payload(&self) -> Result<Vec<u8>, serde_json::Error>;
}

impl KeyedRecord for GameMessage {
    fn key(&self) -> &[u8] {
        self.room_id.as_bytes()
    }
    fn payload(&self) -> Result<Vec<u8>, serde_json::Error> {
        self.to_json()
    }
}

impl KeyedRecord for ModerationAction {
    fn key(&self) -> &[u8] {
        self.room_id.as_bytes()
    }
    fn payload(&self) -> Result<Vec<u8>, serde_json::Error> {
        self.to_json()
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// Partition of the room.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
}

/// Why a record was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The record could not be serialized (never for a built message).
    #[error("cannot encode the message: {0}")]
    Encode(#[from] serde_json::Error),
    /// Kafka refused it, or did not acknowledge it in time.
    #[error("Kafka did not acknowledge the message: {0}")]
    Kafka(#[from] KafkaError),
}

/// A queued record's acknowledgement to come.
pub struct Delivery(DeliveryFuture);

impl Delivery {
    /// Waits until the brokers acknowledged the record (or the delivery
    /// timeout passed).
    pub async fn wait(self) -> Result<Produced, ProduceError> {
        match self.0.await {
            Ok(Ok(delivery)) => Ok(Produced {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((error, _))) => Err(ProduceError::Kafka(error)),
            Err(_) => Err(ProduceError::Kafka(KafkaError::Canceled)),
        }
    }
}

/// An idempotent producer for one topic. Clones share the producer.
#[derive(Clone)]
pub struct MessageProducer {
    producer: FutureProducer,
    topic: String,
}

impl MessageProducer {
    /// A producer for `topic` with the shared client `properties`; a record
    /// not acknowledged within `delivery_timeout` fails.
    pub fn new(
        properties: &BTreeMap<String, String>,
        topic: &str,
        client_id: &str,
        delivery_timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let timeout_ms = delivery_timeout.as_millis().clamp(100, 900_000);
        let mut config = ClientConfig::new();
        config
            .set("client.id", client_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "2")
            .set("message.timeout.ms", timeout_ms.to_string())
            .set(
                "request.timeout.ms",
                timeout_ms.clamp(100, 30_000).to_string(),
            );
        for (k, v) in properties {
            config.set(k, v);
        }
        Ok(MessageProducer {
            producer: config.create()?,
            topic: topic.to_owned(),
        })
    }

    /// The topic written.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Records waiting in the producer's queue (for a gauge).
    pub fn queued(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Queues `message` keyed by its room, now (so records queued one after
    /// another keep their order); [`Delivery::wait`] then waits for the
    /// brokers' acknowledgement. A full queue is an error at once.
    pub fn enqueue<R: KeyedRecord>(&self, message: &R) -> Result<Delivery, ProduceError> {
        let payload = message.payload()?;
        let record = FutureRecord::to(&self.topic)
            .key(message.key())
            .payload(&payload);
        self.producer
            .send_result(record)
            .map(Delivery)
            .map_err(|(error, _)| ProduceError::Kafka(error))
    }

    /// Produces `message` and waits for the brokers' acknowledgement.
    pub async fn send<R: KeyedRecord>(&self, message: &R) -> Result<Produced, ProduceError> {
        self.enqueue(message)?.wait().await
    }

    /// Waits up to `timeout` for queued records (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(Timeout::After(timeout))
    }
}
