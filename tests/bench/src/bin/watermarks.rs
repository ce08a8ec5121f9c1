//! The produced side of consumer lag, for the benchmark suite: the sum of a
//! topic's high watermarks, printed every interval until SIGTERM/SIGINT or
//! `--duration`, so a sampler can compare it with a worker's consumed count.
//!
//! `watermarks --topic T [--brokers B] [--interval-ms 200] [--duration-s N]`
//! prints `unix_seconds total_high_watermark` lines (flushed each time).

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn main() {
    if let Err(e) = run() {
        eprintln!("watermarks: {e}");
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
    let topic = flag("--topic")
        .ok_or("usage: watermarks --topic T [--brokers B] [--interval-ms MS] [--duration-s S]")?;
    let brokers = flag("--brokers").unwrap_or_else(parley_bench::brokers);
    let interval = Duration::from_millis(
        flag("--interval-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(200),
    );
    let duration = Duration::from_secs(
        flag("--duration-s")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3600),
    );
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("watermarks-{}", std::process::id()))
        .create()
        .map_err(|e| e.to_string())?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err(format!("topic {topic} has no partitions"));
    }
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    while started.elapsed() < duration {
        let mut total = 0i64;
        for &p in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            total += high;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        // A closed pipe (the sampler stopped) ends the tool.
        if writeln!(out, "{now:.3} {total}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
    Ok(())
}
