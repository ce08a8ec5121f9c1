//! The dashboards, proven live: every worker binary that exists runs on a
//! fresh topic under generated traffic (malformed records, incidents, a
//! WebSocket client, a refused connection, a history page, moderation
//! actions by each class of actor, and ClickHouse unreachable for a few
//! seconds), a dedicated Prometheus scrapes them every
//! second with the repository's alerting rules loaded, and then every query
//! of every panel of every dashboard, with Grafana's variables filled in as
//! "All", must return series. Panels whose metrics come only from a worker
//! that is not built yet are skipped, with a note. The template variables'
//! `label_values` must find values, and every alerting rule must evaluate
//! without error against the real series.

mod dashboards;
#[path = "dashboards/harness.rs"]
mod harness;
#[path = "dashboards/panels.rs"]
mod panels;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dashboards::{repo, WORKERS};
use harness::{accepting_http_server, binary_dir, supports, ClickHouseProxy, Prometheus};
use parley_tests::clickhouse::{drop_database, fresh_database, try_query};
use parley_tests::process::{http_get, loadgen_args, metric, spawn_loadgen, worker_args, Worker};
use parley_tests::ws::{self, Client, ConnectError, Sender};
use parley_tests::{free_port, fresh_topic, now_ms, unique_name, wait_until};
use serde_json::{json, Value};

/// How long loadgen produces.
const LOAD_SECONDS: u64 = 20;
/// `$__rate_interval` as Grafana would compute it for a short range.
const RATE_INTERVAL: &str = "30s";
/// `$__range`: the dashboard's time range.
const RANGE: &str = "2m";
/// Metrics a dashboard shows that the code registers but does not emit in
/// a run like this one yet: a panel of only these that comes back empty is
/// reported with the reason instead of failing (and checked as soon as the
/// series appear).
const NOT_EMITTED_YET: [(&str, &str); 1] = [(
    "parley_offset_commits_total",
    "the runtime counts its synchronous commits (revoke, shutdown) but not librdkafka's periodic auto-commits",
)];

/// Removes the test's ClickHouse database and Parquet folder at the end.
struct Cleanup {
    database: String,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        drop_database(&self.database);
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The test's fresh topics.
struct Topics {
    topic: String,
    dlq: String,
    alerts: String,
    by_game: String,
    actions: String,
}

/// The workers started, and those whose binary is not built.
struct Workers {
    present: BTreeSet<String>,
    missing: BTreeSet<String>,
    /// (worker, metrics address) for Prometheus to scrape.
    targets: Vec<(String, String)>,
    /// (worker, process, metrics address), websocket-sender aside.
    running: Vec<(String, Worker, String)>,
    sender: Option<Sender>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_series_from_the_real_workers() {
    let started = Instant::now();
    let topics = Topics {
        topic: fresh_topic("dash", 12).await,
        dlq: fresh_topic("dash-dlq", 3).await,
        alerts: fresh_topic("dash-alerts", 3).await,
        by_game: fresh_topic("dash-by-game", 3).await,
        actions: fresh_topic("dash-actions", 3).await,
    };
    let cleanup = Cleanup {
        database: fresh_database(),
        dirs: vec![std::env::temp_dir().join(unique_name("dash-export"))],
    };
    let proxy = ClickHouseProxy::start().await;

    let mut workers = start_workers(&topics, &cleanup, &proxy).await;
    let sender = workers
        .sender
        .take()
        .expect("websocket-sender is built (cargo build --workspace --bins)");
    let prometheus = Prometheus::start(&workers.targets);
    wait_assigned(&mut workers.running);
    println!(
        "workers up after {:?}: {:?}",
        started.elapsed(),
        workers.present
    );

    let analytics = workers.present.contains("analytics").then_some(&prometheus);
    let evaluated_at = feed_traffic(
        &topics,
        &cleanup.database,
        &sender,
        &proxy,
        analytics,
        started,
    )
    .await;
    // Two scrapes after the end of the load, then query as of its end.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut failures = Vec::new();
    let rows = panels::check_dashboards(&prometheus, &workers.missing, evaluated_at, &mut failures);
    panels::print_report(&rows, &workers.missing);
    check_alert_rules(&prometheus, &workers.present, &mut failures, started);
    if workers.present.contains("analytics") {
        check_actions_counted(&prometheus, evaluated_at, &mut failures);
    }

    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    drop(workers.running);
    drop(sender);
    drop(cleanup);
}

/// Every worker folder with a `Cargo.toml`, in start order, then the
/// workers of docs/contracts.md not among them.
fn worker_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(repo().join("workers"))
        .expect("workers/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort_by_key(|w| WORKERS.iter().position(|k| k == w).unwrap_or(WORKERS.len()));
    for worker in WORKERS {
        if !dirs.iter().any(|d| d == worker) {
            dirs.push(worker.to_owned());
        }
    }
    dirs
}

/// Starts every worker whose binary exists; the others are noted and their
/// panels skipped later.
async fn start_workers(topics: &Topics, cleanup: &Cleanup, proxy: &ClickHouseProxy) -> Workers {
    let bin = binary_dir();
    let mut workers = Workers {
        present: BTreeSet::new(),
        missing: BTreeSet::new(),
        targets: Vec::new(),
        running: Vec::new(),
        sender: None,
    };
    for worker in &worker_dirs() {
        let path = bin.join(worker);
        if !path.exists() {
            println!(
                "note: no {worker} binary ({}): its panels are skipped",
                path.display()
            );
            workers.missing.insert(worker.clone());
            continue;
        }
        workers.present.insert(worker.clone());
        if worker == "websocket-sender" {
            let s = ws::start_sender(
                &topics.topic,
                &topics.alerts,
                12,
                &[
                    "--clickhouse-database",
                    &cleanup.database,
                    "--actions-topic",
                    &topics.actions,
                ],
            );
            workers.targets.push((worker.clone(), s.metrics.clone()));
            workers.sender = Some(s);
            continue;
        }
        let port = free_port();
        let extra = worker_flags(worker, &path, topics, cleanup, proxy).await;
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let group = unique_name(&format!("dash-{worker}"));
        let args = worker_args(&topics.topic, &group, &topics.dlq, port, &extra);
        let addr = format!("127.0.0.1:{port}");
        workers
            .running
            .push((worker.clone(), Worker::start(worker, &args), addr.clone()));
        workers.targets.push((worker.clone(), addr));
    }
    workers
}

/// A worker's own flags (those its binary at `path` supports).
async fn worker_flags(
    worker: &str,
    path: &Path,
    topics: &Topics,
    cleanup: &Cleanup,
    proxy: &ClickHouseProxy,
) -> Vec<String> {
    let mut extra: Vec<String> = Vec::new();
    // Every worker reading (or writing) moderation actions uses the test's own.
    if supports(path, "--actions-topic") {
        extra.extend(["--actions-topic".into(), topics.actions.clone()]);
    }
    match worker {
        "db-writer" => extra.extend([
            "--clickhouse-url".into(),
            proxy.url.clone(),
            "--clickhouse-database".into(),
            cleanup.database.clone(),
        ]),
        "parquet-exporter" => extra.extend([
            "--out".into(),
            cleanup.dirs[0].to_string_lossy().into_owned(),
            "--file-age".into(),
            "2s".into(),
        ]),
        "analytics" => {
            for (flag, value) in [("--max-games", "20"), ("--top-rooms", "10")] {
                if supports(path, flag) {
                    extra.extend([flag.into(), value.into()]);
                }
            }
        }
        "anomaly-detector" => {
            let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/anomaly-detector/rules.toml");
            extra.extend(["--rules".into(), rules.to_string_lossy().into_owned()]);
            if supports(path, "--alerts-topic") {
                extra.extend(["--alerts-topic".into(), topics.alerts.clone()]);
            }
            if supports(path, "--by-game-topic") {
                extra.extend(["--by-game-topic".into(), topics.by_game.clone()]);
            }
            if supports(path, "--alertmanager-url") {
                extra.extend(["--alertmanager-url".into(), accepting_http_server().await]);
            }
        }
        _ => {}
    }
    extra
}

/// Waits until every worker reads its 12 partitions.
fn wait_assigned(running: &mut [(String, Worker, String)]) {
    for (worker, process, addr) in running {
        wait_until(
            Duration::from_secs(60),
            &format!("{worker} assigned"),
            || {
                assert!(
                    process.is_running(),
                    "{worker} exited:\n{}",
                    process.log_text()
                );
                http_get(addr, "/metrics")
                    .is_some_and(|(_, text)| metric(&text, "parley_partitions_assigned") >= 12.0)
            },
        );
    }
}

/// Traffic, with something for every panel to show: the load, a WebSocket
/// client, refused connections, a history page, moderation actions,
/// ClickHouse unreachable for 6 s. Returns the moment the load ended (Unix
/// seconds), to query as of.
async fn feed_traffic(
    topics: &Topics,
    database: &str,
    sender: &Sender,
    proxy: &ClickHouseProxy,
    analytics: Option<&Prometheus>,
    started: Instant,
) -> f64 {
    let loadgen = start_load(&topics.topic);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let room = busiest_room(database);
    let token = ws::token("dashboards", "moderator", &["*"], "1h");
    let reader = watch_room(sender, &room, &token).await;
    let publisher = players_publish(sender, &room);
    refused_connections_and_history(sender, &room, &token).await;
    moderation_actions(&topics.actions, &room, analytics).await;
    // ClickHouse unreachable for 6 s: db-writer's inserts fail and retry.
    proxy.fail(true);
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.fail(false);
    let frames = reader.await.expect("reader");
    let published = publisher.await.expect("publisher");
    assert!(published > 0, "no publish was acknowledged");
    assert!(frames > 0, "the WebSocket client got no message of {room}");
    wait_until(Duration::from_secs(10), "the disconnect counted", || {
        http_get(&sender.metrics, "/metrics")
            .is_some_and(|(_, text)| metric(&text, "parley_ws_disconnects_total") >= 1.0)
    });
    let summary = tokio::task::spawn_blocking(move || loadgen.join())
        .await
        .expect("join")
        .expect("loadgen");
    let evaluated_at = now_ms() as f64 / 1000.0;
    println!(
        "load done after {:?}: {} valid, {} malformed; {frames} frames to the client",
        started.elapsed(),
        summary["valid"],
        summary["malformed"]
    );
    evaluated_at
}

/// loadgen for `LOAD_SECONDS` with malformed records and every incident.
fn start_load(topic: &str) -> JoinHandle<Value> {
    spawn_loadgen(loadgen_args(
        topic,
        &[
            "--rate",
            "2000",
            "--duration",
            &format!("{LOAD_SECONDS}s"),
            "--seed",
            "6",
            "--games",
            "8",
            "--malformed-ratio",
            "0.01",
            "--incident",
            "flood=3",
            "--incident",
            "raid=1",
            "--incident",
            "spam=2",
            "--incident",
            "toxicity=3",
            "--incident",
            "repetition=2",
            "--incident",
            "links=2",
            "--incident",
            "caps=2",
        ],
    ))
}

/// The room with the most rows in ClickHouse so far.
fn busiest_room(database: &str) -> String {
    let mut room = None;
    wait_until(Duration::from_secs(15), "rows in ClickHouse", || {
        room = try_query(&format!(
            "SELECT room_id FROM {database}.messages GROUP BY room_id ORDER BY count() DESC LIMIT 1"
        ))
        .ok()
        .filter(|r| !r.is_empty());
        room.is_some()
    });
    room.unwrap_or_default()
}

/// A moderator watching `room` and the alerts for 5 s of silence; the
/// handle yields how many frames it got.
async fn watch_room(sender: &Sender, room: &str, token: &str) -> tokio::task::JoinHandle<usize> {
    let mut client = Client::connect(&sender.addr, Some(token))
        .await
        .expect("moderator connects");
    let subscribed = client.subscribe(room, None).await;
    assert_eq!(subscribed["op"], "subscribed", "{subscribed}");
    client.send(json!({"op": "subscribe_alerts"})).await;
    tokio::spawn(async move {
        let frames = client.messages(usize::MAX, Duration::from_secs(5)).await;
        client.close().await;
        frames.len()
    })
}

/// A player publishing over HTTP ingest, two messages a second for 10 s
/// (the publish panels); the handle yields how many were acknowledged.
fn players_publish(sender: &Sender, room: &str) -> tokio::task::JoinHandle<usize> {
    let token = ws::publish_token("dashboards-player", "viewer", &[room], "dashboards");
    let url = format!("http://{}/v1/rooms/{room}/messages", sender.addr);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut acknowledged = 0;
        for n in 0..20 {
            let body = json!({"content": format!("hello from the dashboards test {n}"), "client_msg_id": format!("d-{n}")});
            let status = agent
                .post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .send(body.to_string())
                .map(|r| r.status().as_u16());
            if status.is_ok_and(|s| s == 201) {
                acknowledged += 1;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        acknowledged
    })
}

/// Connections without a valid token are refused; a history page is served.
async fn refused_connections_and_history(sender: &Sender, room: &str, token: &str) {
    for bad in [None, Some("not-a-token")] {
        assert!(
            matches!(
                Client::connect(&sender.addr, bad).await,
                Err(ConnectError::Status(401))
            ),
            "a connection with token {bad:?} is refused"
        );
    }
    let history = http_get(
        &sender.addr,
        &format!("/rooms/{room}/messages?limit=10&token={token}"),
    );
    assert_eq!(history.map(|(s, _)| s), Some(200), "history page");
}

/// Moderation actions in `room` by each class of actor (the Moderation
/// actions panels), as websocket-sender, the anomaly-detector and
/// `parley-admin moderate` write them. With analytics running, only once
/// Prometheus holds the counters at zero, so their increase shows.
async fn moderation_actions(topic: &str, room: &str, analytics: Option<&Prometheus>) {
    if let Some(prometheus) = analytics {
        wait_until(
            Duration::from_secs(30),
            "Prometheus scraping the moderation action counters",
            || {
                prometheus
                    .query(
                        "parley_analytics_moderation_actions_total",
                        now_ms() as f64 / 1000.0,
                    )
                    .is_ok_and(|series| !series.is_empty())
            },
        );
    }
    let records: Vec<(String, Value)> = [
        ("mute", "u1", "dashboards"),
        ("unmute", "u1", "dashboards"),
        ("delete_message", "m-dashboards", "anomaly-detector"),
        ("ban", "u2", "operator:dashboards"),
    ]
    .into_iter()
    .map(|(kind, target, actor)| (room.to_owned(), ws::action(kind, room, target, actor)))
    .collect();
    ws::produce(topic, &records).await;
}

/// The actions produced above reached analytics' counter, each under its
/// kind and actor class (the panels' series exist from the start at zero,
/// so "returns series" alone would not show it).
fn check_actions_counted(prometheus: &Prometheus, evaluated_at: f64, failures: &mut Vec<String>) {
    let expr = format!(
        "sum by (action, actor) (increase(parley_analytics_moderation_actions_total[{RANGE}])) > 0"
    );
    let series = match prometheus.query(&expr, evaluated_at) {
        Ok(series) => series,
        Err(e) => {
            failures.push(format!("{expr}: {e}"));
            return;
        }
    };
    let counted: BTreeSet<(String, String)> = series
        .iter()
        .map(|s| {
            let label = |l: &str| s["metric"][l].as_str().unwrap_or_default().to_owned();
            (label("action"), label("actor"))
        })
        .collect();
    println!("moderation actions counted: {counted:?}");
    for expected in [
        ("mute", "moderator"),
        ("unmute", "moderator"),
        ("delete_message", "detector"),
        ("ban", "operator"),
    ] {
        if !counted.contains(&(expected.0.to_owned(), expected.1.to_owned())) {
            failures.push(format!(
                "parley_analytics_moderation_actions_total: no {expected:?} counted ({expr})"
            ));
        }
    }
}

/// The alerting rules evaluate against the real series without error, and
/// the ClickHouse outage fired the rule that is for it.
fn check_alert_rules(
    prometheus: &Prometheus,
    present: &BTreeSet<String>,
    failures: &mut Vec<String>,
    started: Instant,
) {
    let rules = prometheus.api("rules", &[]).expect("rules API");
    let mut rule_count = 0;
    let mut active = BTreeSet::new();
    for group in rules["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            rule_count += 1;
            if rule["health"] != "ok" {
                failures.push(format!(
                    "rule {}: health {} {}",
                    rule["name"], rule["health"], rule["lastError"]
                ));
            }
            if matches!(rule["state"].as_str(), Some("pending" | "firing")) {
                let values: Vec<&Value> = rule["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| &a["value"])
                    .collect();
                println!(
                    "alert {} is {} (values {values:?})",
                    rule["name"], rule["state"]
                );
                active.insert(rule["name"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    assert!(
        rule_count >= 10,
        "Prometheus loaded {rule_count} rules:\n{}",
        prometheus.log()
    );
    println!(
        "{rule_count} alerting rules evaluated; done after {:?}",
        started.elapsed()
    );
    // The ClickHouse outage above is what this rule is for.
    if present.contains("db-writer") {
        assert!(
            active.contains("ParleyClickHouseInsertErrors"),
            "ClickHouse unreachable for 6 s did not show in ParleyClickHouseInsertErrors"
        );
    }
}
