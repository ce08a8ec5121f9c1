//! The worker under test: a websocket-sender on fresh topics with a fresh
//! history database holding a few old messages, and a producer for both
//! topics.

use std::time::{Duration, Instant};

use parley_tests::browser::{Cdp, Page};
use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::process::{http_get, Worker};
use parley_tests::{brokers, free_port, fresh_topic, unique_name, wait_until};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use crate::records::now_ms;
use crate::{SECRET, SHORT};

/// A websocket-sender on fresh topics and a fresh history database, with a
/// producer for both topics.
pub struct Stack {
    pub topic: String,
    pub alerts_topic: String,
    pub room: String,
    pub listen: String,
    pub producer: FutureProducer,
    _worker: Worker,
    _history: HistoryDb,
}

impl Stack {
    pub async fn start() -> Stack {
        let topic = fresh_topic("ws-console", 3).await;
        let alerts_topic = fresh_topic("ws-console-alerts", 1).await;
        let room = format!(
            "g-console-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let hour_ago = now_ms() - 3_600_000;
        let history = HistoryDb::with_old_messages(
            &room,
            &[
                ("h-old-1", "all", "first message of the evening", hour_ago),
                ("h-old-2", "all", "rematch?", hour_ago + 1_000),
                (
                    "h-old-mod",
                    "moderators",
                    "[note] watch u-troll",
                    hour_ago + 2_000,
                ),
            ],
        );
        let listen = format!("127.0.0.1:{}", free_port());
        let metrics = format!("127.0.0.1:{}", free_port());
        let args = [
            "--brokers",
            &brokers(),
            "--topic",
            &topic,
            "--alerts-topic",
            &alerts_topic,
            "--instance-id",
            &unique_name("console"),
            "--listen",
            &listen,
            "--metrics-addr",
            &metrics,
            "--clickhouse-database",
            &history.name,
        ]
        .map(str::to_owned);
        let worker =
            Worker::start_with_env("websocket-sender", &args, &[("PARLEY_JWT_SECRET", SECRET)]);
        wait_until(SHORT * 3, "websocket-sender /healthz", || {
            http_get(&metrics, "/healthz").is_some_and(|(status, _)| status == 200)
        });
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .create()
            .expect("producer");
        Stack {
            topic,
            alerts_topic,
            room,
            listen,
            producer,
            _worker: worker,
            _history: history,
        }
    }

    pub async fn produce(&self, topic: &str, value: &Value) {
        let payload = value.to_string();
        self.producer
            .send(
                FutureRecord::to(topic).key(&self.room).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }

    pub async fn message(&self, value: &Value) {
        self.produce(&self.topic, value).await;
    }

    pub async fn alert(&self, value: &Value) {
        self.produce(&self.alerts_topic, value).await;
    }

    /// The console URL that signs in with `token`.
    pub fn console_url(&self, token: &str) -> String {
        format!("http://{}/#token={token}", self.listen)
    }
}

/// The worker reads both topics from their end: until its consumers have
/// their partitions, a record can pass unseen. Produces `record(attempt)`
/// until its id shows on the page (checked by `shown(id)`); the id seen.
pub async fn produce_until_shown(
    stack: &Stack,
    cdp: &mut Cdp,
    page: &Page,
    topic: &str,
    record: impl Fn(u32) -> (String, Value),
    shown: impl Fn(&str) -> String,
) -> String {
    for attempt in 0..30 {
        let (id, value) = record(attempt);
        stack.produce(topic, &value).await;
        let deadline = Instant::now() + Duration::from_millis(800);
        while Instant::now() < deadline {
            if cdp.holds(page, &shown(&id)).await {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("{}: nothing produced to {topic} showed in 24 s", page.name);
}

/// A fresh ClickHouse database with db-writer's `messages` table holding
/// a few old messages of one room; dropped on drop.
pub struct HistoryDb {
    name: String,
}

impl HistoryDb {
    pub fn with_old_messages(room: &str, rows: &[(&str, &str, &str, i64)]) -> HistoryDb {
        let name = fresh_database();
        let schema = include_str!("../../../deploy/clickhouse/001_messages.sql")
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("parley.", &format!("{name}."))
            .replace("EXISTS parley", &format!("EXISTS {name}"));
        for statement in schema.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            clickhouse::query(statement);
        }
        let mut insert = format!("INSERT INTO {name}.messages FORMAT JSONEachRow\n");
        for (offset, (id, visibility, content, sent_at)) in rows.iter().enumerate() {
            let row = json!({
                "message_id": id, "v": 1, "game_id": "g-console", "room_id": room,
                "user_id": "u-old", "user_name": "Earlier Player", "kind": "chat",
                "content": content, "sent_at": sent_at, "visibility": visibility,
                "meta": "{}", "kafka_partition": 0, "kafka_offset": offset,
                "ingested_at": "2025-01-01 00:00:00",
            });
            insert.push_str(&format!("{row}\n"));
        }
        clickhouse::query(&insert);
        HistoryDb { name }
    }
}

impl Drop for HistoryDb {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}
