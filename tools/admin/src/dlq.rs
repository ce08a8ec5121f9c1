//! `dlq inspect` and `dlq replay`: what was dead-lettered and why, and
//! sending it back once the cause is fixed.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use clap::Args;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use parley_shared::topics::{self, dlq_headers};

use crate::error::AdminError;
use crate::kafka::{Kafka, TIMEOUT};
use crate::output::{self, Format};

/// Header added to a replayed record: `<dlq topic>:<partition>:<offset>`.
pub const REPLAYED_FROM: &str = "parley.replayed-from";

/// Which dead letters a command looks at.
#[derive(Debug, Clone, Args)]
pub struct Filter {
    /// Dead-letter topic.
    #[arg(long, default_value = topics::GAME_MESSAGES_DLQ)]
    pub dlq_topic: String,
    /// Only records with this `error.kind` (parse, schema, too-large, sink…).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only records dead-lettered by this worker.
    #[arg(long)]
    pub worker: Option<String>,
    /// Only records read from this topic (`source.topic`): the DLQ holds
    /// bad records of `game-messages` and of `moderation-actions`, and each
    /// belongs back in its own topic.
    #[arg(long)]
    pub source_topic: Option<String>,
}

/// Flags of `dlq inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Which records.
    #[command(flatten)]
    pub filter: Filter,
    /// Show the most recent N matching records.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Flags of `dlq replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Which records.
    #[command(flatten)]
    pub filter: Filter,
    /// Topic to send them to. Every group of that topic reads them again:
    /// db-writer collapses repeats by `message_id`, the others do not (see
    /// docs/operations.md), so filter with `--worker` and `--kind`.
    #[arg(long)]
    pub to: String,
    /// Group that remembers what was already replayed, so a second run
    /// sends only newer dead letters. Default: `parley-dlq-replay`, plus
    /// `.kind-K` / `.worker-W` / `.source-T` for a filter, so each filter keeps its own
    /// position (letters skipped by one filter stay there for another).
    #[arg(long)]
    pub group: Option<String>,
    /// Send them (without it, only count what would be sent).
    #[arg(long)]
    pub execute: bool,
}

/// One dead letter as `dlq inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// `partition:offset` in the DLQ.
    pub position: String,
    /// `error.kind` header.
    pub kind: String,
    /// `worker` header.
    pub worker: String,
    /// `source.topic:source.partition:source.offset`.
    pub source: String,
    /// `error` header.
    pub error: String,
    /// Key, as UTF-8 (lossy).
    pub key: String,
    /// Payload size in bytes.
    pub bytes: usize,
    /// The payload's first 120 characters, lossy.
    pub preview: String,
}

fn header(message: &BorrowedMessage<'_>, name: &str) -> String {
    message
        .headers()
        .and_then(|h| {
            h.iter()
                .find(|x| x.key == name)
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .unwrap_or_default()
}

impl Filter {
    /// The default replay group of this filter.
    fn replay_group(&self) -> String {
        let mut group = "parley-dlq-replay".to_owned();
        if let Some(kind) = &self.kind {
            group.push_str(&format!(".kind-{kind}"));
        }
        if let Some(worker) = &self.worker {
            group.push_str(&format!(".worker-{worker}"));
        }
        if let Some(topic) = &self.source_topic {
            group.push_str(&format!(".source-{topic}"));
        }
        group
    }

    fn matches(&self, message: &BorrowedMessage<'_>) -> bool {
        self.kind
            .as_ref()
            .is_none_or(|k| header(message, dlq_headers::ERROR_KIND) == *k)
            && self
                .worker
                .as_ref()
                .is_none_or(|w| header(message, dlq_headers::WORKER) == *w)
            && self
                .source_topic
                .as_ref()
                .is_none_or(|t| header(message, dlq_headers::SOURCE_TOPIC) == *t)
    }
}

fn dead_letter(message: &BorrowedMessage<'_>) -> DeadLetter {
    let payload = message.payload().unwrap_or_default();
    let preview: String = String::from_utf8_lossy(payload)
        .chars()
        .take(120)
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    DeadLetter {
        position: format!("{}:{}", message.partition(), message.offset()),
        kind: header(message, dlq_headers::ERROR_KIND),
        worker: header(message, dlq_headers::WORKER),
        source: format!(
            "{}:{}:{}",
            header(message, dlq_headers::SOURCE_TOPIC),
            header(message, dlq_headers::SOURCE_PARTITION),
            header(message, dlq_headers::SOURCE_OFFSET)
        ),
        error: header(message, dlq_headers::ERROR),
        key: message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default(),
        bytes: payload.len(),
        preview,
    }
}

/// Reads `topic` from `start` (per partition) to the end offsets seen now,
/// calling `each` for every record.
fn read_to_end(
    consumer: &BaseConsumer,
    kafka: &Kafka,
    topic: &str,
    start: &BTreeMap<i32, i64>,
    mut each: impl FnMut(&BorrowedMessage<'_>) -> Result<(), AdminError>,
) -> Result<BTreeMap<i32, i64>, AdminError> {
    let watermarks = kafka.watermarks(consumer, topic)?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    let mut position = BTreeMap::new();
    for (&p, &(low, high)) in &watermarks {
        let from = start.get(&p).copied().unwrap_or(low).clamp(low, high);
        position.insert(p, from);
        if from < high {
            tpl.add_partition_offset(topic, p, Offset::Offset(from))
                .map_err(|e| AdminError::kafka("assigning partitions", e))?;
            remaining.insert(p, high);
        }
    }
    if remaining.is_empty() {
        return Ok(position);
    }
    consumer
        .assign(&tpl)
        .map_err(|e| AdminError::kafka("assigning partitions", e))?;
    let mut idle = Duration::ZERO;
    while !remaining.is_empty() {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                idle = Duration::ZERO;
                let p = message.partition();
                if remaining.get(&p).is_some_and(|&end| message.offset() < end) {
                    each(&message)?;
                    position.insert(p, message.offset() + 1);
                    if message.offset() + 1 >= remaining[&p] {
                        remaining.remove(&p);
                    }
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                remaining.remove(&p);
            }
            Some(Err(e)) => return Err(AdminError::kafka("reading the DLQ", e)),
            None => {
                idle += Duration::from_millis(500);
                if idle > TIMEOUT {
                    return Err(AdminError::Refused(format!(
                        "no records from {topic} for {}s while {} partition(s) had more; is the cluster healthy?",
                        TIMEOUT.as_secs(),
                        remaining.len()
                    )));
                }
            }
        }
    }
    Ok(position)
}

/// Prints the most recent matching dead letters and a count per kind.
pub fn inspect(kafka: &Kafka, args: &InspectArgs, format: Format) -> Result<(), AdminError> {
    let consumer = kafka.consumer(None)?;
    let mut recent = VecDeque::with_capacity(args.limit);
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    read_to_end(
        &consumer,
        kafka,
        &args.filter.dlq_topic,
        &BTreeMap::new(),
        |m| {
            if args.filter.matches(m) {
                let letter = dead_letter(m);
                *counts
                    .entry((letter.kind.clone(), letter.worker.clone()))
                    .or_default() += 1;
                if recent.len() == args.limit {
                    recent.pop_front();
                }
                if args.limit > 0 {
                    recent.push_back(letter);
                }
            }
            Ok(())
        },
    )?;
    let recent: Vec<DeadLetter> = recent.into();
    output::print(format, &recent, || {
        let mut t = output::table(&[
            "position", "kind", "worker", "source", "error", "key", "bytes", "payload",
        ]);
        for d in &recent {
            t.add_row(vec![
                d.position.clone(),
                d.kind.clone(),
                d.worker.clone(),
                d.source.clone(),
                d.error.clone(),
                d.key.clone(),
                d.bytes.to_string(),
                d.preview.clone(),
            ]);
        }
        t
    });
    if format == Format::Table {
        let mut t = output::table(&["kind", "worker", "records"]);
        for ((kind, worker), n) in &counts {
            t.add_row(vec![kind.clone(), worker.clone(), n.to_string()]);
        }
        println!("{t}");
    }
    Ok(())
}

/// Sends matching dead letters not yet replayed to `--to`, original key,
/// bytes and headers (less the DLQ's own), then remembers where it got.
pub async fn replay(kafka: &Kafka, args: &ReplayArgs) -> Result<(), AdminError> {
    if args.to == args.filter.dlq_topic {
        return Err(AdminError::Refused(format!(
            "--to {} is the DLQ itself: replaying there would loop",
            args.to
        )));
    }
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| args.filter.replay_group());
    let consumer = kafka.consumer(Some(&group))?;
    kafka.partitions(&consumer, &args.to)?;
    let start = kafka.committed(&group, &args.filter.dlq_topic)?;
    let mut chosen = Vec::new();
    let mut skipped = 0u64;
    let end = read_to_end(&consumer, kafka, &args.filter.dlq_topic, &start, |m| {
        if args.filter.matches(m) {
            chosen.push(Replay::from(m, &args.filter.dlq_topic));
        } else {
            skipped += 1;
        }
        Ok(())
    })?;
    if !args.execute {
        eprintln!(
            "dry run: {} record(s) would go to {} ({skipped} not matching); pass --execute to send them",
            chosen.len(),
            args.to
        );
        return Ok(());
    }
    let producer: FutureProducer = kafka
        .config(&[("enable.idempotence", "true"), ("linger.ms", "20")])
        .create()
        .map_err(|e| AdminError::kafka("creating a producer", e))?;
    let mut pending = FuturesUnordered::new();
    let mut sent = 0u64;
    for record in &chosen {
        let mut future_record = FutureRecord::to(&args.to)
            .payload(&record.payload)
            .headers(record.headers.clone());
        if let Some(key) = &record.key {
            future_record = future_record.key(key);
        }
        pending.push(producer.send(future_record, TIMEOUT));
        while pending.len() >= 1000 {
            delivered(pending.next().await)?;
            sent += 1;
        }
    }
    while let Some(result) = pending.next().await {
        delivered(Some(result))?;
        sent += 1;
    }
    // Only now, with every record acknowledged, remember the position.
    kafka.commit(&group, &args.filter.dlq_topic, &end)?;
    eprintln!(
        "replayed {sent} record(s) to {} ({skipped} not matching); group {group} remembers the position",
        args.to
    );
    Ok(())
}

fn delivered(
    result: Option<rdkafka::producer::future_producer::OwnedDeliveryResult>,
) -> Result<(), AdminError> {
    match result {
        Some(Ok(_)) | None => Ok(()),
        Some(Err((e, _))) => Err(AdminError::kafka(
            "sending a record (nothing was marked replayed; run again)",
            e,
        )),
    }
}

/// A dead letter ready to send back.
struct Replay {
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
}

impl Replay {
    fn from(message: &BorrowedMessage<'_>, dlq: &str) -> Self {
        let dlq_own = [
            dlq_headers::ERROR,
            dlq_headers::ERROR_KIND,
            dlq_headers::SOURCE_TOPIC,
            dlq_headers::SOURCE_PARTITION,
            dlq_headers::SOURCE_OFFSET,
            dlq_headers::WORKER,
            REPLAYED_FROM,
        ];
        let mut headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for h in original.iter().filter(|h| !dlq_own.contains(&h.key)) {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let from = format!("{dlq}:{}:{}", message.partition(), message.offset());
        headers = headers.insert(Header {
            key: REPLAYED_FROM,
            value: Some(&from),
        });
        Replay {
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_filter_replays_under_its_own_group() {
        let filter = |kind: Option<&str>, worker: Option<&str>, source: Option<&str>| Filter {
            dlq_topic: topics::GAME_MESSAGES_DLQ.to_owned(),
            kind: kind.map(str::to_owned),
            worker: worker.map(str::to_owned),
            source_topic: source.map(str::to_owned),
        };
        assert_eq!(filter(None, None, None).replay_group(), "parley-dlq-replay");
        assert_eq!(
            filter(Some("sink"), Some("db-writer"), Some("moderation-actions")).replay_group(),
            "parley-dlq-replay.kind-sink.worker-db-writer.source-moderation-actions"
        );
    }
}
