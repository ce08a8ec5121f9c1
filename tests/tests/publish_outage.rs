//! Kafka stopped while players publish: every publish meanwhile is refused
//! with 4503 within a couple of seconds and none is acknowledged; after
//! Kafka is back, publishing works again without a restart, and every
//! acknowledged message is on the topic and in ClickHouse exactly once.
//! (Its own test binary: stopping Kafka must not disturb other tests.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::process::Worker;
use parley_tests::stack::ServiceStopped;
use parley_tests::ws::{publish_token, start_sender, Client};
use parley_tests::{brokers, fresh_topic, read_all, unique_name, wait_until};
use serde_json::{json, Value};

/// Sends one publish and returns its answer and how long it took.
async fn publish(client: &mut Client, key: &str, wait: Duration) -> (Value, Duration) {
    let started = Instant::now();
    client
        .send(json!({"op": "publish", "room_id": "r1", "content": format!("line {key}"), "client_msg_id": key}))
        .await;
    let answer = client
        .next_matching(wait, |f| {
            matches!(f["op"].as_str(), Some("published" | "error")) && f["client_msg_id"] == key
        })
        .await
        .unwrap_or_else(|| panic!("no answer to {key} within {wait:?}"));
    (answer, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_down_refuses_publishes_with_4503_and_loses_or_repeats_nothing() {
    let topic = fresh_topic("pub-outage", 3).await;
    let alerts = fresh_topic("pub-outage-alerts", 1).await;
    let dlq = fresh_topic("pub-outage-dlq", 1).await;
    let database = fresh_database();
    let sender = start_sender(
        &topic,
        &alerts,
        3,
        &[
            "--publish-timeout",
            "2s",
            "--publish-rate",
            "100",
            "--publish-burst",
            "100",
        ],
    );
    let mut writer = Worker::start(
        "db-writer",
        &[
            "--brokers",
            &brokers(),
            "--topic",
            &topic,
            "--group",
            &unique_name("pub-outage"),
            "--dlq-topic",
            &dlq,
            "--clickhouse-database",
            &database,
            "--metrics-addr",
            &format!("127.0.0.1:{}", parley_tests::free_port()),
            "--batch-age",
            "200ms",
        ]
        .map(str::to_owned),
    );
    let token = publish_token("p-out", "viewer", &["r1"], "g1");
    let mut client = Client::connect(&sender.addr, Some(&token))
        .await
        .expect("connect");
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    for n in 0..20 {
        let key = format!("before-{n}");
        let (answer, _) = publish(&mut client, &key, Duration::from_secs(20)).await;
        assert_eq!(answer["op"], "published", "{answer}");
        acked.insert(
            key,
            answer["message_id"].as_str().unwrap_or_default().to_owned(),
        );
    }

    let outage = ServiceStopped::begin("kafka");
    for n in 0..5 {
        let key = format!("down-{n}");
        let (answer, took) = publish(&mut client, &key, Duration::from_secs(15)).await;
        assert_eq!(
            answer["op"], "error",
            "acknowledged while Kafka is down: {answer}"
        );
        assert_eq!(answer["code"], 4503, "{answer}");
        assert!(took <= Duration::from_secs(5), "4503 after {took:?}");
    }
    drop(outage);

    // Back without a restart: a failed key publishes on retry.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (answer, _) = publish(&mut client, "down-0", Duration::from_secs(15)).await;
        if answer["op"] == "published" {
            acked.insert(
                "down-0".into(),
                answer["message_id"].as_str().unwrap_or_default().into(),
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "publishing did not come back: {answer}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for n in 0..20 {
        let key = format!("after-{n}");
        let (answer, _) = publish(&mut client, &key, Duration::from_secs(20)).await;
        assert_eq!(answer["op"], "published", "{answer}");
        acked.insert(
            key,
            answer["message_id"].as_str().unwrap_or_default().to_owned(),
        );
    }

    // The topic: each acknowledged message once, nothing unacknowledged.
    let mut on_topic: BTreeMap<String, usize> = BTreeMap::new();
    for record in read_all(&topic, Duration::from_secs(10)) {
        let value: Value = serde_json::from_slice(record.payload.as_deref().unwrap_or_default())
            .expect("a JSON record");
        *on_topic
            .entry(value["message_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = acked.values().map(|id| (id.clone(), 1)).collect();
    assert_eq!(
        on_topic, expected,
        "the topic holds exactly the acknowledged messages, once"
    );

    // ClickHouse: the same, once each in query results.
    wait_until(
        Duration::from_secs(60),
        "every acknowledged message stored",
        || {
            clickhouse::try_query(&format!("SELECT count() FROM {database}.messages FINAL"))
                .is_ok_and(|n| n == acked.len().to_string())
        },
    );
    let distinct = clickhouse::number(&format!(
        "SELECT uniqExact(message_id) FROM {database}.messages FINAL"
    ));
    assert_eq!(distinct, acked.len() as u64);
    assert!(
        writer.stop(Duration::from_secs(30)).success(),
        "{}",
        writer.log_text()
    );
    drop(sender);
    drop_database(&database);
}
