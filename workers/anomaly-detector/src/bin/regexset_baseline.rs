//! The raw limit of content matching, for the benchmark: a bare
//! `regex::RegexSet` built from a rule file's content rules (one regex per
//! rule: its keywords as a whole-word alternation, plus its patterns),
//! scanned over the normalized contents of every message of a topic.
//! Reading and normalizing are not timed; only the scan is.
//!
//! `regexset_baseline --rules FILE --topic T [--brokers B] [--expect N]`
//! prints one JSON line: `{"messages":…,"rules":…,"seconds":…,"rate":…,"hits":…}`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use parley_moderation::text::normalize::normalize;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

fn main() {
    if let Err(e) = run() {
        eprintln!("regexset_baseline: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rules = PathBuf::from(flag("--rules").ok_or("--rules FILE is required")?);
    let topic = flag("--topic").ok_or("--topic T is required")?;
    let brokers = flag("--brokers").unwrap_or_else(|| "127.0.0.1:9092".into());
    let expect: usize = flag("--expect")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);

    let checked = parley_moderation::rules::load(&rules).map_err(|e| e.to_string())?;
    let mut regexes = Vec::new();
    for spec in checked
        .into_iter()
        .filter(|r| r.def.enabled)
        .filter_map(|r| r.content)
    {
        let mut parts: Vec<String> = Vec::new();
        if !spec.keywords.is_empty() {
            let alternation: Vec<String> = spec
                .keywords
                .iter()
                .map(|w| regex::escape(&normalize(w).folded))
                .collect();
            parts.push(format!(r"\b(?:{})\b", alternation.join("|")));
        }
        parts.extend(spec.patterns);
        regexes.push(parts.join("|"));
    }
    let set = regex::RegexSet::new(&regexes).map_err(|e| e.to_string())?;

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set(
            "group.id",
            format!("regexset-baseline-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut texts = Vec::new();
    let mut idle = Instant::now();
    while texts.len() < expect && idle.elapsed() < Duration::from_secs(5) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            idle = Instant::now();
            if let Some(content) = m
                .payload()
                .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
                .and_then(|v| v["content"].as_str().map(str::to_owned))
            {
                texts.push(normalize(&content).folded);
            }
        }
    }
    let start = Instant::now();
    let mut hits = 0usize;
    for t in &texts {
        hits += set.matches(t).iter().count();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "messages": texts.len(), "rules": regexes.len(), "seconds": seconds,
            "rate": texts.len() as f64 / seconds.max(1e-9), "hits": hits,
        })
    );
    Ok(())
}
