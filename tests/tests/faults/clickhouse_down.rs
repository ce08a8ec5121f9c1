//! Fault 2: ClickHouse stopped for the outage, then started. db-writer says
//! 503 (sink down) meanwhile, every other worker stays healthy, and all
//! answer 200 again once ClickHouse is back.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parley_tests::health::{all_healthy_within, sample, tally_text, Instance};
use parley_tests::stack::stack;
use serde_json::Value;

use crate::knobs::Knobs;
use crate::table::Row;

/// Stops ClickHouse for `knobs.outage`, sampling `/healthz` every second.
pub fn clickhouse_stopped(
    instances: &mut [Instance],
    knobs: &Knobs,
    producer: &JoinHandle<Value>,
) -> Row {
    let mut ch_tallies = BTreeMap::new();
    stack(&["stop", "clickhouse"]);
    let outage_started = Instant::now();
    let mut first_503: BTreeMap<String, Duration> = BTreeMap::new();
    while outage_started.elapsed() < knobs.outage {
        for i in instances.iter_mut() {
            match i.health() {
                Some((503, body)) if i.worker == "db-writer" => {
                    assert!(body.contains("sink") || body.contains("durable"), "{body}");
                    first_503
                        .entry(i.label())
                        .or_insert(outage_started.elapsed());
                }
                Some((200, _)) => {}
                other => assert!(
                    i.worker == "db-writer",
                    "{} not healthy while only ClickHouse is down: {other:?}",
                    i.label()
                ),
            }
        }
        sample(instances, &mut ch_tallies, |w| w != "db-writer");
        std::thread::sleep(Duration::from_secs(1));
    }
    let back = Instant::now();
    stack(&["up", "--brokers", "3"]);
    for i in instances.iter().filter(|i| i.worker == "db-writer") {
        assert!(
            first_503.contains_key(&i.label()),
            "{} never said 503 while ClickHouse was down",
            i.label()
        );
    }
    all_healthy_within(instances, Duration::from_secs(90), "after ClickHouse");
    let recovered = back.elapsed();
    Row {
        under_load: !producer.is_finished(),
        fault: format!("ClickHouse stopped {} s", knobs.outage.as_secs()),
        done: "1 outage".into(),
        health: format!(
            "db-writer 503 (sink down) after {} s; 200 again {:.0} s after ClickHouse was started (start included); others 200 ({})",
            first_503
                .values()
                .map(|d| format!("{:.0}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join("/"),
            recovered.as_secs_f64(),
            tally_text(&ch_tallies)
        ),
    }
}
