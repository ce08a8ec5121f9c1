//! What every sink holds afterwards: the DLQ (each malformed record once
//! per dead-lettering worker, with its kind, key, bytes and source),
//! ClickHouse, Parquet and analytics (every valid record), and
//! websocket-sender (skipped and counted, the room's valid messages once).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use parley_shared::topics::dlq_headers;
use parley_tests::clickhouse;
use parley_tests::malformed::CorpusRecord;
use parley_tests::process::{http_get, metric};
use parley_tests::ws::{self, Client};
use parley_tests::{read_all, ConsumedRecord};

use crate::corpus::Corpus;
use crate::workers::Running;
use crate::DEAD_LETTERING;

/// A header's value.
pub fn header<'a>(record: &'a ConsumedRecord, name: &str) -> Option<&'a str> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02X}")).collect()
}

/// The DLQ: each malformed record once per dead-lettering worker.
pub fn dead_letters(dlq: &str, topic: &str, corpus: &Corpus, positions: &[(i32, i64)]) {
    let malformed_count = corpus.malformed_count;
    let letters = read_all(dlq, Duration::from_secs(60));
    let expected_letters: HashMap<(i32, i64), &CorpusRecord> = corpus
        .records
        .iter()
        .zip(positions)
        .filter(|(r, _)| r.expected_kind().is_some())
        .map(|(r, &position)| (position, r))
        .collect();
    assert_eq!(expected_letters.len(), malformed_count);
    let mut seen: BTreeMap<&str, BTreeSet<(i32, i64)>> = BTreeMap::new();
    for letter in &letters {
        check_letter(letter, topic, &expected_letters, &mut seen);
    }
    for worker in DEAD_LETTERING {
        assert_eq!(
            seen.get(worker).map_or(0, BTreeSet::len),
            malformed_count,
            "{worker}: letters"
        );
    }
    eprintln!(
        "DLQ: {} letters, {malformed_count} per worker",
        letters.len()
    );
}

/// One letter: from a dead-lettering worker, for a malformed record, with
/// its kind, source, key and bytes, and the first from that worker for it.
fn check_letter(
    letter: &ConsumedRecord,
    topic: &str,
    expected_letters: &HashMap<(i32, i64), &CorpusRecord>,
    seen: &mut BTreeMap<&'static str, BTreeSet<(i32, i64)>>,
) {
    let worker = header(letter, dlq_headers::WORKER).unwrap_or_default();
    let worker = DEAD_LETTERING
        .iter()
        .find(|w| **w == worker)
        .unwrap_or_else(|| panic!("a letter from {worker:?}: {:?}", letter.headers));
    let partition: i32 = header(letter, dlq_headers::SOURCE_PARTITION)
        .and_then(|p| p.parse().ok())
        .expect("source.partition");
    let offset: i64 = header(letter, dlq_headers::SOURCE_OFFSET)
        .and_then(|o| o.parse().ok())
        .expect("source.offset");
    let original = expected_letters
        .get(&(partition, offset))
        .unwrap_or_else(|| {
            panic!(
                "{worker} dead-lettered a valid record at {partition}:{offset}: {:?}",
                letter.headers
            )
        });
    let kind = original.expected_kind().map(|k| k.as_str());
    assert_eq!(
        header(letter, dlq_headers::ERROR_KIND),
        kind,
        "{worker} {partition}:{offset} ({}): {:?}",
        original.category,
        header(letter, dlq_headers::ERROR)
    );
    assert_eq!(header(letter, dlq_headers::SOURCE_TOPIC), Some(topic));
    let error = header(letter, dlq_headers::ERROR).unwrap_or_default();
    assert!(!error.is_empty() && !error.contains('\n'), "{error:?}");
    assert_eq!(
        letter.key, original.key,
        "{worker} {partition}:{offset} key"
    );
    assert!(
        letter.payload == original.payload,
        "{worker} {partition}:{offset}: payload changed ({} → {} bytes)",
        original.payload.as_ref().map_or(0, Vec::len),
        letter.payload.as_ref().map_or(0, Vec::len)
    );
    assert!(
        seen.entry(worker).or_default().insert((partition, offset)),
        "{worker} dead-lettered {partition}:{offset} twice"
    );
}

/// Every valid record processed: ClickHouse, Parquet, analytics; and every
/// dead-lettering worker counted each malformed one.
pub fn valid_records_processed(database: &str, out: &Path, corpus: &Corpus, workers: &[Running]) {
    let valid = &corpus.valid;
    let valid_hex: BTreeSet<String> = valid.iter().map(|(id, _)| hex(id)).collect();
    assert_eq!(valid_hex.len(), valid.len(), "valid ids are unique");
    let stored: BTreeSet<String> = clickhouse::query(&format!(
        "SELECT hex(message_id) FROM {database}.messages FINAL"
    ))
    .lines()
    .map(str::to_owned)
    .collect();
    assert_eq!(stored.len(), valid.len(), "ClickHouse rows (FINAL)");
    assert!(
        stored == valid_hex,
        "ClickHouse holds other ids than the valid ones"
    );

    let parquet = parley_tests::read_parquet(out);
    let exported: Vec<String> = parquet["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| hex(id.as_str().unwrap_or_default()))
        .collect();
    assert_eq!(exported.len(), valid.len(), "Parquet rows");
    assert!(
        exported.into_iter().collect::<BTreeSet<_>>() == valid_hex,
        "Parquet holds other ids than the valid ones"
    );

    let metrics_of = |name: &str| {
        let addr = &workers
            .iter()
            .find(|w| w.name == name)
            .expect("worker")
            .addr;
        http_get(addr, "/metrics").expect("metrics").1
    };
    parley_tests::wait_until(
        Duration::from_secs(20),
        "analytics counts every valid message",
        || {
            metric(&metrics_of("analytics"), "parley_analytics_messages_total") as usize
                == valid.len()
        },
    );
    for name in DEAD_LETTERING {
        let text = metrics_of(name);
        assert_eq!(
            metric(&text, "parley_dlq_records_total") as usize,
            corpus.malformed_count,
            "{name} parley_dlq_records_total"
        );
    }
}

/// websocket-sender: skipped and counted, never dead-lettered; the room's
/// valid messages reached its subscriber, each once. Closes the client.
pub async fn websocket_sender_skipped(
    mut client: Client,
    sender: &ws::Sender,
    room: &str,
    corpus: &Corpus,
) {
    let room_ids: Vec<&str> = corpus
        .valid
        .iter()
        .filter(|(_, r)| r == room)
        .map(|(id, _)| id.as_str())
        .collect();
    let frames = client
        .messages(room_ids.len(), Duration::from_secs(30))
        .await;
    let got = ws::ids(&frames);
    let deep = frames
        .iter()
        .filter(|f| f["message"]["deep"] == true)
        .count();
    eprintln!(
        "websocket-sender: {} frames for {room} ({deep} nested deeper than serde_json reads)",
        frames.len()
    );
    let got_set: BTreeSet<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got.len(), room_ids.len(), "frames for {room}");
    assert!(
        got_set == room_ids.iter().copied().collect::<BTreeSet<_>>(),
        "{room}: other messages than its valid ones"
    );
    let (_, sender_metrics) = http_get(&sender.metrics, "/metrics").expect("metrics");
    assert_eq!(
        metric(&sender_metrics, "parley_dlq_records_total") as usize,
        corpus.malformed_count,
        "websocket-sender skipped and counted"
    );
    client.close().await;
}
