//! loadgen against the real broker: every record produced is read back
//! intact, in room order, and malformed ones are recognised by the decoder.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Duration;

use parley_shared::GameMessage;
use parley_tests::process::loadgen;
use parley_tests::{binary, brokers, fresh_topic, read_all, ConsumedRecord};
use serde_json::Value;

const COUNT: usize = 30_000;

#[tokio::test]
async fn every_produced_record_reads_back_intact_in_room_order() {
    let topic = fresh_topic("loadgen", 12).await;
    let truth_path = std::env::temp_dir().join(format!("{topic}.truth.jsonl"));
    let truth_arg = truth_path.to_string_lossy().into_owned();
    let args = [
        "--brokers",
        &brokers(),
        "--topic",
        &topic,
        "--count",
        &COUNT.to_string(),
        "--rate",
        "0",
        "--seed",
        "42",
        "--games",
        "4",
        "--rooms",
        "300",
        "--users",
        "20000",
        "--malformed-ratio",
        "0.01",
        "--incident",
        "flood=3",
        "--incident",
        "spam=3",
        "--incident",
        "raid=1",
        "--incident",
        "toxicity=3",
        "--incident",
        "links=3",
        "--truth",
        &truth_arg,
    ]
    .map(str::to_owned);
    let summary = loadgen(&args);
    assert_eq!(summary["records"], COUNT);
    assert_eq!(summary["delivered"], COUNT);

    let truth: Vec<Value> = std::fs::read_to_string(&truth_path)
        .expect("truth file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("truth line is JSON"))
        .collect();
    assert_eq!(truth.len(), COUNT);
    let malformed = truth.iter().filter(|t| t["label"] == "malformed").count();
    assert!(malformed > 100, "expected ~1% malformed, got {malformed}");
    assert!(truth.iter().any(|t| t["label"] == "raid"));
    assert!(truth.iter().any(|t| t["visibility"] == "moderators"));

    let records = read_all(&topic, Duration::from_secs(120));
    assert_eq!(records.len(), COUNT, "records read back");

    // Per room (= key), the order read back is the order produced.
    let mut produced: HashMap<String, Vec<&Value>> = HashMap::new();
    for line in &truth {
        let room = line["room_id"].as_str().expect("room_id").to_owned();
        produced.entry(room).or_default().push(line);
    }
    let mut consumed: BTreeMap<Vec<u8>, Vec<&ConsumedRecord>> = BTreeMap::new();
    let mut sorted: Vec<&ConsumedRecord> = records.iter().collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    for record in sorted {
        consumed
            .entry(record.key.clone().expect("every record has a key"))
            .or_default()
            .push(record);
    }
    assert_eq!(consumed.len(), produced.len(), "rooms");

    let (mut valid, mut rejected) = (0, 0);
    for (key, records) in &consumed {
        let room = String::from_utf8(key.clone()).expect("UTF-8 key");
        let expected = &produced[&room];
        assert_eq!(records.len(), expected.len(), "records of room {room}");
        let partitions: std::collections::HashSet<i32> =
            records.iter().map(|r| r.partition).collect();
        assert_eq!(partitions.len(), 1, "room {room} spread over partitions");
        for (record, truth) in records.iter().zip(expected) {
            let decoded =
                GameMessage::decode_record(record.key.as_deref(), record.payload.as_deref());
            if truth["label"] == "malformed" {
                let err = decoded.expect_err("malformed record accepted");
                assert_eq!(
                    err.kind().as_str(),
                    truth["expected_error"],
                    "{truth}: {err}"
                );
                rejected += 1;
            } else {
                let message = decoded.unwrap_or_else(|e| panic!("valid record rejected: {e}"));
                assert_eq!(
                    message.message_id,
                    truth["message_id"].as_str().expect("id")
                );
                assert_eq!(message.user_id, truth["user_id"].as_str().expect("user"));
                assert_eq!(message.game_id, truth["game_id"].as_str().expect("game"));
                assert_eq!(message.sent_at, truth["sent_at"].as_i64().expect("sent_at"));
                assert_eq!(message.kind.as_str(), truth["kind"].as_str().expect("kind"));
                valid += 1;
            }
        }
    }
    assert_eq!(valid, summary["valid"].as_u64().expect("valid") as usize);
    assert_eq!(rejected, malformed);
    let _ = std::fs::remove_file(truth_path);
}

#[test]
fn unknown_topic_is_a_clear_error() {
    let output = Command::new(binary("loadgen"))
        .args([
            "--brokers",
            &brokers(),
            "--topic",
            "it-no-such-topic-ever",
            "--count",
            "1",
        ])
        .output()
        .expect("run loadgen");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flags_are_refused_before_connecting() {
    for args in [
        &["--malformed-ratio", "2"][..],
        &["--incident", "flood"],
        &["--incident", "lava=1"],
        &["--rate", "-5"],
        &["--time-span", "6h"],
    ] {
        let output = Command::new(binary("loadgen"))
            .args(["--brokers", "127.0.0.1:1"])
            .args(args)
            .output()
            .expect("run loadgen");
        assert!(!output.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.is_empty(),
            "{args:?}: {stderr}"
        );
    }
}
