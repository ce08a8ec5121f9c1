//! The suite's stage: fresh topics, database and output folder, two
//! instances of every shared-group worker and two websocket-senders, and
//! the WebSocket clients watching the busiest rooms through both senders.

use std::path::PathBuf;
use std::time::Duration;

use parley_tests::clickhouse::fresh_database;
use parley_tests::faults::{RoomClient, Truth};
use parley_tests::health::Instance;
use parley_tests::process::{http_get, loadgen, loadgen_args, metric, worker_args};
use parley_tests::ws::{token, SECRET};
use parley_tests::{brokers, free_port, fresh_topic, repo, unique_name, wait_until};

use crate::{SENDER, SHARED, STALL};

/// Where the suite's data goes, fresh for this run.
pub struct Stage {
    pub topic: String,
    pub dlq: String,
    pub alerts_topic: String,
    pub by_game: String,
    pub database: String,
    /// The Parquet exporters' output folder.
    pub out: PathBuf,
    /// loadgen's truth file of the stream.
    pub truth_path: PathBuf,
    /// The rooms watched over WebSocket.
    pub rooms: Vec<String>,
}

impl Stage {
    /// Creates the topics and the database, and picks the rooms to watch
    /// (the busiest ones of the stream `seed` will produce).
    pub async fn create(seed: &str) -> Stage {
        let topic = fresh_topic("faults", 12).await;
        let dlq = fresh_topic("faults-dlq", 3).await;
        let alerts_topic = fresh_topic("faults-alerts", 3).await;
        let by_game = fresh_topic("faults-by-game", 12).await;
        let scratch = fresh_topic("faults-rooms", 1).await;
        let database = fresh_database();
        let out = std::env::temp_dir().join(unique_name("faults-parquet"));
        let truth_path =
            std::env::temp_dir().join(format!("{}.jsonl", unique_name("faults-truth")));
        let rooms = busiest_rooms(&scratch, seed);
        eprintln!("rooms watched over WebSocket: {rooms:?}");
        Stage {
            topic,
            dlq,
            alerts_topic,
            by_game,
            database,
            out,
            truth_path,
            rooms,
        }
    }
}

fn busiest_rooms(topic: &str, seed: &str) -> Vec<String> {
    // Same seed ⇒ same records: the first few thousand show the busy rooms.
    let truth = std::env::temp_dir().join(format!("{}.jsonl", unique_name("rooms")));
    let truth_arg = truth.display().to_string();
    loadgen(&loadgen_args(
        topic,
        &[
            "--count", "4000", "--rate", "0", "--seed", seed, "--truth", &truth_arg,
        ],
    ));
    let text = std::fs::read_to_string(&truth).expect("truth");
    let _ = std::fs::remove_file(&truth);
    Truth::parse(&text).busiest_rooms(3)
}

/// Two instances of every shared-group worker.
pub fn start_shared_workers(stage: &Stage, instances: &mut Vec<Instance>) {
    let rules = repo().join("deploy/anomaly-detector/rules.toml");
    let rules = rules.display().to_string();
    let out_arg = stage.out.display().to_string();
    for worker in SHARED {
        let group = unique_name(worker);
        for slot in 0..2 {
            let port = free_port();
            let mut extra = vec!["--stall-timeout", STALL];
            match worker {
                "db-writer" => extra.extend(["--clickhouse-database", &stage.database]),
                "anomaly-detector" => extra.extend([
                    "--rules",
                    &rules,
                    "--alerts-topic",
                    &stage.alerts_topic,
                    "--by-game-topic",
                    &stage.by_game,
                ]),
                "parquet-exporter" => extra.extend(["--out", &out_arg, "--file-age", "2s"]),
                _ => {}
            }
            let args = worker_args(&stage.topic, &group, &stage.dlq, port, &extra);
            instances.push(Instance::start(
                worker,
                slot,
                args,
                vec![],
                format!("127.0.0.1:{port}"),
            ));
        }
    }
}

/// Two websocket-senders; returns their WebSocket addresses.
pub fn start_senders(stage: &Stage, instances: &mut Vec<Instance>) -> Vec<String> {
    let mut ws_addrs = Vec::new();
    for slot in 0..2 {
        let (port, metrics_port) = (free_port(), free_port());
        let instance_id = unique_name("ws");
        let metrics = format!("127.0.0.1:{metrics_port}");
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<String> = [
            "--brokers",
            &brokers(),
            "--topic",
            &stage.topic,
            "--alerts-topic",
            &stage.alerts_topic,
            "--instance-id",
            &instance_id,
            "--listen",
            &listen,
            "--metrics-addr",
            &metrics,
            "--kafka-prop",
            "session.timeout.ms=10000",
            "--drain-timeout",
            "5s",
            "--stall-timeout",
            STALL,
        ]
        .map(str::to_owned)
        .to_vec();
        instances.push(Instance::start(
            SENDER,
            slot,
            args,
            vec![("PARLEY_JWT_SECRET", SECRET)],
            metrics,
        ));
        ws_addrs.push(listen);
    }
    ws_addrs
}

/// Waits until every group owns its 12 partitions (senders: 12 + the
/// alert topic).
pub fn wait_assigned(instances: &[Instance]) {
    let metrics_of = |worker: &str, instances: &[Instance]| -> Vec<String> {
        instances
            .iter()
            .filter(|i| i.worker == worker)
            .map(|i| i.metrics.clone())
            .collect()
    };
    for worker in SHARED {
        let addrs = metrics_of(worker, instances);
        wait_until(
            Duration::from_secs(90),
            &format!("{worker} assigned"),
            || {
                let assigned: f64 = addrs
                    .iter()
                    .filter_map(|a| http_get(a, "/metrics"))
                    .map(|(_, m)| metric(&m, "parley_partitions_assigned"))
                    .sum();
                assigned >= 12.0
            },
        );
    }
    for addr in metrics_of(SENDER, instances) {
        wait_until(Duration::from_secs(90), "websocket-sender assigned", || {
            http_get(&addr, "/metrics")
                .is_some_and(|(_, m)| metric(&m, "parley_partitions_assigned") >= 13.0)
        });
    }
}

/// Clients: each room watched through both senders.
pub fn watch_rooms(rooms: &[String], ws_addrs: &[String]) -> Vec<RoomClient> {
    let moderator = token("fault-watcher", "moderator", &["*"], "2h");
    rooms
        .iter()
        .flat_map(|room| {
            ws_addrs
                .iter()
                .map(|addr| RoomClient::start(addr, room, &moderator))
        })
        .collect()
}
