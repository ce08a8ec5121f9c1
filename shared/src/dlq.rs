//! The dead-letter queue: a record a worker cannot process goes to
//! `game-messages.dlq` unchanged (original key and bytes) with headers saying
//! why and where it came from (docs/contracts.md).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::message::MAX_RECORD_BYTES;
use crate::topics::{dlq_headers, DLQ_MAX_MESSAGE_BYTES};

/// One record to dead-letter, owned so it can travel to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Original key.
    pub key: Option<Vec<u8>>,
    /// Original payload, untouched.
    pub payload: Option<Vec<u8>>,
    /// Topic it was read from.
    pub source_topic: String,
    /// Partition it was read from.
    pub partition: i32,
    /// Offset it was read from.
    pub offset: i64,
    /// One human-readable line.
    pub error: String,
    /// `parse`, `schema`, `too-large`, `sink`…
    pub kind: String,
}

/// A producer bound to the DLQ topic. Clones share one producer.
#[derive(Clone)]
pub struct DeadLetterQueue {
    producer: FutureProducer,
    topic: String,
    worker: String,
}

impl DeadLetterQueue {
    /// An idempotent `acks=all` producer for `topic`, signed by `worker`.
    pub fn new(
        properties: &BTreeMap<String, String>,
        topic: &str,
        worker: &str,
    ) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("client.id", format!("{worker}-dlq"))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "20")
            .set("message.timeout.ms", "30000")
            // The original bytes of any record `game-messages` takes (16 MiB
            // there), not librdkafka's 1 MB default.
            .set("message.max.bytes", DLQ_MAX_MESSAGE_BYTES.to_string());
        for (k, v) in properties {
            config.set(k, v);
        }
        Ok(DeadLetterQueue {
            producer: config.create()?,
            topic: topic.to_owned(),
            worker: worker.to_owned(),
        })
    }

    /// The DLQ topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces one dead letter and waits for the brokers' acknowledgement.
    /// A payload the DLQ refuses as too large (its topic takes less than
    /// the source topic) is left out rather than retried forever: the letter
    /// then says so in `error` and in the `payload.dropped` header.
    pub async fn send(&self, letter: &DeadLetter) -> Result<(), KafkaError> {
        let result = self.produce(letter, false).await;
        match result {
            Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge,
            )) if letter.payload.is_some() => {
                tracing::warn!(
                    partition = letter.partition,
                    offset = letter.offset,
                    bytes = letter.payload.as_ref().map_or(0, Vec::len),
                    topic = %self.topic,
                    "the DLQ refused the record as too large; dead-lettering it without its payload"
                );
                self.produce(letter, true).await
            }
            other => other,
        }
    }

    async fn produce(&self, letter: &DeadLetter, drop_payload: bool) -> Result<(), KafkaError> {
        let partition = letter.partition.to_string();
        let offset = letter.offset.to_string();
        let size = letter.payload.as_ref().map_or(0, Vec::len).to_string();
        let error = if drop_payload {
            one_line(&format!(
                "{} (payload of {size} bytes not kept: larger than the DLQ takes)",
                letter.error
            ))
        } else {
            one_line(&letter.error)
        };
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: dlq_headers::ERROR,
                value: Some(error.as_str()),
            })
            .insert(Header {
                key: dlq_headers::ERROR_KIND,
                value: Some(letter.kind.as_str()),
            })
            .insert(Header {
                key: dlq_headers::SOURCE_TOPIC,
                value: Some(letter.source_topic.as_str()),
            })
            .insert(Header {
                key: dlq_headers::SOURCE_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: dlq_headers::SOURCE_OFFSET,
                value: Some(offset.as_str()),
            })
            .insert(Header {
                key: dlq_headers::WORKER,
                value: Some(self.worker.as_str()),
            });
        if drop_payload {
            headers = headers.insert(Header {
                key: dlq_headers::PAYLOAD_DROPPED,
                value: Some(size.as_str()),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic);
        if let Some(key) = &letter.key {
            // A key as large as a record would be refused as well.
            if !drop_payload || key.len() <= MAX_RECORD_BYTES {
                record = record.key(key.as_slice());
            }
        }
        if let Some(payload) = letter.payload.as_ref().filter(|_| !drop_payload) {
            record = record.payload(payload.as_slice());
        }
        let record = record.headers(headers);
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}

/// A record's key and payload bytes.
pub type KeyAndPayload = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Reads one record back from Kafka by partition and offset (blocking), for
/// dead-lettering a record whose bytes a worker no longer holds.
pub fn refetch(
    properties: &BTreeMap<String, String>,
    topic: &str,
    partition: i32,
    offset: i64,
    timeout: Duration,
) -> Result<KeyAndPayload, KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer =
        crate::config::reader_config(properties, "parley-refetch").create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))?;
    consumer.assign(&tpl)?;
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Some(result) = consumer.poll(Duration::from_millis(200)) {
            let message = result?;
            if message.offset() == offset {
                return Ok((
                    message.key().map(<[u8]>::to_vec),
                    message.payload().map(<[u8]>::to_vec),
                ));
            }
        }
    }
    Err(KafkaError::MessageConsumption(
        rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
    ))
}

/// DLQ headers are one line: newlines become spaces, and it is capped.
fn one_line(text: &str) -> String {
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > 1000 {
        let mut cut = 1000;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_become_one_bounded_line() {
        assert_eq!(one_line("a\nb\r\tc"), "a b  c");
        assert!(one_line(&"é".repeat(2000)).len() <= 1000);
    }
}
