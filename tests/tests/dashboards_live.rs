//! The dashboards, proven live: every worker binary that exists runs on a
//! fresh topic under generated traffic (malformed records, incidents, a
//! WebSocket client, a refused connection, a history page, and ClickHouse
//! unreachable for a few seconds), a dedicated Prometheus scrapes them every
//! second with the repository's alerting rules loaded, and then every query
//! of every panel of every dashboard, with Grafana's variables filled in as
//! "All", must return series. Panels whose metrics come only from a worker
//! that is not built yet are skipped, with a note. The template variables'
//! `label_values` must find values, and every alerting rule must evaluate
//! without error against the real series.

mod dashboards;
#[path = "dashboards/harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dashboards::{exported_metrics, exporter, repo, Exporter, WORKERS};
use harness::{accepting_http_server, binary_dir, supports, ClickHouseProxy, Prometheus};
use parley_tests::clickhouse::{drop_database, fresh_database, try_query};
use parley_tests::process::{http_get, loadgen_args, metric, spawn_loadgen, worker_args, Worker};
use parley_tests::ws::{self, Client, ConnectError};
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

/// One line of the report.
struct Row {
    dashboard: String,
    panel: String,
    ref_id: String,
    series: Option<usize>,
    nan: usize,
    note: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_series_from_the_real_workers() {
    let started = Instant::now();
    let topic = fresh_topic("dash", 12).await;
    let dlq = fresh_topic("dash-dlq", 3).await;
    let alerts = fresh_topic("dash-alerts", 3).await;
    let by_game = fresh_topic("dash-by-game", 3).await;
    let cleanup = Cleanup {
        database: fresh_database(),
        dirs: vec![std::env::temp_dir().join(unique_name("dash-export"))],
    };
    let database = cleanup.database.clone();
    let proxy = ClickHouseProxy::start().await;

    // Every worker whose binary exists; the others are noted and their
    // panels skipped below.
    let bin = binary_dir();
    let mut present = BTreeSet::new();
    let mut missing = BTreeSet::new();
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
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut running: Vec<(String, Worker, String)> = Vec::new();
    let mut sender = None;
    for worker in &dirs {
        let path = bin.join(worker);
        if !path.exists() {
            println!(
                "note: no {worker} binary ({}): its panels are skipped",
                path.display()
            );
            missing.insert(worker.clone());
            continue;
        }
        present.insert(worker.clone());
        if worker == "websocket-sender" {
            let s = ws::start_sender(&topic, &alerts, 12, &["--clickhouse-database", &database]);
            targets.push((worker.clone(), s.metrics.clone()));
            sender = Some(s);
            continue;
        }
        let port = free_port();
        let mut extra: Vec<String> = Vec::new();
        match worker.as_str() {
            "db-writer" => extra.extend([
                "--clickhouse-url".into(),
                proxy.url.clone(),
                "--clickhouse-database".into(),
                database.clone(),
            ]),
            "parquet-exporter" => extra.extend([
                "--out".into(),
                cleanup.dirs[0].to_string_lossy().into_owned(),
                "--file-age".into(),
                "2s".into(),
            ]),
            "analytics" => {
                for (flag, value) in [("--max-games", "20"), ("--top-rooms", "10")] {
                    if supports(&path, flag) {
                        extra.extend([flag.into(), value.into()]);
                    }
                }
            }
            "anomaly-detector" => {
                let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../deploy/anomaly-detector/rules.toml");
                extra.extend(["--rules".into(), rules.to_string_lossy().into_owned()]);
                if supports(&path, "--alerts-topic") {
                    extra.extend(["--alerts-topic".into(), alerts.clone()]);
                }
                if supports(&path, "--by-game-topic") {
                    extra.extend(["--by-game-topic".into(), by_game.clone()]);
                }
                if supports(&path, "--alertmanager-url") {
                    extra.extend(["--alertmanager-url".into(), accepting_http_server().await]);
                }
            }
            _ => {}
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let group = unique_name(&format!("dash-{worker}"));
        let args = worker_args(&topic, &group, &dlq, port, &extra);
        let addr = format!("127.0.0.1:{port}");
        running.push((worker.clone(), Worker::start(worker, &args), addr.clone()));
        targets.push((worker.clone(), addr));
    }
    let sender = sender.expect("websocket-sender is built (cargo build --workspace --bins)");
    let prometheus = Prometheus::start(&targets);
    for (worker, process, addr) in &mut running {
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
    println!("workers up after {:?}: {present:?}", started.elapsed());

    // Traffic, with something for every panel to show.
    let loadgen = spawn_loadgen(loadgen_args(
        &topic,
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
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut room = None;
    wait_until(Duration::from_secs(15), "rows in ClickHouse", || {
        room = try_query(&format!(
            "SELECT room_id FROM {database}.messages GROUP BY room_id ORDER BY count() DESC LIMIT 1"
        ))
        .ok()
        .filter(|r| !r.is_empty());
        room.is_some()
    });
    let room = room.unwrap_or_default();
    let token = ws::token("dashboards", "moderator", &["*"], "1h");
    let mut client = Client::connect(&sender.addr, Some(&token))
        .await
        .expect("moderator connects");
    let subscribed = client.subscribe(&room, None).await;
    assert_eq!(subscribed["op"], "subscribed", "{subscribed}");
    client.send(json!({"op": "subscribe_alerts"})).await;
    let reader = tokio::spawn(async move {
        let frames = client.messages(usize::MAX, Duration::from_secs(5)).await;
        client.close().await;
        frames.len()
    });
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
    // ClickHouse unreachable for 6 s: db-writer's inserts fail and retry.
    proxy.fail(true);
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.fail(false);
    let frames = reader.await.expect("reader");
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
    // Two scrapes after the end of the load, then query as of its end.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let known = exported_metrics();
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let mut queried_metrics = BTreeSet::new();
    for d in dashboards::load() {
        for t in d.targets() {
            let metrics: BTreeSet<String> = dashboards::selectors(&t.expr)
                .into_iter()
                .map(|s| s.metric)
                .collect();
            let owners: BTreeSet<String> = metrics
                .iter()
                .filter_map(|m| match exporter(&known, m) {
                    Some(Exporter::Worker(w)) => Some(w),
                    _ => None,
                })
                .collect();
            let only_missing = metrics
                .iter()
                .all(|m| matches!(exporter(&known, m), Some(Exporter::Worker(_))))
                && owners.iter().all(|w| missing.contains(w));
            let mut row = Row {
                dashboard: t.dashboard.clone(),
                panel: t.panel.clone(),
                ref_id: t.ref_id.clone(),
                series: None,
                nan: 0,
                note: String::new(),
            };
            if only_missing {
                row.note = format!(
                    "skipped: {} not built",
                    owners.into_iter().collect::<Vec<_>>().join(", ")
                );
                rows.push(row);
                continue;
            }
            queried_metrics.extend(metrics.iter().cloned());
            let expr = dashboards::substitute(&t.expr, ".+", RATE_INTERVAL, RANGE);
            match prometheus.query(&expr, evaluated_at) {
                Ok(series) => {
                    row.nan = series.iter().filter(|s| s["value"][1] == "NaN").count();
                    let gap = metrics
                        .iter()
                        .map(|m| NOT_EMITTED_YET.iter().find(|(n, _)| n == m))
                        .collect::<Option<Vec<_>>>();
                    if let (true, Some(gap)) = (series.is_empty(), gap) {
                        row.note = format!("empty, not emitted yet: {}", gap[0].1);
                    } else if !series.is_empty() && row.nan == series.len() {
                        failures.push(format!(
                            "{} / {} / {}: only NaN for {expr}",
                            t.dashboard, t.panel, t.ref_id
                        ));
                    } else if series.is_empty() {
                        failures.push(format!(
                            "{} / {} / {}: no series for {expr}",
                            t.dashboard, t.panel, t.ref_id
                        ));
                    }
                    row.series = Some(series.len());
                }
                Err(e) => failures.push(format!(
                    "{} / {} / {}: {e} for {expr}",
                    t.dashboard, t.panel, t.ref_id
                )),
            }
            rows.push(row);
        }
        // Template variables: label_values(selector, label) must find values.
        for v in d.variables() {
            let Some((selector, label)) = v["query"].as_str().and_then(dashboards::label_values)
            else {
                continue;
            };
            let name = v["name"].as_str().unwrap_or_default();
            let metric = dashboards::selectors(&selector)
                .first()
                .map(|s| s.metric.clone())
                .unwrap_or_default();
            if let Some(Exporter::Worker(w)) = exporter(&known, &metric) {
                if missing.contains(&w) {
                    println!("note: {} ${name} skipped: {w} not built", d.name);
                    continue;
                }
            }
            let selector = dashboards::substitute(&selector, ".+", RATE_INTERVAL, RANGE);
            let series = prometheus.api(
                "series",
                &[
                    ("match[]", selector.clone()),
                    ("start", (evaluated_at - 120.0).to_string()),
                    ("end", evaluated_at.to_string()),
                ],
            );
            let values: BTreeSet<String> = series
                .ok()
                .and_then(|s| s.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|s| s[&label].as_str().map(str::to_owned))
                .collect();
            println!("{} ${name}: {values:?}", d.name);
            if values.is_empty() {
                failures.push(format!(
                    "{} ${name}: label_values({selector}, {label}) is empty",
                    d.name
                ));
            }
        }
    }
    // Every metric a queried panel names exists (even under `or vector(0)`).
    for m in &queried_metrics {
        if NOT_EMITTED_YET.iter().any(|(n, _)| n == m) {
            continue;
        }
        let found = prometheus
            .query(&format!("count({{__name__=\"{m}\"}})"), evaluated_at)
            .unwrap_or_default();
        if found.is_empty() {
            failures.push(format!("metric {m}: no series scraped"));
        }
    }

    println!(
        "\n{:<16} {:<44} {:<3} {:>6} {:>4}  note",
        "dashboard", "panel", "ref", "series", "NaN"
    );
    for r in &rows {
        println!(
            "{:<16} {:<44} {:<3} {:>6} {:>4}  {}",
            r.dashboard,
            r.panel.chars().take(44).collect::<String>(),
            r.ref_id,
            r.series
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            r.nan,
            r.note
        );
    }
    let skipped = rows.iter().filter(|r| r.series.is_none()).count();
    println!(
        "{} targets: {} queried, {skipped} skipped (missing workers: {missing:?})",
        rows.len(),
        rows.len() - skipped
    );

    // The alerting rules evaluate against the real series without error.
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

    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    drop(running);
    drop(sender);
    drop(cleanup);
}
