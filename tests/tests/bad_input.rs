//! Bad input across the whole pipeline: the malformed corpus
//! (`parley_tests::malformed`, over a thousand records of every kind,
//! two of them 10 MiB) between valid messages, read by all five workers at
//! once. No worker crashes or stalls; each dead-lettering worker puts every
//! malformed record in the DLQ exactly once with the expected `error.kind`,
//! its original key and bytes and its source partition and offset;
//! websocket-sender skips and counts them; every valid one is processed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parley_shared::dlq::{DeadLetter, DeadLetterQueue};
use parley_shared::topics::{dlq_headers, DLQ_MAX_MESSAGE_BYTES, GAME_MESSAGES_MAX_MESSAGE_BYTES};
use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::malformed::{self, CorpusRecord, Expected, ROOMS};
use parley_tests::process::{http_get, metric, worker_args, Worker};
use parley_tests::ws::{self, start_sender, Client};
use parley_tests::{brokers, committed_to_end, now_ms, read_all, unique_name, ConsumedRecord};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

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

/// Produces `records` in order (no key / no payload as given) and returns
/// each one's (partition, offset).
async fn produce(topic: &str, records: &[CorpusRecord]) -> Vec<(i32, i64)> {
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

fn header<'a>(record: &'a ConsumedRecord, name: &str) -> Option<&'a str> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02X}")).collect()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test]
async fn every_worker_survives_the_malformed_corpus_and_processes_every_valid_record() {
    let started = Instant::now();
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
    let database = fresh_database();
    let out = std::env::temp_dir().join(unique_name("bad-input-out"));
    let _cleanup = Cleanup {
        database: database.clone(),
        out: out.clone(),
    };

    // The corpus, each record after a plain valid one.
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

    // websocket-sender reads live from the end: start it and subscribe first.
    let mut sender = start_sender(&topic, &alerts, 4, &[]);
    let token = ws::token("bad-input", "moderator", &["*"], "10m");
    let mut client = Client::connect(&sender.addr, Some(&token))
        .await
        .expect("connect");
    let room = ROOMS[0];
    let subscribed = client.subscribe(room, None).await;
    assert_eq!(subscribed["op"], "subscribed", "{subscribed}");

    let rules = repo().join("deploy/anomaly-detector/rules.toml");
    let rules = rules.display().to_string();
    let out_arg = out.display().to_string();
    let mut workers: Vec<(&str, String, String, Worker)> = DEAD_LETTERING
        .iter()
        .map(|&name| {
            let group = unique_name(name);
            let port = parley_tests::free_port();
            let extra: Vec<&str> = match name {
                "db-writer" => vec!["--clickhouse-database", &database],
                // A short hold-back: commits reach the end soon after the stream.
                "anomaly-detector" => vec![
                    "--rules",
                    &rules,
                    "--alerts-topic",
                    &alerts,
                    "--by-game-topic",
                    &by_game,
                    "--hold-back",
                    "2s",
                ],
                "parquet-exporter" => vec!["--out", &out_arg, "--file-age", "2s"],
                _ => vec![],
            };
            let worker = Worker::start(name, &worker_args(&topic, &group, &dlq, port, &extra));
            (name, group, format!("127.0.0.1:{port}"), worker)
        })
        .collect();

    let positions = produce(&topic, &records).await;
    eprintln!(
        "produced {} records in {:.1?}",
        records.len(),
        started.elapsed()
    );

    // Every shared group reaches the end; every process stays up and healthy.
    let alive_check = |workers: &mut Vec<(&str, String, String, Worker)>,
                       sender: &mut ws::Sender| {
        for (name, _, addr, worker) in workers.iter_mut() {
            assert!(worker.is_running(), "{name} exited:\n{}", worker.log_text());
            let health = http_get(addr, "/healthz");
            assert!(
                health.as_ref().is_some_and(|(status, _)| *status == 200),
                "{name} /healthz: {health:?}"
            );
        }
        assert!(sender.worker.is_running(), "websocket-sender exited");
        let health = http_get(&sender.metrics, "/healthz");
        assert!(
            health.as_ref().is_some_and(|(status, _)| *status == 200),
            "websocket-sender /healthz: {health:?}"
        );
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        alive_check(&mut workers, &mut sender);
        if workers
            .iter()
            .all(|(_, group, _, _)| committed_to_end(group, &topic))
        {
            break;
        }
        if Instant::now() >= deadline {
            let mut report = String::new();
            for (name, group, addr, _) in &workers {
                let text = http_get(addr, "/metrics").map(|m| m.1).unwrap_or_default();
                let numbers: Vec<String> = [
                    "parley_records_consumed_total",
                    "parley_records_processed_total",
                    "parley_records_pending",
                    "parley_dlq_records_total",
                    "parley_dlq_errors_total",
                    "parley_consumers_paused",
                ]
                .iter()
                .map(|m| format!("{m}={}", metric(&text, m)))
                .collect();
                report.push_str(&format!(
                    "{name}: committed {:?} of {:?}; {}\n",
                    parley_tests::committed_offsets(group, &topic),
                    parley_tests::end_offsets(&topic),
                    numbers.join(" ")
                ));
            }
            panic!("not every worker committed to the end:\n{report}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "every group committed to the end after {:.1?}",
        started.elapsed()
    );

    // The DLQ: each malformed record once per dead-lettering worker.
    let letters = read_all(&dlq, Duration::from_secs(60));
    let expected_letters: HashMap<(i32, i64), &CorpusRecord> = records
        .iter()
        .zip(&positions)
        .filter(|(r, _)| r.expected_kind().is_some())
        .map(|(r, &position)| (position, r))
        .collect();
    assert_eq!(expected_letters.len(), malformed_count);
    let mut seen: BTreeMap<&str, BTreeSet<(i32, i64)>> = BTreeMap::new();
    for letter in &letters {
        let worker = header(letter, dlq_headers::WORKER).unwrap_or_default();
        let worker = DEAD_LETTERING
            .iter()
            .find(|w| **w == worker)
            .unwrap_or_else(|| panic!("a letter from {worker:?}: {:?}", letter.headers));
        let partition: i32 = header(letter, dlq_headers::SOURCE_PARTITION)
            .and_then(|p| p.parse().ok())
            .expect("source.partition");
        let offset: i64 = header(letter, dlq_headers::SOURCE_OFFSET)
            .and_then(|o| o.parse().ok())
            .expect("source.offset");
        let original = expected_letters
            .get(&(partition, offset))
            .unwrap_or_else(|| {
                panic!(
                    "{worker} dead-lettered a valid record at {partition}:{offset}: {:?}",
                    letter.headers
                )
            });
        let kind = original.expected_kind().map(|k| k.as_str());
        assert_eq!(
            header(letter, dlq_headers::ERROR_KIND),
            kind,
            "{worker} {partition}:{offset} ({}): {:?}",
            original.category,
            header(letter, dlq_headers::ERROR)
        );
        assert_eq!(
            header(letter, dlq_headers::SOURCE_TOPIC),
            Some(topic.as_str())
        );
        let error = header(letter, dlq_headers::ERROR).unwrap_or_default();
        assert!(!error.is_empty() && !error.contains('\n'), "{error:?}");
        assert_eq!(
            letter.key, original.key,
            "{worker} {partition}:{offset} key"
        );
        assert!(
            letter.payload == original.payload,
            "{worker} {partition}:{offset}: payload changed ({} → {} bytes)",
            original.payload.as_ref().map_or(0, Vec::len),
            letter.payload.as_ref().map_or(0, Vec::len)
        );
        assert!(
            seen.entry(worker).or_default().insert((partition, offset)),
            "{worker} dead-lettered {partition}:{offset} twice"
        );
    }
    for worker in DEAD_LETTERING {
        assert_eq!(
            seen.get(worker).map_or(0, BTreeSet::len),
            malformed_count,
            "{worker}: letters"
        );
    }
    eprintln!(
        "DLQ: {} letters, {malformed_count} per worker",
        letters.len()
    );

    // Every valid record processed: ClickHouse, Parquet, analytics.
    let valid_hex: BTreeSet<String> = valid.iter().map(|(id, _)| hex(id)).collect();
    assert_eq!(valid_hex.len(), valid.len(), "valid ids are unique");
    let stored: BTreeSet<String> = clickhouse::query(&format!(
        "SELECT hex(message_id) FROM {database}.messages FINAL"
    ))
    .lines()
    .map(str::to_owned)
    .collect();
    assert_eq!(stored.len(), valid.len(), "ClickHouse rows (FINAL)");
    assert!(
        stored == valid_hex,
        "ClickHouse holds other ids than the valid ones"
    );

    let parquet = parley_tests::read_parquet(&out);
    let exported: Vec<String> = parquet["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| hex(id.as_str().unwrap_or_default()))
        .collect();
    assert_eq!(exported.len(), valid.len(), "Parquet rows");
    assert!(
        exported.into_iter().collect::<BTreeSet<_>>() == valid_hex,
        "Parquet holds other ids than the valid ones"
    );

    let metrics_of = |name: &str| {
        let addr = &workers.iter().find(|w| w.0 == name).expect("worker").2;
        http_get(addr, "/metrics").expect("metrics").1
    };
    parley_tests::wait_until(
        Duration::from_secs(20),
        "analytics counts every valid message",
        || {
            metric(&metrics_of("analytics"), "parley_analytics_messages_total") as usize
                == valid.len()
        },
    );
    for name in DEAD_LETTERING {
        let text = metrics_of(name);
        assert_eq!(
            metric(&text, "parley_dlq_records_total") as usize,
            malformed_count,
            "{name} parley_dlq_records_total"
        );
    }

    // websocket-sender: skipped and counted, never dead-lettered; the
    // room's valid messages reached its subscriber, each once.
    let room_ids: Vec<&str> = valid
        .iter()
        .filter(|(_, r)| r == room)
        .map(|(id, _)| id.as_str())
        .collect();
    let frames = client
        .messages(room_ids.len(), Duration::from_secs(30))
        .await;
    let got = ws::ids(&frames);
    let deep = frames
        .iter()
        .filter(|f| f["message"]["deep"] == true)
        .count();
    eprintln!(
        "websocket-sender: {} frames for {room} ({deep} nested deeper than serde_json reads)",
        frames.len()
    );
    let got_set: BTreeSet<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got.len(), room_ids.len(), "frames for {room}");
    assert!(
        got_set == room_ids.iter().copied().collect::<BTreeSet<_>>(),
        "{room}: other messages than its valid ones"
    );
    let (_, sender_metrics) = http_get(&sender.metrics, "/metrics").expect("metrics");
    assert_eq!(
        metric(&sender_metrics, "parley_dlq_records_total") as usize,
        malformed_count,
        "websocket-sender skipped and counted"
    );
    client.close().await;

    alive_check(&mut workers, &mut sender);
    for (name, _, _, worker) in &mut workers {
        let status = worker.stop(Duration::from_secs(30));
        let log = worker.log_text();
        assert!(status.success(), "{name} exit {status:?}:\n{log}");
        assert!(!log.contains("panicked"), "{name}:\n{log}");
    }
    let status = sender.worker.stop(Duration::from_secs(30));
    let log = sender.worker.log_text();
    assert!(status.success(), "websocket-sender exit {status:?}");
    assert!(!log.contains("panicked"), "websocket-sender:\n{log}");
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
