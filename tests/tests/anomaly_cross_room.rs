//! Cross-room spam split across two anomaly-detector instances (issue #8):
//! a copy-paste wave over twelve rooms, one per partition of the messages
//! topic, so that neither instance reads more than eleven of them. The
//! rule needs twelve users in twelve rooms: only the by-game topic (key =
//! game) brings the copies together. Expected: exactly one alert for the
//! incident, with every copy as evidence; after both instances are killed,
//! a fresh one rebuilds the copy track from the held sightings, counts the
//! sightings the replay sends again once, and repeats the same `alert_id`.

use std::collections::BTreeSet;
use std::time::Duration;

use parley_tests::alert_quality::merge_updates;
use parley_tests::process::{group_metric, http_get, worker_args, Worker};
use parley_tests::{brokers, free_port, fresh_topic, read_all, unique_name, wait_until};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

const PARTITIONS: usize = 12;
const RULE: &str = "xroom-spam";

/// Only the cross-room rule alerts; the flood rule (never reached) keeps
/// the messages uncommitted for 5 minutes, so a restart reads them again
/// and sends their sightings twice.
const RULES: &str = r#"
[[rule]]
name = "xroom-spam"
kind = "cross_room"
category = "spam"
severity = "warning"
min_users = 12
min_rooms = 12
window = "10m"
signals = ["free", "claim", "gold"]

[[rule]]
name = "flood"
kind = "flood"
category = "flood"
severity = "warning"
threshold = 100000
window = "5m"
"#;

struct Setup {
    topic: String,
    dlq: String,
    alerts: String,
    by_game: String,
    group: String,
    rules: String,
}

impl Setup {
    fn start(&self) -> (Worker, String) {
        let port = free_port();
        let args = worker_args(
            &self.topic,
            &self.group,
            &self.dlq,
            port,
            &[
                "--rules",
                &self.rules,
                "--alerts-topic",
                &self.alerts,
                "--by-game-topic",
                &self.by_game,
            ],
        );
        (
            Worker::start("anomaly-detector", &args),
            format!("127.0.0.1:{port}"),
        )
    }

    /// Partitions each instance holds in `group`.
    fn assigned(&self, addrs: &[&str], group: &str) -> Vec<f64> {
        addrs
            .iter()
            .map(|a| {
                http_get(a, "/metrics").map_or(0.0, |(_, t)| {
                    group_metric(&t, "parley_partitions_assigned", group)
                })
            })
            .collect()
    }

    /// The alert records of the rule, as written (repeats included).
    fn alerts(&self) -> Vec<Value> {
        read_all(&self.alerts, Duration::from_secs(5))
            .into_iter()
            .filter_map(|r| serde_json::from_slice::<Value>(r.payload.as_deref()?).ok())
            .filter(|a| a["rule"] == RULE)
            .collect()
    }
}

fn chat(game: &str, room: &str, user: &str, content: &str) -> Value {
    json!({
        "v": 1, "message_id": uuid::Uuid::new_v4().to_string(), "game_id": game,
        "room_id": room, "user_id": user, "kind": "chat", "content": content,
        "sent_at": parley_tests::now_ms(),
    })
}

/// Produces `value` keyed by `room`; returns its partition.
async fn send(producer: &FutureProducer, topic: &str, room: &str, value: &Value) -> i32 {
    let payload = value.to_string();
    producer
        .send(
            FutureRecord::to(topic).key(room).payload(&payload),
            Duration::from_secs(30),
        )
        .await
        .expect("delivered")
        .partition
}

fn ids(alert: &Value) -> BTreeSet<String> {
    alert["message_ids"]
        .as_array()
        .expect("message_ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_split_across_two_instances_is_one_alert() {
    let dir = std::env::temp_dir().join(unique_name("xroom-rules"));
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).expect("rules");
    let setup = Setup {
        topic: fresh_topic("xroom", PARTITIONS as i32).await,
        dlq: fresh_topic("xroom-dlq", 1).await,
        alerts: fresh_topic("xroom-alerts", 3).await,
        by_game: fresh_topic("xroom-by-game", PARTITIONS as i32).await,
        group: unique_name("xroom"),
        rules: rules.display().to_string(),
    };
    let by_game_group = format!("{}.by-game", setup.group);
    let (mut a, a_addr) = setup.start();
    let (mut b, b_addr) = setup.start();
    let addrs = [a_addr.as_str(), b_addr.as_str()];
    wait_until(
        Duration::from_secs(90),
        "both instances share both topics",
        || {
            assert!(a.is_running(), "{}", a.log_text());
            assert!(b.is_running(), "{}", b.log_text());
            let main = setup.assigned(&addrs, &setup.group);
            let by_game = setup.assigned(&addrs, &by_game_group);
            main.iter().all(|n| *n >= 1.0)
                && main.iter().sum::<f64>() == PARTITIONS as f64
                && by_game.iter().sum::<f64>() == PARTITIONS as f64
        },
    );

    // One room per partition (found by producing an ordinary line into
    // candidates): each instance reads at most eleven of the twelve rooms.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let game = unique_name("xroom-game");
    let mut rooms: Vec<Option<String>> = vec![None; PARTITIONS];
    for i in 0.. {
        assert!(i < 2_000, "no room for some partition: {rooms:?}");
        let room = format!("{game}-room-{i}");
        let hello = chat(
            &game,
            &room,
            &format!("regular-{i}"),
            "hello there, good game",
        );
        let p = send(&producer, &setup.topic, &room, &hello).await as usize;
        rooms[p].get_or_insert(room);
        if rooms.iter().all(Option::is_some) {
            break;
        }
    }
    let rooms: Vec<String> = rooms.into_iter().flatten().collect();

    // The wave: twelve users paste the same advert, one in each room.
    let advert = "FREE gold for everyone, claim it now at goldshop";
    let mut wave = BTreeSet::new();
    for (i, room) in rooms.iter().enumerate() {
        let message = chat(&game, room, &format!("spammer-{i}"), advert);
        wave.insert(message["message_id"].as_str().expect("id").to_owned());
        send(&producer, &setup.topic, room, &message).await;
    }

    wait_until(Duration::from_secs(60), "the cross-room alert", || {
        !setup.alerts().is_empty()
    });
    // Evidence folded in later is published within seconds.
    std::thread::sleep(Duration::from_secs(7));
    let first = merge_updates(&setup.alerts());
    assert_eq!(first.len(), 1, "one alert (one alert_id): {first:#?}");
    let alert = &first[0];
    assert_eq!(alert["game_id"], game.as_str());
    assert_eq!(alert["category"], "spam");
    assert_eq!(ids(alert), wave, "every copy is evidence, once");
    let sent: f64 = addrs
        .iter()
        .filter_map(|a| http_get(a, "/metrics"))
        .map(|(_, t)| sightings(&t, "sent"))
        .sum();
    assert_eq!(
        sent, PARTITIONS as f64,
        "one sighting per copy, sent by whichever instance read it"
    );

    // Both crash; a fresh instance reads the held records again: the copy
    // track is rebuilt from the held sightings, the sightings the replay
    // sends again count once, and the alert repeats under the same id.
    a.signal("KILL");
    b.signal("KILL");
    a.wait(Duration::from_secs(10));
    b.wait(Duration::from_secs(10));
    let before = setup.alerts().len();
    let (mut c, c_addr) = setup.start();
    wait_until(Duration::from_secs(120), "the alert repeated", || {
        assert!(c.is_running(), "{}", c.log_text());
        setup.alerts().len() > before
    });
    wait_until(
        Duration::from_secs(60),
        "the replayed sightings read",
        || http_get(&c_addr, "/metrics").is_some_and(|(_, t)| sightings(&t, "duplicate") >= 12.0),
    );
    std::thread::sleep(Duration::from_secs(7));
    let all = setup.alerts();
    let again = merge_updates(&all);
    assert_eq!(
        again.len(),
        1,
        "the same alert_id after the restart: {all:#?}"
    );
    assert_eq!(again[0]["alert_id"], alert["alert_id"]);
    for record in &all {
        let evidence = record["message_ids"].as_array().expect("ids");
        assert_eq!(
            evidence.len(),
            ids(record).len(),
            "no evidence twice: {record}"
        );
        assert!(ids(record).is_subset(&wave), "{record}");
    }
    assert!(
        c.stop(Duration::from_secs(30)).success(),
        "{}",
        c.log_text()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `parley_anomaly_sightings_total` with `result`.
fn sightings(text: &str, result: &str) -> f64 {
    let label = format!("result=\"{result}\"");
    text.lines()
        .filter(|l| l.starts_with("parley_anomaly_sightings_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
