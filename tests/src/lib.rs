//! Helpers for Parley's integration tests: where the stack is, fresh topics,
//! the workspace's binaries, and reading a topic back in full.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::TopicPartitionList;

/// Bootstrap servers of the running stack (`PARLEY_BROKERS`, else local).
pub fn brokers() -> String {
    std::env::var("PARLEY_BROKERS")
        .unwrap_or_else(|_| parley_shared::config::DEFAULT_BROKERS.into())
}

/// A name no other test uses, e.g. `it-loadgen-3f2a…`.
pub fn unique_name(prefix: &str) -> String {
    format!("it-{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a fresh topic with `partitions` partitions (the brokers' default
/// replication: 1 on the single-broker stack, 3 on the 3-broker one) and
/// returns its name.
pub async fn fresh_topic(prefix: &str, partitions: i32) -> String {
    let name = unique_name(prefix);
    create_topic(&name, partitions).await;
    name
}

/// Creates topic `name` unless it exists, and waits until every partition
/// has a leader.
pub async fn create_topic(name: &str, partitions: i32) {
    let name = name.to_owned();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client");
    let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(-1));
    let results = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics request; is the stack up? (deploy/local/stack.sh up)");
    for result in results {
        if let Err((topic, code)) = result {
            assert_eq!(
                code,
                rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                "creating {topic}"
            );
        }
    }
    // The broker may answer before its metadata has the new topic (a worker
    // started at once then says it does not exist): wait until it is there
    // with a leader for every partition.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = admin
            .inner()
            .fetch_metadata(Some(&name), Duration::from_secs(5))
            .ok()
            .is_some_and(|m| {
                m.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                })
            });
        if ready || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`create_topic`] from synchronous code (its own thread and runtime).
pub fn create_topic_blocking(name: &str, partitions: i32) {
    let name = name.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(create_topic(&name, partitions));
    })
    .join()
    .expect("topic creation thread");
}

/// The repository's root (the workspace folder above `tests/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Path of a workspace binary, built by `cargo build --workspace --bins`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found; build the binaries first: cargo build --workspace --bins",
        path.display()
    );
    path
}

/// One record read back from Kafka.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    /// Headers, as UTF-8 (lossy).
    pub headers: Vec<(String, String)>,
    /// Partition it came from.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Payload bytes.
    pub payload: Option<Vec<u8>>,
}

/// Reads every record of `topic` from the beginning of each partition up to
/// the high watermark seen at the start. Uses manual assignment (no group).
pub fn read_all(topic: &str, timeout: Duration) -> Vec<ConsumedRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut ends = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        if high > low {
            ends.insert(p, high);
            assignment
                .add_partition_offset(topic, p, rdkafka::Offset::Offset(low))
                .expect("assign");
        }
    }
    consumer.assign(&assignment).expect("assign");
    let mut records = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut done: BTreeMap<i32, bool> = ends.keys().map(|&p| (p, false)).collect();
    while done.values().any(|d| !d) {
        assert!(
            Instant::now() < deadline,
            "timed out reading {topic}: {} records so far",
            records.len()
        );
        let Some(result) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = result.expect("consume");
        let partition = message.partition();
        if message.offset() + 1 >= ends[&partition] {
            done.insert(partition, true);
        }
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(ConsumedRecord {
            headers,
            partition,
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
        });
    }
    records
}

pub mod alert_quality;
pub mod browser;
pub mod clickhouse;
pub mod faults;
pub mod health;
pub mod malformed;
pub mod process;
pub mod stack;
pub mod ws;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    parley_shared::metrics::now_ms()
}

/// Polls `check` every 250 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Committed offsets of `group` on `topic`, by partition (absent: none).
pub fn committed_offsets(group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// True when `group` has committed every partition of `topic` to its end:
/// every record is durable, whatever was re-read along the way.
pub fn committed_to_end(group: &str, topic: &str) -> bool {
    let committed = committed_offsets(group, topic);
    end_offsets(topic)
        .into_iter()
        .filter(|&(_, end)| end > 0)
        .all(|(partition, end)| committed.get(&partition) == Some(&end))
}

/// End offsets (high watermarks) of every partition of `topic`.
pub fn end_offsets(topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks");
            (p.id(), high)
        })
        .collect()
}

/// A TCP port on loopback that is free now and stays free until a worker
/// binds it: taken from 20000–28999, outside the kernel's ephemeral range
/// (32768–60999), where a port handed out by `bind(:0)` could become the
/// source port of any outgoing connection (a worker's to the brokers)
/// before the worker under test binds it (a CI run failed so: "Address
/// already in use"). The span also keeps clear of the stack's own ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 9_000;
    // Each test process starts somewhere else, then walks the span.
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new(uuid::Uuid::new_v4().as_u128() as u32 % SPAN));
    for _ in 0..SPAN {
        let port = (FIRST + next.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN);
}

/// What DuckDB and pyarrow read from the `game-messages` dataset of a
/// parquet-exporter output root, as `tests/python/read_parquet.py` prints
/// it (rows, distinct ids, ids, types, repeated rows…).
pub fn read_parquet(out: &std::path::Path) -> serde_json::Value {
    read_parquet_dataset(out, "game-messages")
}

/// What DuckDB and pyarrow read from one dataset of an exporter output
/// (`game-messages`, `moderation-actions`): see `python/read_parquet.py`.
pub fn read_parquet_dataset(out: &std::path::Path, dataset: &str) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/read_parquet.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(out)
        .arg(dataset)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "read_parquet.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}
