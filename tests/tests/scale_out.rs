//! Scale-out proof on the 3-broker stack (`make test-cluster`): two
//! instances of every worker, partitions spread across them (as Kafka's
//! ConsumerGroupCommand shows), one instance of each shared group stopped
//! mid-stream → its partitions move and nothing is lost; and db-writer
//! throughput with one instance vs two.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::process::{group_metric, http_get, loadgen, loadgen_args, worker_args, Worker};
use parley_tests::stack::stack_output;
use parley_tests::ws::start_sender;
use parley_tests::{
    brokers, committed_offsets, committed_to_end, free_port, fresh_topic, read_parquet, repo,
    unique_name, wait_until,
};

const SHARED: [&str; 4] = [
    "db-writer",
    "analytics",
    "anomaly-detector",
    "parquet-exporter",
];

/// `ConsumerGroupCommand --describe` for `group`: the tool's own text, and
/// the number of partitions each consumer (member id) owns.
fn describe(group: &str) -> (String, BTreeMap<String, usize>) {
    let text = stack_output(&[
        "kafka-tool",
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        &brokers(),
        "--describe",
        "--group",
        group,
    ]);
    let mut owners = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 9 && cols[0] == group && cols[6] != "-" {
            *owners.entry(cols[6].to_owned()).or_insert(0) += 1;
        }
    }
    (text, owners)
}

/// Waits until `group`'s 12 partitions are owned by `members` consumers,
/// evenly, and prints what ConsumerGroupCommand shows.
fn assert_spread(group: &str, members: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (text, owners) = describe(group);
        let spread = owners.len() == members
            && owners.values().sum::<usize>() == 12
            && owners.values().all(|&n| n == 12 / members);
        if spread {
            let counts: Vec<String> = owners.values().map(usize::to_string).collect();
            eprintln!("{group}: partitions per consumer {}", counts.join(" + "));
            record_groups(&format!(
                "--- {group}: 12 partitions over {members} consumer(s)\n{text}\n"
            ));
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{group}: partitions not spread over {members} consumers:\n{text}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Appends ConsumerGroupCommand's output to `.local/results/scale-out-groups.txt`.
fn record_groups(text: &str) {
    use std::io::Write;
    let dir = repo().join(".local/results");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("scale-out-groups.txt"))
    {
        let _ = file.write_all(text.as_bytes());
    }
}

struct Pipeline {
    topic: String,
    dlq: String,
    alerts: String,
    by_game: String,
    database: String,
    out: PathBuf,
    groups: BTreeMap<&'static str, String>,
}

impl Pipeline {
    async fn new() -> Self {
        Pipeline {
            topic: fresh_topic("scale", 12).await,
            dlq: fresh_topic("scale-dlq", 3).await,
            alerts: fresh_topic("scale-alerts", 3).await,
            by_game: fresh_topic("scale-by-game", 12).await,
            database: fresh_database(),
            out: std::env::temp_dir().join(unique_name("scale-out")),
            groups: SHARED.iter().map(|w| (*w, unique_name(w))).collect(),
        }
    }

    fn start(&self, worker: &'static str) -> Worker {
        let rules = repo().join("deploy/anomaly-detector/rules.toml");
        let rules = rules.display().to_string();
        let out = self.out.display().to_string();
        let extra: Vec<&str> = match worker {
            "db-writer" => vec!["--clickhouse-database", &self.database],
            // A short hold-back: its commits reach the end soon after the stream.
            "anomaly-detector" => vec![
                "--rules",
                &rules,
                "--alerts-topic",
                &self.alerts,
                "--by-game-topic",
                &self.by_game,
                "--hold-back",
                "5s",
            ],
            "parquet-exporter" => vec!["--out", &out, "--file-age", "2s"],
            _ => vec![],
        };
        Worker::start(
            worker,
            &worker_args(
                &self.topic,
                &self.groups[worker],
                &self.dlq,
                free_port(),
                &extra,
            ),
        )
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        drop_database(&self.database);
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

#[tokio::test]
#[ignore = "needs the 3-broker stack: make test-cluster"]
async fn two_instances_of_every_worker_share_the_partitions_and_one_leaving_loses_nothing() {
    let p = Pipeline::new().await;
    let mut first: Vec<(&str, Worker)> = SHARED.iter().map(|w| (*w, p.start(w))).collect();
    let mut second: Vec<(&str, Worker)> = SHARED.iter().map(|w| (*w, p.start(w))).collect();
    // websocket-sender: a group per instance, each reads all 12 partitions.
    let senders = [
        start_sender(&p.topic, &p.alerts, 12, &[]),
        start_sender(&p.topic, &p.alerts, 12, &[]),
    ];
    for worker in SHARED {
        assert_spread(&p.groups[worker], 2);
    }

    let producer = {
        let args = loadgen_args(
            &p.topic,
            &[
                "--count",
                "120000",
                "--rate",
                "4000",
                "--seed",
                "21",
                "--malformed-ratio",
                "0.001",
            ],
        );
        std::thread::spawn(move || loadgen(&args))
    };
    std::thread::sleep(Duration::from_secs(10));
    // One instance of each shared group leaves mid-stream (SIGTERM: drain, commit).
    for (worker, instance) in &mut second {
        assert!(
            instance.stop(Duration::from_secs(60)).success(),
            "{worker}: {}",
            instance.log_text()
        );
    }
    for worker in SHARED {
        assert_spread(&p.groups[worker], 1);
    }
    let summary = producer.join().expect("loadgen");
    let valid = summary["valid"].as_u64().expect("valid");

    for worker in SHARED {
        wait_until(
            Duration::from_secs(240),
            &format!("{worker} committed to the end"),
            || committed_to_end(&p.groups[worker], &p.topic),
        );
    }
    // Nothing lost, nothing repeated in what users query.
    let final_count = clickhouse::number(&format!(
        "SELECT count() FROM {}.messages FINAL",
        p.database
    ));
    assert_eq!(final_count, valid, "ClickHouse rows (FINAL)");
    for (worker, instance) in &mut first {
        assert!(
            instance.stop(Duration::from_secs(60)).success(),
            "{worker}: {}",
            instance.log_text()
        );
    }
    let parquet = read_parquet(&p.out);
    assert_eq!(
        parquet["duckdb"]["rows"].as_u64(),
        Some(valid),
        "Parquet rows; repeated: {}",
        parquet["duckdb"]["duplicates"]
    );
    assert_eq!(
        parquet["duckdb"]["distinct"].as_u64(),
        Some(valid),
        "Parquet ids"
    );
    for mut sender in senders {
        assert!(sender.worker.stop(Duration::from_secs(30)).success());
    }
    eprintln!(
        "scale-out: {valid} valid messages, 0 lost, 0 duplicated in ClickHouse (FINAL) and Parquet"
    );
}

/// Records per second stored by `instances` db-writers (one consumer each)
/// once every partition is assigned: committed offsets then vs at the end,
/// so start-up and the group join are left out.
fn steady_rate(topic: &str, dlq: &str, instances: usize) -> f64 {
    let database = fresh_database();
    let group = unique_name("scale-dw");
    let ports: Vec<u16> = (0..instances).map(|_| free_port()).collect();
    let mut writers: Vec<Worker> = ports
        .iter()
        .map(|&port| {
            Worker::start(
                "db-writer",
                &worker_args(
                    topic,
                    &group,
                    dlq,
                    port,
                    &["--clickhouse-database", &database],
                ),
            )
        })
        .collect();
    let assigned = || -> f64 {
        ports
            .iter()
            .filter_map(|port| http_get(&format!("127.0.0.1:{port}"), "/metrics"))
            // The messages group's (db-writer's actions group has its own).
            .map(|(_, m)| group_metric(&m, "parley_partitions_assigned", &group))
            .sum()
    };
    wait_until(Duration::from_secs(60), "every partition assigned", || {
        assigned() >= 12.0
    });
    let committed = || committed_offsets(&group, topic).values().sum::<i64>();
    let (from, started) = (committed(), Instant::now());
    wait_until(
        Duration::from_secs(300),
        "db-writers committed to the end",
        || committed_to_end(&group, topic),
    );
    let rate = (committed() - from) as f64 / started.elapsed().as_secs_f64();
    for w in &mut writers {
        assert!(
            w.stop(Duration::from_secs(60)).success(),
            "{}",
            w.log_text()
        );
    }
    drop_database(&database);
    rate
}

#[tokio::test]
#[ignore = "needs the 3-broker stack: make test-cluster"]
async fn db_writer_throughput_with_one_and_two_instances() {
    let topic = fresh_topic("scale-tp", 12).await;
    let dlq = fresh_topic("scale-tp-dlq", 3).await;
    loadgen(&loadgen_args(
        &topic,
        &["--count", "600000", "--rate", "0", "--seed", "9"],
    ));
    let mut rows = Vec::new();
    for instances in [1, 2] {
        let mut rates: Vec<f64> = (0..3)
            .map(|_| steady_rate(&topic, &dlq, instances))
            .collect();
        rates.sort_by(f64::total_cmp);
        rows.push(format!(
            "| {instances} | {:.0} | {:.0} | {:.0} |",
            rates[0], rates[1], rates[2]
        ));
    }
    let table = format!(
        "| db-writer instances (1 consumer each) | min msg/s | median msg/s | max msg/s |\n|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    eprintln!("{table}");
    let dir = repo().join(".local/results");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("scale-out-db-writer.md"), &table);
}
