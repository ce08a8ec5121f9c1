//! anomaly-detector against the real stack (Kafka, Alertmanager): alert
//! quality on loadgen's labelled incidents, one alert per incident, alerts
//! grouped and resolved in Alertmanager, an incident going on across a
//! restart keeps its `alert_id`, and a broken rule reload refused.

use std::path::PathBuf;
use std::time::Duration;

use parley_tests::alert_quality::{evaluate, explain, CATEGORIES};
use parley_tests::process::{
    group_metric, http_get, loadgen, loadgen_args, metric, worker_args, Worker,
};
use parley_tests::ws::produce;
use parley_tests::{free_port, fresh_topic, read_all, unique_name, wait_until};
use serde_json::{json, Value};

const ALERTMANAGER: &str = "127.0.0.1:9093";

fn default_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/anomaly-detector/rules.toml")
}

struct Detector {
    worker: Worker,
    metrics: String,
    alerts: String,
    /// Consumer group on the messages topic.
    group: String,
}

async fn start(topic: &str, rules: &std::path::Path, extra: &[&str]) -> Detector {
    let alerts = fresh_topic("anomaly-alerts", 3).await;
    let group = unique_name("anomaly");
    start_on(topic, rules, extra, alerts, group).await
}

/// A detector writing to `alerts`, consuming in `group`.
async fn start_on(
    topic: &str,
    rules: &std::path::Path,
    extra: &[&str],
    alerts: String,
    group: String,
) -> Detector {
    let dlq = fresh_topic("anomaly-dlq", 1).await;
    let by_game = fresh_topic("anomaly-by-game", 3).await;
    let port = free_port();
    let rules = rules.display().to_string();
    let mut args = vec![
        "--rules",
        rules.as_str(),
        "--alerts-topic",
        alerts.as_str(),
        "--by-game-topic",
        by_game.as_str(),
    ];
    args.extend_from_slice(extra);
    let mut worker = Worker::start(
        "anomaly-detector",
        &worker_args(topic, &group, &dlq, port, &args),
    );
    let metrics = format!("127.0.0.1:{port}");
    wait_until(Duration::from_secs(60), "detector assigned", || {
        assert!(worker.is_running(), "{}", worker.log_text());
        http_get(&metrics, "/metrics")
            .is_some_and(|(_, t)| group_metric(&t, "parley_partitions_assigned", &group) >= 1.0)
    });
    Detector {
        worker,
        metrics,
        alerts,
        group,
    }
}

fn alerts(topic: &str) -> Vec<Value> {
    read_all(topic, Duration::from_secs(10))
        .into_iter()
        .filter_map(|r| serde_json::from_slice(r.payload.as_deref()?).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_incidents_are_found_with_high_precision_and_recall() {
    let topic = fresh_topic("anomaly", 6).await;
    let detector = start(&topic, &default_rules(), &[]).await;
    let truth = std::env::temp_dir().join(format!("{}.jsonl", unique_name("truth")));
    let truth_arg = truth.display().to_string();
    let args: Vec<&str> = [
        "--count 200000 --rate 8000 --seed 11 --games 8 --rooms 2000 --users 200000",
        "--malformed-ratio 0.002 --incident flood=2 --incident repetition=2 --incident spam=1",
        "--incident links=1.5 --incident caps=2 --incident toxicity=3 --incident raid=0.5",
    ]
    .iter()
    .flat_map(|line| line.split(' '))
    .chain(["--truth", truth_arg.as_str()])
    .collect();
    let summary = loadgen(&loadgen_args(&topic, &args));
    // Read, not committed: records stay uncommitted for the rule windows
    // (the detector's hold-back), so count what it read.
    let records = summary["records"].as_f64().expect("records");
    wait_until(Duration::from_secs(90), "every record read", || {
        http_get(&detector.metrics, "/metrics").is_some_and(|(_, t)| {
            group_metric(&t, "parley_records_consumed_total", &detector.group) >= records
        })
    });
    // Evidence folded into open incidents is published within seconds.
    std::thread::sleep(Duration::from_secs(7));
    let found = alerts(&detector.alerts);
    let truth_text = std::fs::read_to_string(&truth).expect("truth");
    let quality = evaluate(&truth_text, &found);
    println!("{}", quality.table());
    let contents: std::collections::HashMap<String, String> =
        read_all(&topic, Duration::from_secs(10))
            .into_iter()
            .filter_map(|r| {
                let m: Value = serde_json::from_slice(r.payload.as_deref()?).ok()?;
                Some((
                    m["message_id"].as_str()?.to_owned(),
                    m["content"].as_str()?.to_owned(),
                ))
            })
            .collect();
    println!("{}", explain(&truth_text, &found, &contents));
    for name in CATEGORIES {
        let q = &quality.categories[name];
        assert!(q.incidents > 0, "no {name} incident generated");
        assert!(
            q.recall() >= 0.95,
            "{name} recall {:.3}\n{}",
            q.recall(),
            quality.table()
        );
        assert!(
            q.precision() >= 0.95,
            "{name} precision {:.3}\n{}",
            q.precision(),
            quality.table()
        );
    }
    assert!(quality.false_rate() < 0.001, "{}", quality.table());
    // Every alert is Alert v1.
    for a in &found {
        for field in [
            "alert_id", "rule", "category", "severity", "game_id", "room_id", "summary",
        ] {
            assert!(a[field].is_string(), "{field} in {a}");
        }
        assert!(a["message_ids"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.len() <= 50));
        for field in ["window_start", "window_end", "detected_at"] {
            assert!(a[field].is_i64(), "{field} in {a}");
        }
    }
    let _ = std::fs::remove_file(truth);
    drop(detector);
}

fn chat(user: &str, room: &str, n: usize) -> (String, Value) {
    (
        room.to_owned(),
        json!({
            "v": 1, "message_id": uuid::Uuid::new_v4().to_string(), "game_id": "g-flood",
            "room_id": room, "user_id": user, "kind": "chat",
            "content": format!("spam line number {n} {}", n * 7919 % 1000),
            "sent_at": parley_tests::now_ms(),
        }),
    )
}

/// Alerts Alertmanager holds for `alert_id` (active ones only).
fn alertmanager_alerts(alert_id: &str) -> Vec<Value> {
    let filter = format!("alert_id=\"{alert_id}\"");
    let path = format!(
        "/api/v2/alerts?filter={}",
        filter.replace('"', "%22").replace('=', "%3D")
    );
    http_get(ALERTMANAGER, &path)
        .and_then(|(_, body)| serde_json::from_str::<Vec<Value>>(&body).ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_a_thousand_messages_is_one_alert_grouped_and_resolved_in_alertmanager() {
    // The default rules with a short cooldown, so resolution is quick.
    let dir = std::env::temp_dir().join(unique_name("rules"));
    std::fs::create_dir_all(dir.join("wordlists")).expect("dir");
    let shipped = default_rules();
    let base = shipped.parent().expect("deploy dir");
    let text = std::fs::read_to_string(&shipped)
        .expect("rules")
        .replace("cooldown = \"2m\"", "cooldown = \"3s\"");
    std::fs::write(dir.join("rules.toml"), text).expect("write");
    for entry in std::fs::read_dir(base.join("wordlists")).expect("wordlists") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join("wordlists").join(entry.file_name())).expect("copy");
    }

    let topic = fresh_topic("anomaly-flood", 3).await;
    let mut detector = start(
        &topic,
        &dir.join("rules.toml"),
        &[
            "--alertmanager-url",
            "http://127.0.0.1:9093",
            "--alertmanager-resend",
            "2s",
        ],
    )
    .await;
    let room = unique_name("room");
    let flood: Vec<(String, Value)> = (0..1000).map(|n| chat("flooder", &room, n)).collect();
    produce(&topic, &flood).await;
    wait_until(Duration::from_secs(60), "flood read", || {
        http_get(&detector.metrics, "/metrics")
            .is_some_and(|(_, t)| metric(&t, "parley_records_consumed_total") >= 1000.0)
    });
    let found = alerts(&detector.alerts);
    let found = parley_tests::alert_quality::merge_updates(&found);
    let floods: Vec<&Value> = found.iter().filter(|a| a["category"] == "flood").collect();
    assert_eq!(
        floods.len(),
        1,
        "one alert (one alert_id) for the incident: {found:?}"
    );
    let alert_id = floods[0]["alert_id"].as_str().expect("id").to_owned();
    assert_eq!(floods[0]["user_id"], "flooder");

    // Alertmanager holds it, grouped by category and room…
    wait_until(Duration::from_secs(30), "alert in Alertmanager", || {
        !alertmanager_alerts(&alert_id).is_empty()
    });
    let held = alertmanager_alerts(&alert_id);
    assert_eq!(held[0]["labels"]["category"], "flood");
    assert_eq!(held[0]["labels"]["room_id"], room.as_str());
    wait_until(Duration::from_secs(30), "alert grouped", || {
        http_get(ALERTMANAGER, "/api/v2/alerts/groups").is_some_and(|(_, body)| {
            serde_json::from_str::<Vec<Value>>(&body).is_ok_and(|groups| {
                groups.iter().any(|g| {
                    g["labels"]["room_id"] == room.as_str()
                        && g["labels"]["category"] == "flood"
                        && g["alerts"].as_array().is_some_and(|a| !a.is_empty())
                })
            })
        })
    });
    // …and resolves it once the flood has been quiet for the cooldown.
    wait_until(Duration::from_secs(60), "alert resolved", || {
        alertmanager_alerts(&alert_id).is_empty()
    });
    assert!(detector.worker.stop(Duration::from_secs(30)).success());
    let _ = std::fs::remove_dir_all(dir);
}

/// With nothing held back, a restarted detector resumes after the flood's
/// first messages: without the alert topic read back it would name the
/// rest of the flood after later first evidence (a second `alert_id`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_going_on_across_a_restart_keeps_its_alert_id() {
    let topic = fresh_topic("anomaly-restart", 3).await;
    let rules = default_rules();
    let mut first = start(&topic, &rules, &["--hold-back", "0s"]).await;
    let room = unique_name("room");
    let before: Vec<(String, Value)> = (0..30).map(|n| chat("flooder", &room, n)).collect();
    produce(&topic, &before).await;
    wait_until(Duration::from_secs(60), "first flood alert", || {
        alerts(&first.alerts)
            .iter()
            .any(|a| a["category"] == "flood")
    });
    let opened: Vec<Value> = alerts(&first.alerts);
    let alert_id = opened
        .iter()
        .find(|a| a["category"] == "flood")
        .and_then(|a| a["alert_id"].as_str())
        .expect("alert_id")
        .to_owned();
    assert!(first.worker.stop(Duration::from_secs(30)).success());

    let mut second = start_on(
        &topic,
        &rules,
        &["--hold-back", "0s"],
        first.alerts.clone(),
        first.group.clone(),
    )
    .await;
    assert!(
        second
            .worker
            .log_text()
            .contains("incident journal read back"),
        "{}",
        second.worker.log_text()
    );
    let after: Vec<(String, Value)> = (30..60).map(|n| chat("flooder", &room, n)).collect();
    produce(&topic, &after).await;
    wait_until(
        Duration::from_secs(60),
        "the rest of the flood read",
        || {
            http_get(&second.metrics, "/metrics")
                .is_some_and(|(_, t)| metric(&t, "parley_records_consumed_total") >= 30.0)
        },
    );
    let ids = || -> Vec<(String, Value)> {
        alerts(&first.alerts)
            .into_iter()
            .filter(|a| a["category"] == "flood")
            .map(|a| (a["alert_id"].as_str().unwrap_or_default().to_owned(), a))
            .collect()
    };
    // The restarted detector alerted the rest of the flood (read only
    // after the restart: not a repeat of what the first one read)…
    let resumed_evidence = |a: &Value| {
        a["message_ids"].as_array().is_some_and(|m| {
            m.iter()
                .any(|id| after.iter().any(|(_, v)| v["message_id"] == *id))
        })
    };
    wait_until(
        Duration::from_secs(30),
        "the restarted detector's alert",
        || ids().iter().any(|(_, a)| resumed_evidence(a)),
    );
    // …under the alert_id the first one gave it.
    let found = ids();
    assert!(
        found.iter().all(|(id, _)| *id == alert_id),
        "one alert_id for the flood across the restart: {alert_id} and {:?}",
        found.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    let reopened = found
        .iter()
        .find(|(_, a)| resumed_evidence(a))
        .map(|(_, a)| a)
        .expect("reopened");
    assert!(
        reopened["window_start"].as_i64() <= before[0].1["sent_at"].as_i64(),
        "the reopened alert's window starts with the flood: {reopened}"
    );
    assert!(second.worker.stop(Duration::from_secs(30)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_file_on_sighup_keeps_the_old_rules() {
    let dir = std::env::temp_dir().join(unique_name("rules"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("rules.toml");
    std::fs::write(
        &file,
        "[[rule]]\nname = \"long\"\nkind = \"length\"\ncategory = \"other\"\nseverity = \"info\"\nmax_chars = 20\ncooldown = \"1s\"\n",
    )
    .expect("write");
    let topic = fresh_topic("anomaly-hup", 1).await;
    let detector = start(&topic, &file, &[]).await;
    std::fs::write(
        &file,
        "[[rule]]\nname = \"long\"\nkind = \"length\"\nmax_chars = \"many\"\n",
    )
    .expect("write");
    detector.worker.signal("HUP");
    wait_until(Duration::from_secs(20), "reload refused", || {
        http_get(&detector.metrics, "/metrics").is_some_and(|(_, t)| {
            t.lines().any(|l| {
                l.starts_with("parley_anomaly_rule_reloads_total{")
                    && l.contains("error")
                    && l.ends_with(" 1")
            })
        })
    });
    assert!(detector.worker.log_text().contains("rule reload refused"));
    // The old rule still fires.
    let long = (
        "r".to_owned(),
        json!({
            "v": 1, "message_id": "long-1", "game_id": "g", "room_id": "r", "user_id": "u",
            "kind": "chat", "content": "this message is longer than twenty characters",
            "sent_at": parley_tests::now_ms(),
        }),
    );
    produce(&topic, &[long]).await;
    wait_until(Duration::from_secs(30), "old rule fired", || {
        alerts(&detector.alerts).iter().any(|a| a["rule"] == "long")
    });
    let _ = std::fs::remove_dir_all(dir);
}
