//! db-writer's moderation actions against the real stack: every valid
//! Action v1 in `moderation_actions` with all its fields, a malformed one in
//! the DLQ with its reason, an action produced twice shown once; the query
//! of docs/contracts.md ("Moderation actions") leaves the deleted messages
//! out; and a SIGKILL mid-stream of actions, then a restart, leaves each
//! action exactly once to `FINAL` (and in storage after a full merge).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::process::{group_metric, http_get, worker_args, Worker};
use parley_tests::ws::{action, message, produce, stream_actions};
use parley_tests::{
    committed_offsets, committed_to_end, free_port, fresh_topic, read_all, unique_name,
};
use parley_tests::{now_ms, wait_until};
use serde_json::{json, Value};

/// The room literal of the documented query.
const DOC_ROOM: &str = "'starfall:eu-lobby-0'";

struct Fixture {
    topic: String,
    actions: String,
    dlq: String,
    database: String,
    group: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Fixture {
        Fixture {
            topic: fresh_topic(prefix, 3).await,
            actions: fresh_topic(&format!("{prefix}-actions"), 3).await,
            dlq: fresh_topic(&format!("{prefix}-dlq"), 1).await,
            database: fresh_database(),
            group: unique_name(prefix),
        }
    }

    /// The actions group db-writer derives from `--group`.
    fn actions_group(&self) -> String {
        format!("{}.actions", self.group)
    }

    fn start(&self, port: u16, extra: &[&str]) -> Worker {
        let mut args = vec![
            "--clickhouse-database",
            self.database.as_str(),
            "--actions-topic",
            self.actions.as_str(),
        ];
        args.extend_from_slice(extra);
        Worker::start(
            "db-writer",
            &worker_args(&self.topic, &self.group, &self.dlq, port, &args),
        )
    }

    /// `count()` of `sql` on this test's database (0 while it does not exist).
    fn count(&self, sql: &str) -> u64 {
        clickhouse::try_query(&sql.replace("{db}", &self.database))
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    }

    fn actions_final(&self) -> u64 {
        self.count("SELECT count() FROM {db}.moderation_actions FINAL")
    }

    /// action_ids that `FINAL` shows more than once (none, if dedup works).
    fn repeated_under_final(&self) -> String {
        clickhouse::query(&format!(
            "SELECT action_id, count() AS n FROM {}.moderation_actions FINAL GROUP BY action_id HAVING n > 1",
            self.database
        ))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop_database(&self.database);
    }
}

/// The room page query of docs/contracts.md ("Moderation actions"), for
/// `room` in `database`.
fn documented_room_page(database: &str, room: &str) -> String {
    let path = parley_tests::repo().join("docs/contracts.md");
    let text = std::fs::read_to_string(&path).expect("docs/contracts.md");
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Moderation actions"))
        .expect("a Moderation actions section");
    let block = section
        .split("```sql")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a sql block in the Moderation actions section");
    assert!(
        block.contains("action = 'delete_message'") && block.contains(DOC_ROOM),
        "the documented query changed shape:\n{block}"
    );
    block
        .replace("parley.", &format!("{database}."))
        .replace(DOC_ROOM, &format!("'{room}'"))
}

/// A ClickHouse JSON value as i64 (64-bit integers come quoted).
fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_stored_once_and_deleted_messages_leave_the_documented_query() {
    let f = Fixture::new("dwa-store").await;

    // Messages: ten in r1 for everyone, one for moderators only, five in r2.
    let mut messages: Vec<(String, Value)> = (0..10)
        .map(|n| ("r1".to_owned(), message("r1", n, false)))
        .collect();
    messages.push(("r1".to_owned(), message("r1", 10, true)));
    messages.extend((0..5).map(|n| ("r2".to_owned(), message("r2", n, false))));
    let id = |n: usize| {
        messages[n].1["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    produce(&f.topic, &messages).await;

    // Actions: three deletions in r1 (one by the detector, for an alert), a
    // mute with its expiry and reason produced twice, an unmute, a ban by
    // an operator in r2, and one mute without its user.
    let mut deletion_by_detector = action("delete_message", "r1", &id(7), "anomaly-detector");
    deletion_by_detector["alert_id"] = json!("alert-1");
    let mut mute = action("mute", "r1", "u3", "mod-1");
    mute["until"] = json!(now_ms() + 600_000);
    mute["reason"] = json!("spam");
    let valid = vec![
        action("delete_message", "r1", &id(2), "mod-1"),
        action("delete_message", "r1", &id(5), "mod-1"),
        deletion_by_detector,
        mute.clone(),
        action("unmute", "r1", "u3", "mod-2"),
        action("ban", "r2", "u4", "operator:alice"),
    ];
    let mut malformed = action("mute", "r1", "u9", "mod-1");
    malformed
        .as_object_mut()
        .expect("an object")
        .remove("user_id");
    let mut records: Vec<(String, Value)> = valid
        .iter()
        .map(|a| {
            (
                a["room_id"].as_str().unwrap_or_default().to_owned(),
                a.clone(),
            )
        })
        .collect();
    records.push(("r1".to_owned(), mute.clone()));
    records.push(("r1".to_owned(), malformed.clone()));
    produce(&f.actions, &records).await;

    let port = free_port();
    let mut writer = f.start(port, &[]);
    wait_until(
        Duration::from_secs(90),
        "every action and message in ClickHouse",
        || {
            assert!(
                writer.is_running(),
                "db-writer exited:\n{}",
                writer.log_text()
            );
            f.actions_final() == valid.len() as u64
                && f.count("SELECT count() FROM {db}.messages FINAL") == messages.len() as u64
        },
    );
    wait_until(
        Duration::from_secs(60),
        "both groups committed to the end",
        || committed_to_end(&f.actions_group(), &f.actions) && committed_to_end(&f.group, &f.topic),
    );

    // Each action once, with every field it was produced with, at a Kafka
    // position that holds it.
    assert_eq!(
        f.repeated_under_final(),
        "",
        "an action_id shown twice by FINAL"
    );
    let positions: HashMap<String, BTreeSet<(i64, i64)>> =
        read_all(&f.actions, Duration::from_secs(30))
            .into_iter()
            .filter_map(|r| {
                let value: Value = serde_json::from_slice(r.payload.as_deref()?).ok()?;
                let id = value["action_id"].as_str()?.to_owned();
                Some((id, (i64::from(r.partition), r.offset)))
            })
            .fold(HashMap::new(), |mut map, (id, at)| {
                map.entry(id).or_insert_with(BTreeSet::new).insert(at);
                map
            });
    let rows: BTreeMap<String, Value> = clickhouse::query(&format!(
        "SELECT * FROM {}.moderation_actions FINAL FORMAT JSONEachRow",
        f.database
    ))
    .lines()
    .map(|l| serde_json::from_str::<Value>(l).expect("a JSON row"))
    .map(|row| {
        (
            row["action_id"].as_str().unwrap_or_default().to_owned(),
            row,
        )
    })
    .collect();
    for expected in &valid {
        let id = expected["action_id"].as_str().unwrap_or_default();
        let row = rows
            .get(id)
            .unwrap_or_else(|| panic!("{id} not stored: {rows:?}"));
        for field in ["action", "room_id", "actor"] {
            assert_eq!(row[field], expected[field], "{id} {field}");
        }
        for field in ["user_id", "message_id", "alert_id"] {
            assert_eq!(
                row[field], expected[field],
                "{id} {field} (NULL when absent)"
            );
        }
        assert_eq!(int(&row["v"]), Some(1), "{id} v");
        assert_eq!(int(&row["until"]), int(&expected["until"]), "{id} until");
        assert_eq!(
            int(&row["created_at"]),
            int(&expected["created_at"]),
            "{id} created_at"
        );
        assert_eq!(
            row["reason"],
            expected.get("reason").cloned().unwrap_or(json!("")),
            "{id} reason"
        );
        let at = (
            int(&row["kafka_partition"]).unwrap_or(-1),
            int(&row["kafka_offset"]).unwrap_or(-1),
        );
        assert!(
            positions[id].contains(&at),
            "{id} at {at:?}, produced at {:?}",
            positions[id]
        );
        assert!(
            row["ingested_at"].as_str().is_some_and(|t| !t.is_empty()),
            "{id} ingested_at"
        );
    }
    assert_eq!(
        positions[mute["action_id"].as_str().unwrap_or_default()].len(),
        2
    );

    // The documented room page: r1's messages for everyone, newest first,
    // without the three deleted ones.
    let page: Vec<String> = clickhouse::query(&documented_room_page(&f.database, "r1"))
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect();
    let mut expected: Vec<(i64, String)> = messages[..10]
        .iter()
        .map(|(_, m)| (int(&m["sent_at"]).unwrap_or_default(), id_of(m)))
        .filter(|(_, id)| {
            ![
                id_of(&messages[2].1),
                id_of(&messages[5].1),
                id_of(&messages[7].1),
            ]
            .contains(id)
        })
        .collect();
    expected.sort();
    expected.reverse();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(page, expected, "the documented query's page of r1");
    assert_eq!(
        f.count(
            "SELECT uniqExact(message_id) FROM {db}.messages WHERE message_id NOT IN \
             (SELECT message_id FROM {db}.moderation_actions WHERE action = 'delete_message')"
        ),
        messages.len() as u64 - 3,
        "counts without the deleted messages (db-writer's README)"
    );

    // The malformed action: dead-lettered with its reason and original bytes.
    let letters: Vec<_> = read_all(&f.dlq, Duration::from_secs(30));
    assert_eq!(letters.len(), 1, "one letter: {letters:?}");
    let letter = &letters[0];
    let headers: HashMap<_, _> = letter.headers.iter().cloned().collect();
    assert_eq!(headers["source.topic"], f.actions);
    assert_eq!(headers["worker"], "db-writer");
    assert_eq!(headers["error.kind"], "schema");
    assert!(headers["error"].contains("user_id"), "{headers:?}");
    assert_eq!(letter.key.as_deref(), Some(&b"r1"[..]));
    assert_eq!(
        letter.payload.as_deref(),
        Some(malformed.to_string().as_bytes())
    );

    // The actions group reports under its own group label.
    let (_, metrics) = http_get(&format!("127.0.0.1:{port}"), "/metrics").expect("metrics");
    let group = f.actions_group();
    assert!(
        group_metric(&metrics, "parley_records_consumed_total", &group) >= records.len() as f64
    );
    assert_eq!(
        group_metric(&metrics, "parley_dlq_records_total", &group),
        1.0
    );
    assert_eq!(
        group_metric(&metrics, "parley_partitions_assigned", &group),
        3.0
    );
    let status = writer.stop(Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {}", writer.log_text());
}

fn id_of(m: &Value) -> String {
    m["message_id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_of_actions_leaves_each_action_once() {
    let f = Fixture::new("dwa-crash").await;
    let stop = Arc::new(AtomicBool::new(false));
    let producer = tokio::spawn(stream_actions(f.actions.clone(), Arc::clone(&stop)));
    let port = free_port();
    // Small, frequent inserts: rows are in ClickHouse well before their
    // offsets are committed (every second), so the crash leaves some of
    // them to be read and inserted again.
    let fast = [
        "--batch-age",
        "100ms",
        "--batch-rows",
        "40",
        "--max-buffered-rows",
        "1000",
    ];
    let mut writer = f.start(port, &fast);
    wait_until(Duration::from_secs(60), "the first actions stored", || {
        assert!(
            writer.is_running(),
            "db-writer exited:\n{}",
            writer.log_text()
        );
        f.count("SELECT count() FROM {db}.moderation_actions") > 0
    });
    // Kill at a moment when well more is stored than committed (commits
    // come every second; a margin keeps a commit landing at the kill from
    // leaving nothing to replay).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let stored = f.count("SELECT count() FROM {db}.moderation_actions") as i64;
        let committed: i64 = committed_offsets(&f.actions_group(), &f.actions)
            .values()
            .sum();
        if stored > committed + 80 || std::time::Instant::now() > deadline {
            break;
        }
    }
    writer.kill(); // SIGKILL: no drain, no commit
    let at_kill = f.count("SELECT count() FROM {db}.moderation_actions");
    let committed_at_kill: i64 = committed_offsets(&f.actions_group(), &f.actions)
        .values()
        .sum();
    // Stored but not committed: these are read and inserted again.
    assert!(
        committed_at_kill < at_kill as i64,
        "the kill left nothing to replay: {at_kill} rows stored, offsets committed up to {committed_at_kill}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let mut writer = f.start(port, &fast);
    wait_until(
        Duration::from_secs(60),
        "the restarted writer storing actions",
        || {
            assert!(
                writer.is_running(),
                "db-writer exited:\n{}",
                writer.log_text()
            );
            f.count("SELECT count() FROM {db}.moderation_actions") > at_kill + 100
        },
    );
    // The stream ran on through the kill and the restart until now.
    stop.store(true, Ordering::Relaxed);
    let produced = producer.await.expect("producer task");

    wait_until(Duration::from_secs(90), "every action stored", || {
        f.actions_final() == produced.len() as u64
    });
    wait_until(
        Duration::from_secs(60),
        "actions committed to the end",
        || committed_to_end(&f.actions_group(), &f.actions),
    );
    let status = writer.stop(Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {}", writer.log_text());

    let stored: BTreeSet<String> = clickhouse::query(&format!(
        "SELECT action_id FROM {}.moderation_actions FINAL",
        f.database
    ))
    .lines()
    .map(str::to_owned)
    .collect();
    assert_eq!(stored, produced, "exactly the produced actions");
    assert_eq!(
        f.repeated_under_final(),
        "",
        "an action_id shown twice by FINAL"
    );
    let rows = f.count("SELECT count() FROM {db}.moderation_actions");
    println!(
        "{} actions; at the kill {at_kill} rows stored, {committed_at_kill} committed; \
         {rows} rows before OPTIMIZE (copies the merges have not collapsed yet included)",
        produced.len()
    );
    clickhouse::optimize_final(&f.database, "moderation_actions");
    assert_eq!(
        f.count("SELECT count() FROM {db}.moderation_actions"),
        produced.len() as u64,
        "copies left after OPTIMIZE FINAL"
    );
}
