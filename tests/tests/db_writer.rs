//! db-writer against the real stack: every valid message in ClickHouse
//! once, malformed ones in the DLQ with reasons, nothing lost across
//! SIGTERM, crashes and rebalances.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::process::{http_get, loadgen, loadgen_args, metric, worker_args, Worker};
use parley_tests::{
    committed_offsets, committed_to_end, end_offsets, free_port, fresh_topic, read_all,
    unique_name, wait_until,
};
use serde_json::Value;

struct Fixture {
    topic: String,
    dlq: String,
    database: String,
    group: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Fixture {
        Fixture {
            topic: fresh_topic(prefix, 12).await,
            dlq: fresh_topic(&format!("{prefix}-dlq"), 3).await,
            database: fresh_database(),
            group: unique_name(prefix),
        }
    }

    fn writer_args(&self, metrics_port: u16, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["--clickhouse-database", self.database.as_str()];
        args.extend_from_slice(extra);
        worker_args(&self.topic, &self.group, &self.dlq, metrics_port, &args)
    }

    fn loadgen_args(&self, extra: &[&str]) -> Vec<String> {
        loadgen_args(&self.topic, extra)
    }

    fn distinct(&self) -> u64 {
        clickhouse::try_query(&format!(
            "SELECT uniqExact(message_id) FROM {}.messages",
            self.database
        ))
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
    }

    fn rows(&self) -> u64 {
        clickhouse::number(&format!("SELECT count() FROM {}.messages", self.database))
    }

    fn assert_committed_to_end(&self) {
        let committed = committed_offsets(&self.group, &self.topic);
        let ends: BTreeMap<i32, i64> = end_offsets(&self.topic)
            .into_iter()
            .filter(|&(_, e)| e > 0)
            .collect();
        for (partition, end) in ends {
            assert_eq!(
                committed.get(&partition),
                Some(&end),
                "partition {partition} committed offset"
            );
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop_database(&self.database);
    }
}

#[tokio::test]
async fn stores_every_valid_message_once_and_dead_letters_the_rest() {
    let f = Fixture::new("dw-store").await;
    let truth_path = std::env::temp_dir().join(format!("{}.truth", f.topic));
    let truth_arg = truth_path.to_string_lossy().into_owned();
    let summary = loadgen(&f.loadgen_args(&[
        "--count",
        "200000",
        "--rate",
        "0",
        "--seed",
        "11",
        "--malformed-ratio",
        "0.01",
        "--truth",
        &truth_arg,
    ]));
    let valid = summary["valid"].as_u64().expect("valid");
    let malformed = summary["malformed"].as_u64().expect("malformed");
    assert!(malformed > 1000, "{summary}");

    let port = free_port();
    let mut writer = Worker::start("db-writer", &f.writer_args(port, &["--concurrency", "2"]));
    wait_until(
        Duration::from_secs(240),
        "every valid message in ClickHouse",
        || f.distinct() == valid,
    );
    wait_until(Duration::from_secs(60), "every record durable", || {
        committed_to_end(&f.group, &f.topic)
    });
    // Counters may exceed the record count: a consumer joining re-reads
    // uncommitted records (at-least-once); the stores are checked exactly.
    let (_, metrics) = http_get(&format!("127.0.0.1:{port}"), "/metrics").expect("metrics");
    assert!(metric(&metrics, "parley_records_consumed_total") as u64 >= valid + malformed);
    assert!(metric(&metrics, "parley_dlq_records_total") as u64 >= malformed);
    // Lag per partition comes from librdkafka statistics, every 5 s.
    wait_until(
        Duration::from_secs(15),
        "consumer lag per partition",
        || {
            http_get(&format!("127.0.0.1:{port}"), "/metrics")
                .is_some_and(|(_, m)| m.contains("parley_consumer_lag{"))
        },
    );
    assert!(metric(&metrics, "parley_end_to_end_latency_seconds_count") as u64 >= valid);
    let (status, health) = http_get(&format!("127.0.0.1:{port}"), "/healthz").expect("healthz");
    assert_eq!(status, 200, "{health}");
    assert!(
        writer.stop(Duration::from_secs(30)).success(),
        "{}",
        writer.log_text()
    );

    // Exactly the valid messages (copies from a re-read collapse).
    clickhouse::optimize_final(&f.database, "messages");
    assert_eq!(f.rows(), valid);
    let stored: HashSet<String> =
        clickhouse::query(&format!("SELECT message_id FROM {}.messages", f.database))
            .lines()
            .map(str::to_owned)
            .collect();
    let truth: Vec<Value> = std::fs::read_to_string(&truth_path)
        .expect("truth")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let expected: HashSet<String> = truth
        .iter()
        .filter_map(|t| t["message_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(stored, expected);
    let sample = clickhouse::query(&format!(
        "SELECT content, visibility, meta FROM {}.messages WHERE visibility = 'moderators' LIMIT 1 FORMAT JSONEachRow",
        f.database
    ));
    assert!(sample.contains("\"visibility\":\"moderators\""), "{sample}");

    // The DLQ holds the original bytes with the headers docs/contracts.md lists,
    // each bad record at least once (counted once per source position).
    let originals: HashMap<(i32, i64), Option<Vec<u8>>> =
        read_all(&f.topic, Duration::from_secs(120))
            .into_iter()
            .map(|r| ((r.partition, r.offset), r.payload))
            .collect();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen: HashSet<(i32, i64)> = HashSet::new();
    for letter in read_all(&f.dlq, Duration::from_secs(60)) {
        let h: HashMap<_, _> = letter.headers.iter().cloned().collect();
        assert_eq!(h["source.topic"], f.topic);
        assert_eq!(h["worker"], "db-writer");
        assert!(!h["error"].is_empty() && !h["error"].contains('\n'));
        let source = (
            h["source.partition"].parse().expect("partition"),
            h["source.offset"].parse().expect("offset"),
        );
        assert_eq!(
            originals[&source], letter.payload,
            "DLQ payload differs from the original at {source:?}"
        );
        if seen.insert(source) {
            *kinds.entry(h["error.kind"].clone()).or_default() += 1;
        }
    }
    let mut expected_kinds: BTreeMap<String, u64> = BTreeMap::new();
    for t in truth.iter().filter(|t| t["label"] == "malformed") {
        *expected_kinds
            .entry(t["expected_error"].as_str().expect("kind").to_owned())
            .or_default() += 1;
    }
    assert_eq!(kinds, expected_kinds);
    f.assert_committed_to_end();
    let _ = std::fs::remove_file(truth_path);
}

#[tokio::test]
async fn sigterm_flushes_the_open_batch_and_commits() {
    let f = Fixture::new("dw-term").await;
    loadgen(&f.loadgen_args(&["--count", "5000", "--rate", "0"]));
    let port = free_port();
    // Batches that would not flush on their own for an hour.
    let mut writer = Worker::start(
        "db-writer",
        &f.writer_args(
            port,
            &[
                "--batch-age",
                "1h",
                "--batch-rows",
                "1000000",
                "--max-buffered-rows",
                "1000000",
            ],
        ),
    );
    wait_until(Duration::from_secs(60), "5000 records consumed", || {
        http_get(&format!("127.0.0.1:{port}"), "/metrics")
            .is_some_and(|(_, m)| metric(&m, "parley_records_consumed_total") as u64 == 5000)
    });
    assert_eq!(f.distinct(), 0, "nothing should be flushed before shutdown");
    let status = writer.stop(Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {}", writer.log_text());
    assert_eq!(f.rows(), 5000);
    f.assert_committed_to_end();
}

#[tokio::test]
async fn instances_joining_leaving_and_crashing_lose_nothing() {
    let f = Fixture::new("dw-rebalance").await;
    let producer = {
        let args = f.loadgen_args(&[
            "--count",
            "150000",
            "--rate",
            "12000",
            "--seed",
            "5",
            "--malformed-ratio",
            "0.002",
        ]);
        std::thread::spawn(move || loadgen(&args))
    };
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let mut a = Worker::start("db-writer", &f.writer_args(pa, &["--concurrency", "2"]));
    std::thread::sleep(Duration::from_secs(2));
    let mut b = Worker::start("db-writer", &f.writer_args(pb, &["--concurrency", "2"]));
    std::thread::sleep(Duration::from_secs(3));
    b.kill(); // crash mid-stream: no drain, no commit
    std::thread::sleep(Duration::from_secs(1));
    let mut b = Worker::start("db-writer", &f.writer_args(pb, &["--concurrency", "2"]));
    std::thread::sleep(Duration::from_secs(2));
    let mut c = Worker::start("db-writer", &f.writer_args(pc, &[]));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        c.stop(Duration::from_secs(30)).success(),
        "graceful leave: {}",
        c.log_text()
    );

    let summary = producer.join().expect("loadgen thread");
    let valid = summary["valid"].as_u64().expect("valid");
    wait_until(
        Duration::from_secs(240),
        "every valid message in ClickHouse",
        || f.distinct() == valid,
    );
    assert!(
        a.stop(Duration::from_secs(30)).success(),
        "{}",
        a.log_text()
    );
    assert!(
        b.stop(Duration::from_secs(30)).success(),
        "{}",
        b.log_text()
    );

    // Replays after the crash may have inserted copies: queries with FINAL
    // never see them, and a full merge removes them.
    assert_eq!(
        clickhouse::number(&format!(
            "SELECT count() FROM {}.messages FINAL",
            f.database
        )),
        valid,
        "copies visible to a query with FINAL"
    );
    clickhouse::optimize_final(&f.database, "messages");
    assert_eq!(f.distinct(), valid);
    assert_eq!(f.rows(), valid, "duplicates left after OPTIMIZE FINAL");
    f.assert_committed_to_end();
}
