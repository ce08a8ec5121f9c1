//! The dead-lettering workers under test: started on the corpus topic,
//! checked alive and healthy, waited for until every group committed to
//! the end, and stopped cleanly.

use std::path::Path;
use std::time::{Duration, Instant};

use parley_tests::process::{http_get, metric, worker_args, Worker};
use parley_tests::ws;
use parley_tests::{committed_to_end, repo, unique_name};

use crate::{Topics, DEAD_LETTERING};

/// One dead-lettering worker and its group.
pub struct Running {
    pub name: &'static str,
    pub group: String,
    /// `host:port` of its metrics and `/healthz`.
    pub addr: String,
    pub worker: Worker,
}

/// Starts every dead-lettering worker, a group each.
pub fn start(topics: &Topics, database: &str, out: &Path) -> Vec<Running> {
    let rules = repo().join("deploy/anomaly-detector/rules.toml");
    let rules = rules.display().to_string();
    let out_arg = out.display().to_string();
    DEAD_LETTERING
        .iter()
        .map(|&name| {
            let group = unique_name(name);
            let port = parley_tests::free_port();
            let extra: Vec<&str> = match name {
                "db-writer" => vec!["--clickhouse-database", database],
                // A short hold-back: commits reach the end soon after the stream.
                "anomaly-detector" => vec![
                    "--rules",
                    &rules,
                    "--alerts-topic",
                    &topics.alerts,
                    "--by-game-topic",
                    &topics.by_game,
                    "--hold-back",
                    "2s",
                ],
                "parquet-exporter" => vec!["--out", &out_arg, "--file-age", "2s"],
                _ => vec![],
            };
            let worker = Worker::start(
                name,
                &worker_args(&topics.topic, &group, &topics.dlq, port, &extra),
            );
            Running {
                name,
                group,
                addr: format!("127.0.0.1:{port}"),
                worker,
            }
        })
        .collect()
}

/// Every process is up and says 200 on `/healthz`.
pub fn alive_check(workers: &mut [Running], sender: &mut ws::Sender) {
    for Running {
        name, addr, worker, ..
    } in workers.iter_mut()
    {
        assert!(worker.is_running(), "{name} exited:\n{}", worker.log_text());
        let health = http_get(addr, "/healthz");
        assert!(
            health.as_ref().is_some_and(|(status, _)| *status == 200),
            "{name} /healthz: {health:?}"
        );
    }
    assert!(sender.worker.is_running(), "websocket-sender exited");
    let health = http_get(&sender.metrics, "/healthz");
    assert!(
        health.as_ref().is_some_and(|(status, _)| *status == 200),
        "websocket-sender /healthz: {health:?}"
    );
}

/// Every shared group reaches the end (at most 120 s); every process stays
/// up and healthy meanwhile.
pub async fn wait_committed(
    workers: &mut [Running],
    sender: &mut ws::Sender,
    topic: &str,
    started: Instant,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        alive_check(workers, sender);
        if workers.iter().all(|w| committed_to_end(&w.group, topic)) {
            break;
        }
        if Instant::now() >= deadline {
            panic!(
                "not every worker committed to the end:\n{}",
                progress_report(workers, topic)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "every group committed to the end after {:.1?}",
        started.elapsed()
    );
}

/// Each worker's committed offsets and record counters, for a timeout.
fn progress_report(workers: &[Running], topic: &str) -> String {
    let mut report = String::new();
    for Running {
        name, group, addr, ..
    } in workers
    {
        let text = http_get(addr, "/metrics").map(|m| m.1).unwrap_or_default();
        let numbers: Vec<String> = [
            "parley_records_consumed_total",
            "parley_records_processed_total",
            "parley_records_pending",
            "parley_dlq_records_total",
            "parley_dlq_errors_total",
            "parley_consumers_paused",
        ]
        .iter()
        .map(|m| format!("{m}={}", metric(&text, m)))
        .collect();
        report.push_str(&format!(
            "{name}: committed {:?} of {:?}; {}\n",
            parley_tests::committed_offsets(group, topic),
            parley_tests::end_offsets(topic),
            numbers.join(" ")
        ));
    }
    report
}

/// Stops every process (SIGTERM): each exits 0 without a panic in its log.
pub fn stop_all(workers: &mut [Running], sender: &mut ws::Sender) {
    for Running { name, worker, .. } in workers {
        let status = worker.stop(Duration::from_secs(30));
        let log = worker.log_text();
        assert!(status.success(), "{name} exit {status:?}:\n{log}");
        assert!(!log.contains("panicked"), "{name}:\n{log}");
    }
    let status = sender.worker.stop(Duration::from_secs(30));
    let log = sender.worker.log_text();
    assert!(status.success(), "websocket-sender exit {status:?}");
    assert!(!log.contains("panicked"), "websocket-sender:\n{log}");
}
