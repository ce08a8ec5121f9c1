//! analytics against the real stack: for a loadgen run with known totals,
//! the counters are exact, the active-user estimates are within the
//! sketch's error, active rooms and the busiest room are right, games past
//! the cap fold into `other`, and a rebalance starts new windows clean and
//! says so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use parley_tests::process::{
    group_metric, http_get, loadgen, loadgen_args, metric, worker_args, Worker,
};
use parley_tests::{free_port, fresh_topic, read_all, unique_name, wait_until};

/// Series of `name` from a `/metrics` text: labels → value.
fn series(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter_map(|l| {
            let (labels, value) = l[name.len() + 1..].rsplit_once("} ")?;
            let mut map = BTreeMap::new();
            for pair in labels.split("\",") {
                let (k, v) = pair.split_once("=\"")?;
                map.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
            }
            Some((map, value.parse().ok()?))
        })
        .collect()
}

#[derive(Default)]
struct Truth {
    messages: HashMap<(String, String), u64>,
    users: HashMap<String, HashSet<String>>,
    rooms: HashMap<String, HashSet<String>>,
    per_room: HashMap<String, u64>,
    valid: u64,
}

fn truth(topic: &str) -> Truth {
    let mut t = Truth::default();
    for record in read_all(topic, Duration::from_secs(30)) {
        let Ok(m) = parley_shared::GameMessage::decode_record(
            record.key.as_deref(),
            record.payload.as_deref(),
        ) else {
            continue;
        };
        t.valid += 1;
        let kind = match m.kind.as_str() {
            k @ ("chat" | "system" | "join" | "leave") => k.to_owned(),
            _ => "other".to_owned(),
        };
        *t.messages.entry((m.game_id.clone(), kind)).or_default() += 1;
        t.users
            .entry(m.game_id.clone())
            .or_default()
            .insert(m.user_id.clone());
        t.rooms
            .entry(m.game_id.clone())
            .or_default()
            .insert(m.room_id.clone());
        *t.per_room.entry(m.room_id.clone()).or_default() += 1;
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_windows_top_rooms_and_the_game_cap_match_the_traffic() {
    let topic = fresh_topic("analytics", 4).await;
    let group = unique_name("analytics");
    let dlq = fresh_topic("analytics-dlq", 1).await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut worker = Worker::start(
        "analytics",
        &worker_args(
            &topic,
            &group,
            &dlq,
            port,
            &["--refresh", "300ms", "--max-games", "3", "--top-rooms", "5"],
        ),
    );
    wait_until(Duration::from_secs(60), "analytics assigned", || {
        assert!(worker.is_running(), "{}", worker.log_text());
        http_get(&addr, "/metrics")
            .is_some_and(|(_, t)| metric(&t, "parley_partitions_assigned") >= 4.0)
    });
    let truth = produce(&topic);
    let text = metrics_once_counted(&addr, &truth);

    let own = counters_are_exact(&text, &truth);
    active_users_are_within_the_bound(&text, &truth, &own);
    rooms_are_right(&text, &truth, &own);
    let mut second = a_second_instance_starts_clean(&topic, &group, &dlq, &addr);
    assert!(second.stop(Duration::from_secs(30)).success());
    assert!(worker.stop(Duration::from_secs(30)).success());
}

/// Four games against a cap of three; all sent within seconds, so every
/// window holds everything. Returns what the topic holds.
fn produce(topic: &str) -> Truth {
    let summary = loadgen(&loadgen_args(
        topic,
        &[
            "--count",
            "30000",
            "--rate",
            "0",
            "--seed",
            "7",
            "--games",
            "4",
            "--rooms",
            "60",
            "--users",
            "3000",
            "--malformed-ratio",
            "0.01",
        ],
    ));
    let truth = truth(topic);
    assert_eq!(summary["valid"].as_u64(), Some(truth.valid));
    truth
}

/// `/metrics` once every record is counted, and one more refresh after.
fn metrics_once_counted(addr: &str, truth: &Truth) -> String {
    let mut text = String::new();
    wait_until(Duration::from_secs(60), "every record counted", || {
        text = http_get(addr, "/metrics")
            .map(|(_, t)| t)
            .unwrap_or_default();
        metric(&text, "parley_analytics_messages_total") >= truth.valid as f64
    });
    std::thread::sleep(Duration::from_millis(800)); // one more refresh
    http_get(addr, "/metrics").expect("metrics").1
}

/// Counters: exact per label; three games of their own, the fourth `other`.
/// Returns the games with a label of their own.
fn counters_are_exact(text: &str, truth: &Truth) -> Vec<String> {
    let counted = series(text, "parley_analytics_messages_total");
    let labels: HashSet<&str> = counted.iter().map(|(l, _)| l["game"].as_str()).collect();
    assert!(labels.len() == 4 && labels.contains("other"), "{labels:?}");
    let own: Vec<&str> = labels.iter().copied().filter(|g| *g != "other").collect();
    let label_of = |game: &str| {
        if own.contains(&game) {
            game.to_owned()
        } else {
            "other".to_owned()
        }
    };
    let mut want: HashMap<(String, String), u64> = HashMap::new();
    for ((game, kind), n) in &truth.messages {
        *want.entry((label_of(game), kind.clone())).or_default() += n;
    }
    for (labels, value) in &counted {
        let key = (labels["game"].clone(), labels["kind"].clone());
        // Every kind of a game is exported from its first message (0 until seen).
        assert_eq!(
            *value as u64,
            want.get(&key).copied().unwrap_or(0),
            "{key:?}"
        );
    }
    own.into_iter().map(str::to_owned).collect()
}

/// Active users per label (HyperLogLog: ~1.6% standard error; 5% bound).
fn active_users_are_within_the_bound(text: &str, truth: &Truth, own: &[String]) {
    let folded: Vec<String> = truth
        .users
        .keys()
        .filter(|g| !own.contains(g))
        .cloned()
        .collect();
    let users = series(text, "parley_analytics_active_users");
    for window in ["1m", "5m", "1h"] {
        for label in own.iter().cloned().chain(["other".to_owned()]) {
            let exact: HashSet<&String> = if label == "other" {
                folded.iter().flat_map(|g| &truth.users[g]).collect()
            } else {
                truth.users[&label].iter().collect()
            };
            let got = users
                .iter()
                .find(|(l, _)| l["game"] == label && l["window"] == window)
                .map(|(_, v)| *v)
                .unwrap_or(0.0);
            let exact = exact.len() as f64;
            assert!(
                (got - exact).abs() <= exact * 0.05 + 1.0,
                "{label} {window}: {got} vs {exact}"
            );
        }
    }
}

/// Active rooms: exact (rooms live in one partition). Top rooms: five
/// series, the busiest first in truth too.
fn rooms_are_right(text: &str, truth: &Truth, own: &[String]) {
    let rooms = series(text, "parley_analytics_active_rooms");
    for game in own {
        let got = rooms
            .iter()
            .find(|(l, _)| l["game"] == *game && l["window"] == "5m")
            .map(|(_, v)| *v as usize);
        assert_eq!(got, Some(truth.rooms[game].len()), "{game}");
    }

    let top = series(text, "parley_analytics_top_room_messages");
    assert_eq!(top.len(), 5, "{top:?}");
    let (busiest, count) = truth
        .per_room
        .iter()
        .max_by_key(|(room, n)| (**n, std::cmp::Reverse(room.to_string())))
        .expect("rooms");
    let got = top
        .iter()
        .find(|(l, _)| &l["room"] == busiest)
        .map(|(_, v)| *v as u64);
    assert_eq!(got, Some(*count), "busiest room {busiest}");
}

/// A second instance joins: partitions move, their windows start clean,
/// and both say so. Returns the second instance, still running.
fn a_second_instance_starts_clean(topic: &str, group: &str, dlq: &str, addr: &str) -> Worker {
    let port2 = free_port();
    let addr2 = format!("127.0.0.1:{port2}");
    let second = Worker::start(
        "analytics",
        &worker_args(topic, group, dlq, port2, &["--refresh", "300ms"]),
    );
    // The messages group's partitions (the actions group has its own).
    let assigned = |t: &str| group_metric(t, "parley_partitions_assigned", group);
    wait_until(Duration::from_secs(60), "partitions split", || {
        let a = http_get(addr, "/metrics").map(|(_, t)| assigned(&t));
        let b = http_get(&addr2, "/metrics").map(|(_, t)| assigned(&t));
        matches!((a, b), (Some(a), Some(b)) if a >= 1.0 && b >= 1.0 && a + b == 4.0)
    });
    wait_until(Duration::from_secs(10), "warming reported", || {
        http_get(&addr2, "/metrics").is_some_and(|(_, t)| {
            metric(&t, "parley_analytics_partitions_warming") >= 1.0
                && metric(&t, "parley_analytics_partition_resets_total") >= 1.0
        })
    });
    second
}
