//! Bad input across the whole pipeline: the malformed corpus
//! (`parley_tests::malformed`, over a thousand records of every kind,
//! two of them 10 MiB) between valid messages, read by all five workers at
//! once. No worker crashes or stalls; each dead-lettering worker puts every
//! malformed record in the DLQ exactly once with the expected `error.kind`,
//! its original key and bytes and its source partition and offset;
//! websocket-sender skips and counts them; every valid one is processed.

//!
//! Layout: `corpus` (the records and producing them), `workers` (the
//! dead-lettering workers: start, alive, committed, stop), `checks` (the
//! DLQ, the valid records in every sink, websocket-sender).

mod checks;
mod corpus;
mod workers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parley_shared::dlq::{DeadLetter, DeadLetterQueue};
use parley_shared::topics::{dlq_headers, DLQ_MAX_MESSAGE_BYTES, GAME_MESSAGES_MAX_MESSAGE_BYTES};
use parley_tests::clickhouse::{drop_database, fresh_database};
use parley_tests::malformed::ROOMS;
use parley_tests::ws::{self, start_sender, Client};
use parley_tests::{brokers, read_all, unique_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use checks::header;
use corpus::{produce, Corpus};

/// Workers of a shared group: each dead-letters what it cannot decode.
const DEAD_LETTERING: [&str; 4] = [
    "db-writer",
    "analytics",
    "anomaly-detector",
    "parquet-exporter",
];

/// A fresh topic with topic configs (`max.message.bytes`…).
async fn fresh_topic_with(prefix: &str, partitions: i32, configs: &[(&str, String)]) -> String {
    let name = unique_name(prefix);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client");
    let mut topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(-1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics");
    for result in results {
        result.expect("topic created");
    }
    name
}

/// The test's fresh topics.
struct Topics {
    /// The corpus, 4 partitions.
    topic: String,
    dlq: String,
    alerts: String,
    by_game: String,
}

impl Topics {
    /// The corpus topic and the DLQ take records as large as the contracts
    /// allow.
    async fn create() -> Topics {
        let topic = fresh_topic_with(
            "bad-input",
            4,
            &[(
                "max.message.bytes",
                GAME_MESSAGES_MAX_MESSAGE_BYTES.to_string(),
            )],
        )
        .await;
        let dlq = fresh_topic_with(
            "bad-input-dlq",
            3,
            &[("max.message.bytes", DLQ_MAX_MESSAGE_BYTES.to_string())],
        )
        .await;
        let alerts = fresh_topic_with("bad-input-alerts", 1, &[]).await;
        let by_game = fresh_topic_with("bad-input-by-game", 3, &[]).await;
        Topics {
            topic,
            dlq,
            alerts,
            by_game,
        }
    }
}

#[tokio::test]
async fn every_worker_survives_the_malformed_corpus_and_processes_every_valid_record() {
    let started = Instant::now();
    let topics = Topics::create().await;
    let database = fresh_database();
    let out = std::env::temp_dir().join(unique_name("bad-input-out"));
    let _cleanup = Cleanup {
        database: database.clone(),
        out: out.clone(),
    };
    let corpus = Corpus::build();

    // websocket-sender reads live from the end: start it and subscribe first.
    let mut sender = start_sender(&topics.topic, &topics.alerts, 4, &[]);
    let token = ws::token("bad-input", "moderator", &["*"], "10m");
    let mut client = Client::connect(&sender.addr, Some(&token))
        .await
        .expect("connect");
    let room = ROOMS[0];
    let subscribed = client.subscribe(room, None).await;
    assert_eq!(subscribed["op"], "subscribed", "{subscribed}");

    let mut workers = workers::start(&topics, &database, &out);
    let positions = produce(&topics.topic, &corpus.records).await;
    eprintln!(
        "produced {} records in {:.1?}",
        corpus.records.len(),
        started.elapsed()
    );
    // Every shared group reaches the end; every process stays up and healthy.
    workers::wait_committed(&mut workers, &mut sender, &topics.topic, started).await;

    checks::dead_letters(&topics.dlq, &topics.topic, &corpus, &positions);
    checks::valid_records_processed(&database, &out, &corpus, &workers);
    checks::websocket_sender_skipped(client, &sender, room, &corpus).await;

    workers::alive_check(&mut workers, &mut sender);
    workers::stop_all(&mut workers, &mut sender);
    eprintln!("done in {:.1?}", started.elapsed());
}

#[tokio::test]
async fn a_dlq_that_takes_less_than_the_record_gets_the_letter_without_its_payload() {
    // A DLQ topic left at Kafka's 1 MiB default, a 2 MiB record.
    let dlq = fresh_topic_with("bad-input-small-dlq", 1, &[]).await;
    let mut properties = BTreeMap::new();
    properties.insert("bootstrap.servers".to_owned(), brokers());
    let queue = DeadLetterQueue::new(&properties, &dlq, "bad-input-test").expect("producer");
    let payload = vec![b'x'; 2 * 1024 * 1024];
    let letter = DeadLetter {
        key: Some(b"bi-room-0".to_vec()),
        payload: Some(payload.clone()),
        source_topic: "game-messages".into(),
        partition: 3,
        offset: 42,
        error: "record is 2097152 bytes, over the 65536-byte limit".into(),
        kind: "too-large".into(),
    };
    tokio::time::timeout(Duration::from_secs(60), queue.send(&letter))
        .await
        .expect("not retried forever")
        .expect("dead-lettered");
    // A small one still carries its bytes.
    let small = DeadLetter {
        payload: Some(b"{not json".to_vec()),
        kind: "parse".into(),
        offset: 43,
        ..letter
    };
    queue.send(&small).await.expect("dead-lettered");

    let letters = read_all(&dlq, Duration::from_secs(30));
    assert_eq!(letters.len(), 2);
    let big = &letters[0];
    assert_eq!(big.payload, None);
    assert_eq!(big.key.as_deref(), Some(&b"bi-room-0"[..]));
    assert_eq!(header(big, dlq_headers::PAYLOAD_DROPPED), Some("2097152"));
    assert_eq!(header(big, dlq_headers::ERROR_KIND), Some("too-large"));
    assert_eq!(header(big, dlq_headers::SOURCE_OFFSET), Some("42"));
    let error = header(big, dlq_headers::ERROR).unwrap_or_default();
    assert!(error.contains("not kept"), "{error}");
    assert_eq!(letters[1].payload.as_deref(), Some(&b"{not json"[..]));
    assert_eq!(header(&letters[1], dlq_headers::PAYLOAD_DROPPED), None);
}

struct Cleanup {
    database: String,
    out: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        drop_database(&self.database);
        let _ = std::fs::remove_dir_all(&self.out);
    }
}
