//! The records the test produces: the malformed corpus, each record after a
//! plain valid one, and what they should become.

use std::collections::BTreeMap;
use std::time::Duration;

use parley_shared::topics::DLQ_MAX_MESSAGE_BYTES;
use parley_tests::malformed::{self, CorpusRecord, Expected, ROOMS};
use parley_tests::{brokers, now_ms};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The records in produce order, with the malformed count and the valid
/// (message id, room id) pairs.
pub struct Corpus {
    pub records: Vec<CorpusRecord>,
    pub malformed_count: usize,
    pub valid: Vec<(String, String)>,
}

impl Corpus {
    /// The corpus, each record after a plain valid one; logs its make-up.
    pub fn build() -> Corpus {
        let base = now_ms();
        let corpus = malformed::corpus(base);
        let mut records = Vec::new();
        for (n, bad) in corpus.into_iter().enumerate() {
            records.push(malformed::plain(n, ROOMS[n % ROOMS.len()], base + n as i64));
            records.push(bad);
        }
        let malformed_count = records
            .iter()
            .filter(|r| r.expected_kind().is_some())
            .count();
        let valid: Vec<(String, String)> = records
            .iter()
            .filter_map(|r| match &r.expected {
                Expected::Valid {
                    message_id,
                    room_id,
                } => Some((message_id.clone(), room_id.clone())),
                Expected::Invalid(_) => None,
            })
            .collect();
        let mut per_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for r in &records {
            let entry = per_category.entry(r.category).or_default();
            if r.expected_kind().is_some() {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        eprintln!(
            "corpus: {malformed_count} malformed, {} valid; per category (malformed, valid): {per_category:?}",
            valid.len()
        );
        Corpus {
            records,
            malformed_count,
            valid,
        }
    }
}

/// Produces `records` in order (no key / no payload as given) and returns
/// each one's (partition, offset).
pub async fn produce(topic: &str, records: &[CorpusRecord]) -> Vec<(i32, i64)> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.max.bytes", DLQ_MAX_MESSAGE_BYTES.to_string())
        .create()
        .expect("producer");
    let mut positions = Vec::with_capacity(records.len());
    for chunk in records.chunks(500) {
        let sends = chunk.iter().map(|r| {
            let producer = &producer;
            async move {
                let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
                if let Some(key) = &r.key {
                    record = record.key(key.as_slice());
                }
                if let Some(payload) = &r.payload {
                    record = record.payload(payload.as_slice());
                }
                producer
                    .send(record, Duration::from_secs(60))
                    .await
                    .map(|d| (d.partition, d.offset))
                    .map_err(|(e, _)| e)
                    .expect("delivered")
            }
        });
        positions.extend(futures::future::join_all(sends).await);
    }
    positions
}
