//! parquet-exporter against the real broker: files DuckDB and pyarrow read,
//! every valid message in exactly one file across crashes, an idle topic's
//! last hour published by age, and a full or read-only output that pauses
//! the exporter (unhealthy, alive) until it is fixed.

//!
//! Layout: `actions` (the moderation-actions dataset across a crash),
//! `fixture` (topic, group, output folder and what it holds),
//! `outage` (a failing local output and the paused/recovered checks), `s3`
//! (an S3-compatible store and a proxy that cuts it off).

mod actions;
mod fixture;
mod outage;
mod s3;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use parley_tests::process::{http_get, loadgen_args, metric, spawn_loadgen, worker_args, Worker};
use parley_tests::{brokers, committed_to_end, free_port, unique_name, wait_until};

use fixture::{coverage, health, stored_ids, truth_ids, Fixture};
use outage::{assert_paused_on_a_failing_output, assert_recovered, SmallDisk};
use s3::{CutProxy, S3Server};

#[tokio::test]
async fn duckdb_and_pyarrow_read_every_valid_message_once() {
    let f = Fixture::new("pq-read").await;
    let truth = std::env::temp_dir().join(format!("{}.truth", f.topic));
    let summary = f.loadgen(&[
        "--count",
        "300000",
        "--rate",
        "0",
        "--time-span",
        "5h",
        "--malformed-ratio",
        "0.01",
        "--seed",
        "21",
        "--truth",
        &truth.to_string_lossy(),
    ]);
    let (valid, malformed) = (
        summary["valid"].as_u64().expect("valid"),
        summary["malformed"].as_u64().expect("m"),
    );
    let port = free_port();
    let mut exporter = Worker::start(
        "parquet-exporter",
        &f.exporter_args(
            port,
            &[
                "--concurrency",
                "2",
                "--file-rows",
                "40000",
                "--file-age",
                "2s",
            ],
        ),
    );
    // Offsets committed to the end mean all is durable; the read-back below
    // proves what is in the files. The counter only says work was counted:
    // across the rebalance of the second consumer it may exceed the record
    // count (a joining consumer re-reads uncommitted records) or fall short
    // (a file finished by the consumer that just lost its partition is
    // counted by neither, and the new owner resumes after the files).
    wait_until(Duration::from_secs(240), "every record durable", || {
        committed_to_end(&f.group, &f.topic)
    });
    let (_, metrics) = http_get(&format!("127.0.0.1:{port}"), "/metrics").expect("metrics");
    assert!(metric(&metrics, "parley_records_processed_total") as u64 >= (valid + malformed) / 2);
    assert!(
        exporter.stop(Duration::from_secs(30)).success(),
        "{}",
        exporter.log_text()
    );

    let read = f.read();
    let duck = &read["duckdb"];
    assert_eq!(duck["rows"], valid);
    assert_eq!(duck["distinct"], valid);
    assert!(duck["hours"].as_u64().expect("hours") >= 5, "{duck}");
    assert_eq!(
        duck["misplaced"], 0,
        "rows outside their sent_at hour folder"
    );
    assert_eq!(duck["types"]["sent_at"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(duck["types"]["ingested_at"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(duck["types"]["kafka_offset"], "BIGINT");
    assert_eq!(duck["types"]["meta"], "VARCHAR");
    let arrow = &read["pyarrow"];
    assert_eq!(arrow["rows"], valid);
    assert_eq!(arrow["partitioning"], serde_json::json!(["dt", "hour"]));
    assert_eq!(arrow["sent_at"], "timestamp[ms, tz=UTC]");
    let ids: HashSet<String> = stored_ids(&read).into_iter().collect();
    assert_eq!(ids, truth_ids(&truth));
    let (_, tmp) = f.files();
    assert_eq!(tmp, 0, "temporary files left");
    let _ = std::fs::remove_file(truth);
}

#[tokio::test]
async fn five_crashes_neither_lose_nor_repeat_a_message() {
    let f = Fixture::new("pq-crash").await;
    let truth = std::env::temp_dir().join(format!("{}.truth", f.topic));
    let truth_arg = truth.to_string_lossy().into_owned();
    let producer = spawn_loadgen(loadgen_args(
        &f.topic,
        &[
            "--count",
            "150000",
            "--rate",
            "15000",
            "--time-span",
            "3h",
            "--seed",
            "8",
            "--truth",
            &truth_arg,
        ],
    ));
    let port = free_port();
    let args = f.exporter_args(port, &["--file-rows", "3000", "--file-age", "1s"]);
    let mut exporter = Worker::start("parquet-exporter", &args);
    for pause_ms in [1300, 2100, 700, 2600, 1800] {
        std::thread::sleep(Duration::from_millis(pause_ms));
        exporter.kill();
        exporter = Worker::start("parquet-exporter", &args);
    }
    let valid = producer.join().expect("loadgen")["valid"]
        .as_u64()
        .expect("valid");
    let started = Instant::now();
    wait_until(
        Duration::from_secs(180),
        "files covering every message",
        || {
            let (parts, _) = f.files();
            parts
                .iter()
                .map(|&(_, first, last)| (last - first + 1) as u64)
                .sum::<u64>()
                >= valid
        },
    );
    assert!(
        exporter.stop(Duration::from_secs(30)).success(),
        "{}",
        exporter.log_text()
    );
    let read = f.read();
    let ids = stored_ids(&read);
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "a message is in two files");
    assert_eq!(unique, truth_ids(&truth), "messages lost");
    // Parts of a partition cover disjoint, consecutive ranges.
    let (mut parts, tmp) = f.files();
    assert_eq!(tmp, 0, "temporary files left");
    parts.sort_unstable();
    for pair in parts.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert_eq!(
                pair[0].2 + 1,
                pair[1].1,
                "gap or overlap between {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }
    eprintln!("recovered after 5 crashes in {:?}", started.elapsed());
    let _ = std::fs::remove_file(truth);
}

#[tokio::test]
async fn an_idle_topic_publishes_its_last_hour_within_the_max_age() {
    let f = Fixture::new("pq-idle").await;
    let port = free_port();
    let mut exporter = Worker::start(
        "parquet-exporter",
        &f.exporter_args(port, &["--file-age", "3s"]),
    );
    f.loadgen(&["--count", "1000", "--rate", "0"]);
    let produced = Instant::now();
    wait_until(Duration::from_secs(30), "the partial hour on disk", || {
        let (parts, _) = f.files();
        parts
            .iter()
            .map(|&(_, first, last)| last - first + 1)
            .sum::<i64>()
            == 1000
    });
    let waited = produced.elapsed();
    assert!(exporter.is_running(), "published by age, not by shutdown");
    assert!(
        waited < Duration::from_secs(15),
        "took {waited:?} with a 3 s max age"
    );
    assert!(exporter.stop(Duration::from_secs(30)).success());
}

/// Two instances stopped together while the group still hands partitions
/// over (the second had joined, the first had released half, the
/// cooperative second round was pending): the instance left alone got its
/// partitions back while closing, and librdkafka's close waited for ever
/// (librdkafka #4527; three of four such stops hung before the runtime
/// unsubscribed first). Every stop must take under 5 s, and the group stays
/// committed to the end.
#[tokio::test]
async fn instances_stopped_while_the_group_hands_partitions_over_stop_promptly() {
    let f = Fixture::new("pq-stop-handover").await;
    f.loadgen(&["--count", "20000", "--rate", "0", "--seed", "9"]);
    for round in 1..=3 {
        let group = unique_name("pq-stop-handover");
        let out = f.out.join(format!("round-{round}"));
        let out = out.to_string_lossy();
        let start = || {
            let args = worker_args(
                &f.topic,
                &group,
                &f.dlq,
                free_port(),
                &["--out", out.as_ref(), "--file-age", "500ms"],
            );
            Worker::start("parquet-exporter", &args)
        };
        let assigned = |w: &Worker| w.log_text().contains("partitions assigned");
        let mut first = start();
        wait_until(
            Duration::from_secs(30),
            "the first instance committed",
            || assigned(&first) && committed_to_end(&group, &f.topic),
        );
        let mut second = start();
        wait_until(
            Duration::from_secs(30),
            "the second instance assigned",
            || assigned(&second),
        );
        first.signal("TERM");
        second.signal("TERM");
        let stopping = Instant::now();
        for worker in [&mut first, &mut second] {
            assert!(worker.wait(Duration::from_secs(60)).success());
            let took = stopping.elapsed();
            assert!(
                took < Duration::from_secs(5),
                "round {round}: took {took:?} to stop; log:\n{}",
                worker.log_text()
            );
        }
        wait_until(
            Duration::from_secs(10),
            "the group committed to the end",
            || committed_to_end(&group, &f.topic),
        );
    }
}

#[tokio::test]
async fn a_full_disk_pauses_the_exporter_and_it_resumes_when_space_returns() {
    let f = Fixture::new("pq-full").await;
    // 64 MiB of which a filler takes all but 2: the exports fill the rest.
    let disk = SmallDisk::mount(&f.out, "64m");
    let filler = f.out.join("filler");
    std::fs::write(&filler, vec![1u8; 62 * 1024 * 1024]).expect("filler");
    let truth = std::env::temp_dir().join(format!("{}.truth", f.topic));
    let truth_arg = truth.to_string_lossy().into_owned();
    let summary = f.loadgen(&[
        "--count",
        "120000",
        "--rate",
        "0",
        "--time-span",
        "1h",
        "--seed",
        "5",
        "--truth",
        &truth_arg,
    ]);
    let valid = summary["valid"].as_u64().expect("valid");
    let port = free_port();
    let mut exporter = Worker::start(
        "parquet-exporter",
        &f.exporter_args(port, &["--file-rows", "5000", "--file-age", "1s"]),
    );
    assert_paused_on_a_failing_output(&f, &mut exporter, port, "No space left on device");
    assert!(coverage(&f.files().0).0 < valid, "the disk did not fill");
    std::fs::remove_file(&filler).expect("make space");
    assert_recovered(&f, &mut exporter, port, &truth, valid);
    drop(disk);
    let _ = std::fs::remove_file(truth);
}

#[tokio::test]
async fn a_read_only_output_pauses_the_exporter_and_it_resumes_when_writable() {
    let f = Fixture::new("pq-ro").await;
    let disk = SmallDisk::mount(&f.out, "64m");
    let truth = std::env::temp_dir().join(format!("{}.truth", f.topic));
    let truth_arg = truth.to_string_lossy().into_owned();
    let port = free_port();
    let mut exporter = Worker::start(
        "parquet-exporter",
        &f.exporter_args(port, &["--file-rows", "2000", "--file-age", "1s"]),
    );
    let first = f.loadgen(&[
        "--count",
        "10000",
        "--rate",
        "0",
        "--time-span",
        "1h",
        "--seed",
        "6",
        "--truth",
        &truth_arg,
    ]);
    let first = first["valid"].as_u64().expect("valid");
    wait_until(
        Duration::from_secs(60),
        "the first messages in files",
        || coverage(&f.files().0).0 >= first,
    );
    disk.remount("ro");
    let second = std::env::temp_dir().join(format!("{}.truth2", f.topic));
    let summary = f.loadgen(&[
        "--count",
        "10000",
        "--rate",
        "0",
        "--time-span",
        "1h",
        "--seed",
        "7",
        "--truth",
        &second.to_string_lossy(),
    ]);
    let valid = first + summary["valid"].as_u64().expect("valid");
    assert_paused_on_a_failing_output(&f, &mut exporter, port, "Read-only file system");
    disk.remount("rw");
    let mut all = std::fs::read_to_string(&truth).expect("truth");
    all.push_str(&std::fs::read_to_string(&second).expect("truth 2"));
    std::fs::write(&truth, all).expect("truth");
    assert_recovered(&f, &mut exporter, port, &truth, valid);
    drop(disk);
    let _ = std::fs::remove_file(truth);
    let _ = std::fs::remove_file(second);
}

#[tokio::test]
async fn s3_output_keeps_the_layout_and_the_guarantees() {
    let f = Fixture::new("pq-s3").await;
    let s3 = S3Server::start();
    s3.create_bucket("exports");
    let truth = std::env::temp_dir().join(format!("{}.truth", f.topic));
    let truth_arg = truth.to_string_lossy().into_owned();
    let producer = spawn_loadgen(loadgen_args(
        &f.topic,
        &[
            "--count",
            "40000",
            "--rate",
            "8000",
            "--time-span",
            "3h",
            "--seed",
            "3",
            "--truth",
            &truth_arg,
        ],
    ));
    let port = free_port();
    let mut args = f.exporter_args(port, &["--file-rows", "2000", "--file-age", "1s"]);
    // S3 instead of the fixture's local folder; the spool is the local temp area.
    let out_at = args.iter().position(|a| a == "--out").expect("--out") + 1;
    args[out_at] = "s3://exports/chat".into();
    args.extend([
        "--spool-dir".to_owned(),
        f.out.join("spool").to_string_lossy().into_owned(),
    ]);
    let env = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut exporter = Worker::start_with_env("parquet-exporter", &args, &env);
    for pause_ms in [1500, 1200] {
        std::thread::sleep(Duration::from_millis(pause_ms));
        exporter.kill();
        exporter = Worker::start_with_env("parquet-exporter", &args, &env);
    }
    let valid = producer.join().expect("loadgen")["valid"]
        .as_u64()
        .expect("valid");
    let read = || s3.read("exports/chat");
    wait_until(Duration::from_secs(120), "every message in S3", || {
        read()["rows"].as_u64() == Some(valid)
    });
    assert!(
        exporter.stop(Duration::from_secs(30)).success(),
        "{}",
        exporter.log_text()
    );
    let result = read();
    assert_eq!(result["rows"], valid);
    assert_eq!(result["distinct"], valid, "a message is in two objects");
    assert_eq!(result["tmp"], serde_json::json!([]));
    assert_eq!(result["partitioning"], serde_json::json!(["dt", "hour"]));
    let ids: HashSet<String> = stored_ids(&result).into_iter().collect();
    assert_eq!(ids, truth_ids(&truth));
    let _ = std::fs::remove_file(truth);
}

#[tokio::test]
async fn an_unreachable_s3_pauses_the_exporter_and_it_resumes_when_back() {
    let f = Fixture::new("pq-s3-cut").await;
    let s3 = S3Server::start();
    s3.create_bucket("exports");
    let proxy = CutProxy::start(&s3.endpoint);
    let truth = std::env::temp_dir().join(format!("{}.truth", f.topic));
    let second = std::env::temp_dir().join(format!("{}.truth2", f.topic));
    let produce = |seed: &str, truth: &Path| -> u64 {
        f.loadgen(&[
            "--count",
            "8000",
            "--rate",
            "0",
            "--time-span",
            "1h",
            "--seed",
            seed,
            "--truth",
            &truth.to_string_lossy(),
        ])["valid"]
            .as_u64()
            .expect("valid")
    };
    let first = produce("11", &truth);
    let port = free_port();
    let mut args = f.exporter_args(port, &["--file-rows", "2000", "--file-age", "1s"]);
    let out_at = args.iter().position(|a| a == "--out").expect("--out") + 1;
    args[out_at] = "s3://exports/chat".into();
    args.extend([
        "--spool-dir".to_owned(),
        f.out.join("spool").to_string_lossy().into_owned(),
    ]);
    let env = s3.env_via(&proxy.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut exporter = Worker::start_with_env("parquet-exporter", &args, &env);
    wait_until(Duration::from_secs(60), "the first messages in S3", || {
        s3.read("exports/chat")["rows"].as_u64() == Some(first)
    });
    proxy.cut();
    let valid = first + produce("12", &second);
    wait_until(Duration::from_secs(45), "/healthz 503", || {
        let (code, body) = health(port);
        code == 503
            && body.contains(
                "sink failing, partitions paused until it recovers: output s3://exports/chat",
            )
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(exporter.is_running(), "{}", exporter.log_text());
    assert_eq!(health(port).0, 503);
    proxy.restore();
    wait_until(Duration::from_secs(60), "every message in S3", || {
        s3.read("exports/chat")["rows"].as_u64() == Some(valid)
    });
    wait_until(Duration::from_secs(10), "/healthz 200", || {
        health(port).0 == 200
    });
    assert!(
        exporter.stop(Duration::from_secs(30)).success(),
        "{}",
        exporter.log_text()
    );
    assert!(exporter.log_text().contains("sink recovered"));
    let result = s3.read("exports/chat");
    assert_eq!(result["distinct"], valid, "a message is in two objects");
    assert_eq!(result["tmp"], serde_json::json!([]));
    let mut ids: HashSet<String> = truth_ids(&truth);
    ids.extend(truth_ids(&second));
    assert_eq!(stored_ids(&result).into_iter().collect::<HashSet<_>>(), ids);
    let spool_tmp = std::fs::read_dir(f.out.join("spool/game-messages/_tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(spool_tmp, 0, "spool files left");
    let _ = std::fs::remove_file(truth);
    let _ = std::fs::remove_file(second);
}

#[test]
fn an_unsupported_output_is_refused_before_starting() {
    let mut exporter = Worker::start(
        "parquet-exporter",
        &[
            "--brokers".into(),
            brokers(),
            "--out".into(),
            "gs://bucket/x".into(),
        ],
    );
    let status = exporter.wait(Duration::from_secs(30));
    assert!(!status.success());
    assert!(
        exporter.log_text().contains("only local paths and s3://"),
        "{}",
        exporter.log_text()
    );
}
