//! The raw consume limit for benchmarks: a bare rdkafka consumer that reads
//! every record of a topic from the beginning and decodes nothing.
//!
//! `raw_consume --topic T [--brokers B] [--expect N]` prints one JSON line:
//! `{"records":…,"bytes":…,"seconds":…,"rate":…}`.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(topic) = flag("--topic") else {
        eprintln!("usage: raw_consume --topic T [--brokers B] [--expect N]");
        std::process::exit(2);
    };
    let brokers = flag("--brokers").unwrap_or_else(parley_bench::brokers);
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("raw-consume-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("raw_consume: {e}");
            std::process::exit(1);
        }
    };
    let metadata = match consumer.fetch_metadata(Some(&topic), Duration::from_secs(10)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("raw_consume: {e}");
            std::process::exit(1);
        }
    };
    let mut assignment = TopicPartitionList::new();
    let mut expect: i64 = 0;
    for p in metadata
        .topics()
        .first()
        .map(|t| t.partitions())
        .unwrap_or_default()
    {
        let (low, high) = consumer
            .fetch_watermarks(&topic, p.id(), Duration::from_secs(10))
            .unwrap_or((0, 0));
        expect += high - low;
        let _ = assignment.add_partition_offset(&topic, p.id(), Offset::Beginning);
    }
    let expect = flag("--expect")
        .and_then(|n| n.parse().ok())
        .unwrap_or(expect);
    if let Err(e) = consumer.assign(&assignment) {
        eprintln!("raw_consume: {e}");
        std::process::exit(1);
    }
    let started = Instant::now();
    let (mut records, mut bytes) = (0i64, 0u64);
    while records < expect && started.elapsed() < Duration::from_secs(600) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            records += 1;
            bytes += m.payload_len() as u64;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"records\":{records},\"bytes\":{bytes},\"seconds\":{seconds:.3},\"rate\":{:.0}}}",
        records as f64 / seconds
    );
}
