//! Moderation actions as a dataset of their own: a stream of actions with
//! the exporter SIGKILLed while more is in files than committed, then
//! restarted, leaves each action in exactly one file under
//! `<out>/moderation-actions/dt=…/hour=…/`, in the folder of its
//! `created_at` hour, as DuckDB reads it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parley_tests::process::Worker;
use parley_tests::ws::stream_actions;
use parley_tests::{committed_offsets, committed_to_end, free_port, fresh_topic, wait_until};

use crate::fixture::{coverage, stored_ids, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_of_actions_leaves_each_action_in_one_file() {
    let f = Fixture::new("pq-actions").await;
    let actions = fresh_topic("pq-actions-topic", 3).await;
    let group = format!("{}.actions", f.group);
    let published = || coverage(&f.files_of("moderation-actions").0).0 as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let producer = tokio::spawn(stream_actions(actions.clone(), Arc::clone(&stop)));
    let port = free_port();
    // Small, young parts: files are published well before their offsets
    // are committed (every second), so the crash leaves files ahead of the
    // commits, which the restart must not write again.
    let args = f.exporter_args(
        port,
        &[
            "--actions-topic",
            &actions,
            "--file-rows",
            "40",
            "--file-age",
            "200ms",
        ],
    );
    let mut exporter = Worker::start("parquet-exporter", &args);
    wait_until(Duration::from_secs(60), "the first action parts", || {
        assert!(exporter.is_running(), "exited:\n{}", exporter.log_text());
        published() > 0
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let committed: i64 = committed_offsets(&group, &actions).values().sum();
        if published() > committed + 80 || std::time::Instant::now() > deadline {
            break;
        }
    }
    exporter.kill(); // SIGKILL: no drain, no commit
    let in_files = published();
    let committed_at_kill: i64 = committed_offsets(&group, &actions).values().sum();
    assert!(
        committed_at_kill < in_files,
        "the kill left no file ahead of the commits: {in_files} actions in files, {committed_at_kill} committed"
    );
    let mut exporter = Worker::start("parquet-exporter", &args);
    wait_until(
        Duration::from_secs(60),
        "the restarted exporter publishing actions",
        || {
            assert!(exporter.is_running(), "exited:\n{}", exporter.log_text());
            published() > in_files + 100
        },
    );
    stop.store(true, Ordering::Relaxed);
    let produced = producer.await.expect("producer task");
    wait_until(
        Duration::from_secs(90),
        "actions committed to the end",
        || committed_to_end(&group, &actions),
    );
    assert!(
        exporter.stop(Duration::from_secs(30)).success(),
        "{}",
        exporter.log_text()
    );

    let read = parley_tests::read_parquet_dataset(&f.out, "moderation-actions");
    let ids = stored_ids(&read);
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(
        ids.len(),
        unique.len(),
        "an action in two files: {}",
        read["duckdb"]["duplicates"]
    );
    assert_eq!(unique, produced, "exactly the produced actions");
    assert_eq!(
        read["duckdb"]["misplaced"].as_u64(),
        Some(0),
        "rows outside their created_at hour"
    );
    assert_eq!(
        read["duckdb"]["types"]["created_at"].as_str(),
        Some("TIMESTAMP WITH TIME ZONE")
    );
    let (_, tmp) = f.files_of("moderation-actions");
    assert_eq!(tmp, 0, "temporary files left");
    eprintln!(
        "{} actions; at the kill {in_files} in files, {committed_at_kill} committed",
        produced.len()
    );
}
