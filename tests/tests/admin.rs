//! `parley-admin` against the real stack: topics, lag, replaying a group
//! from an offset or a time, DLQ inspect and replay, a worker's config.

use std::process::{Command, Output};
use std::time::Duration;

use parley_tests::clickhouse::{drop_database, fresh_database};
use parley_tests::process::{http_get, loadgen, loadgen_args, worker_args, Worker};
use parley_tests::{
    binary, brokers, committed_offsets, committed_to_end, end_offsets, free_port, fresh_topic,
    read_all, unique_name, wait_until,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;

fn admin(args: &[&str]) -> Output {
    Command::new(binary("parley-admin"))
        .args(["--brokers", &brokers()])
        .args(args)
        .output()
        .expect("run parley-admin")
}

/// Runs a command that must succeed and returns its JSON lines.
fn admin_json(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = admin(&all);
    assert!(
        out.status.success(),
        "parley-admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Runs a command that must fail with one line containing `expected`.
fn admin_refused(args: &[&str], expected: &str) {
    let out = admin(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn group_lag(group: &str, topic: &str) -> i64 {
    let rows = admin_json(&["lag", "--group", group, "--topic", topic]);
    rows[0]["lag"].as_i64().expect("lag")
}

#[test]
fn topics_setup_is_idempotent_sets_retention_and_grows_only_when_asked() {
    let (t, d, a, b) = (
        unique_name("adm-t"),
        unique_name("adm-d"),
        unique_name("adm-a"),
        unique_name("adm-b"),
    );
    // The test's own actions topic: never the stack's `moderation-actions`.
    let m = unique_name("adm-m");
    let setup = |extra: &[&str]| {
        let mut args = vec![
            "topics",
            "setup",
            "--topic",
            &t,
            "--dlq-topic",
            &d,
            "--alerts-topic",
            &a,
            "--actions-topic",
            &m,
            "--by-game-topic",
            &b,
        ];
        args.extend_from_slice(extra);
        admin_json(&args)
    };
    let first = setup(&["--partitions", "8"]);
    assert_eq!(first.len(), 5, "{first:?}");
    assert!(first.iter().all(|r| r["action"] == "created"), "{first:?}");
    let again = setup(&["--partitions", "8"]);
    assert!(again.iter().all(|r| r["action"] == "ok"), "{again:?}");
    let changed = setup(&["--partitions", "8", "--retention", "2d"]);
    assert_eq!(changed[0]["action"], "retention updated");

    let described = admin_json(&["topics", "describe", &t, &d, &a, &b]);
    assert_eq!(described[0]["partitions"], 8);
    assert_eq!(described[0]["retention_ms"], "172800000");
    assert_eq!(described[1]["partitions"], 2);
    assert_eq!(described[1]["retention_ms"], "2592000000");
    // anomaly-detector's sightings: keyed by game, as many partitions as
    // the messages, kept a day.
    assert_eq!(described[3]["partitions"], 8);
    assert_eq!(described[3]["retention_ms"], "86400000");
    // Records up to 16 MiB, and the DLQ takes them with their headers.
    assert_eq!(described[0]["max_message_bytes"], "16777216");
    assert_eq!(described[1]["max_message_bytes"], "17825792");

    admin_refused(
        &[
            "topics",
            "setup",
            "--topic",
            &t,
            "--dlq-topic",
            &d,
            "--alerts-topic",
            &a,
            "--actions-topic",
            &m,
            "--by-game-topic",
            &b,
            "--partitions",
            "12",
        ],
        "pass --grow",
    );
    let grown = setup(&["--partitions", "12", "--retention", "2d", "--grow"]);
    assert!(grown[0]["action"]
        .as_str()
        .is_some_and(|s| s.contains("8→12")));
    assert_eq!(admin_json(&["topics", "describe", &t])[0]["partitions"], 12);
    admin_refused(
        &["topics", "describe", "it-adm-no-such-topic"],
        "does not exist",
    );
}

#[tokio::test]
async fn lag_and_replay_move_an_idle_group_by_offset_and_by_time() {
    let topic = fresh_topic("adm-replay", 4).await;
    let group = unique_name("adm-group");
    loadgen(&loadgen_args(
        &topic,
        &["--count", "300", "--rate", "0", "--seed", "3"],
    ));
    std::thread::sleep(Duration::from_millis(1500));
    let cut = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    std::thread::sleep(Duration::from_millis(500));
    loadgen(&loadgen_args(
        &topic,
        &["--count", "200", "--rate", "0", "--seed", "4"],
    ));

    // A group that never ran: everything retained is lag.
    assert_eq!(group_lag(&group, &topic), 500);
    let base = ["replay", "--group", &group, "--topic", &topic];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        admin_json(&refs)
    };

    // Dry run changes nothing; --execute commits.
    run(with(&["--to-latest"]));
    assert!(committed_offsets(&group, &topic).is_empty());
    run(with(&["--to-latest", "--execute"]));
    assert!(committed_to_end(&group, &topic));
    assert_eq!(group_lag(&group, &topic), 0);

    // Back to a time: exactly the records produced after it are re-read.
    let mut at_time = with(&["--execute"]);
    at_time.extend(["--to-time".to_owned(), cut.clone()]);
    let plan = run(at_time);
    let reread: i64 = plan
        .iter()
        .map(|m| m["reread"].as_i64().expect("reread"))
        .sum();
    assert_eq!(reread, 200, "{plan:?}");
    assert_eq!(group_lag(&group, &topic), 200);

    // One partition to an offset, then everything to the start.
    run(with(&["--partition", "0", "--to-offset", "0", "--execute"]));
    assert_eq!(committed_offsets(&group, &topic).get(&0), Some(&0));
    run(with(&["--to-earliest", "--execute"]));
    assert_eq!(group_lag(&group, &topic), 500);
    let per_partition = admin_json(&["lag", "--group", &group, "--topic", &topic]);
    assert_eq!(
        per_partition[0]["partitions"].as_array().map(Vec::len),
        Some(4)
    );

    // A group with a live member is refused: its next commit would undo it.
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    member.subscribe(&[&topic]).expect("subscribe");
    wait_until(Duration::from_secs(30), "the member joined", || {
        let _ = member.poll(Duration::from_millis(200));
        member.assignment().is_ok_and(|a| a.count() > 0)
    });
    let refs = with(&["--to-latest", "--execute"]);
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    admin_refused(&refs, "stop its workers first");
    admin_refused(
        &["replay", "--group", &group, "--topic", &topic],
        "--to-earliest",
    );
}

#[tokio::test]
async fn dlq_inspect_shows_why_and_replay_sends_back_once() {
    let topic = fresh_topic("adm-src", 3).await;
    let dlq = fresh_topic("adm-dlq", 2).await;
    let target = fresh_topic("adm-target", 3).await;
    let database = fresh_database();
    let group = unique_name("adm-dw");
    let summary = loadgen(&loadgen_args(
        &topic,
        &[
            "--count",
            "3000",
            "--rate",
            "0",
            "--seed",
            "8",
            "--malformed-ratio",
            "0.05",
        ],
    ));
    let malformed = summary["malformed"].as_u64().expect("malformed");
    assert!(malformed > 50, "{summary}");

    // A real worker dead-letters the malformed records.
    let port = free_port();
    let mut writer = Worker::start(
        "db-writer",
        &worker_args(
            &topic,
            &group,
            &dlq,
            port,
            &["--clickhouse-database", &database],
        ),
    );
    wait_until(Duration::from_secs(120), "db-writer committed", || {
        committed_to_end(&group, &topic)
    });
    assert!(
        writer.stop(Duration::from_secs(30)).success(),
        "{}",
        writer.log_text()
    );
    drop_database(&database);
    let dead = end_offsets(&dlq).values().sum::<i64>();
    assert_eq!(dead as u64, malformed);

    let letters = admin_json(&["dlq", "inspect", "--dlq-topic", &dlq, "--limit", "100000"]);
    assert_eq!(letters.len() as u64, malformed);
    for l in &letters {
        assert_eq!(l["worker"], "db-writer", "{l}");
        assert!(!l["error"].as_str().unwrap_or_default().is_empty(), "{l}");
        assert!(
            l["source"].as_str().is_some_and(|s| s.starts_with(&topic)),
            "{l}"
        );
    }
    let parse = letters.iter().filter(|l| l["kind"] == "parse").count();
    assert!(parse > 0 && parse < letters.len(), "several kinds expected");
    let only_parse = admin_json(&[
        "dlq",
        "inspect",
        "--dlq-topic",
        &dlq,
        "--kind",
        "parse",
        "--limit",
        "100000",
    ]);
    assert_eq!(only_parse.len(), parse);
    let table = admin(&["dlq", "inspect", "--dlq-topic", &dlq, "--limit", "3"]);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("| kind"));

    // Never back into the DLQ itself.
    admin_refused(
        &[
            "dlq",
            "replay",
            "--dlq-topic",
            &dlq,
            "--to",
            &dlq,
            "--execute",
        ],
        "loop",
    );

    let replay_group = unique_name("adm-replay");
    let replay = |execute: bool| {
        let mut args = vec![
            "dlq",
            "replay",
            "--dlq-topic",
            &dlq,
            "--to",
            &target,
            "--kind",
            "parse",
            "--group",
            &replay_group,
        ];
        if execute {
            args.push("--execute");
        }
        let out = admin(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(replay(false).contains("dry run"));
    assert_eq!(end_offsets(&target).values().sum::<i64>(), 0);
    assert!(replay(true).contains(&format!("replayed {parse} record(s)")));
    assert!(
        replay(true).contains("replayed 0 record(s)"),
        "a second run sends nothing new"
    );

    // Exactly the parse-kind letters, original key and bytes, marked.
    let sent = read_all(&target, Duration::from_secs(30));
    assert_eq!(sent.len(), parse);
    let originals = read_all(&dlq, Duration::from_secs(30));
    for record in &sent {
        let from = record
            .headers
            .iter()
            .find(|(k, _)| k == "parley.replayed-from")
            .map(|(_, v)| v.clone())
            .expect("replayed-from header");
        assert!(!record.headers.iter().any(|(k, _)| k == "error.kind"));
        let original = originals
            .iter()
            .find(|o| format!("{dlq}:{}:{}", o.partition, o.offset) == from)
            .expect("original dead letter");
        assert_eq!(record.key, original.key);
        assert_eq!(record.payload, original.payload);
    }
}

#[tokio::test]
async fn a_workers_effective_config_with_secrets_hidden() {
    let port = free_port();
    let secret = "hunter2-do-not-print";
    let args: Vec<String> = [
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
        "--brokers",
        &brokers(),
        "--concurrency",
        "2",
        "--clickhouse-database",
        "it_admin_config",
        "--kafka-prop",
        &format!("sasl.password={secret}"),
    ]
    .map(str::to_owned)
    .to_vec();
    let printed = Command::new(binary("db-writer"))
        .args(&args)
        .arg("--print-config")
        .env("PARLEY_CLICKHOUSE_PASSWORD", secret)
        .output()
        .expect("db-writer --print-config");
    assert!(printed.status.success());
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.contains("--concurrency") && text.contains("flag"),
        "{text}"
    );
    assert!(!text.contains(secret), "{text}");

    // The same table from a running worker, through parley-admin.
    let topic = fresh_topic("adm-config", 1).await;
    let mut running = args[..6].to_vec();
    running.extend([
        "--topic".to_owned(),
        topic,
        "--group".to_owned(),
        unique_name("adm-an"),
    ]);
    let mut worker = Worker::start("analytics", &running);
    wait_until(Duration::from_secs(30), "analytics serving", || {
        http_get(&format!("127.0.0.1:{port}"), "/healthz").is_some()
    });
    let config = admin_json(&["config", &format!("127.0.0.1:{port}")]);
    let settings = config[0]["settings"].as_array().expect("settings");
    let concurrency = settings
        .iter()
        .find(|s| s["flag"] == "concurrency")
        .expect("concurrency listed");
    assert_eq!(concurrency["value"], "2");
    assert_eq!(concurrency["source"], "flag");
    let table = admin(&["config", &format!("127.0.0.1:{port}")]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("# analytics effective configuration"));
    assert!(
        worker.stop(Duration::from_secs(30)).success(),
        "{}",
        worker.log_text()
    );
    admin_refused(&["config", "127.0.0.1:1"], "127.0.0.1:1/config");
}
