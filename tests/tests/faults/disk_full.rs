//! Fault 3: the Parquet exporters' output disk full for 30 s, then freed.
//! The exporters say 503 (sink failing) meanwhile, the others stay healthy.
//! It runs before the broker faults: their in-sync waits would push it past
//! the end of a short stream, when an idle exporter has nothing to write and
//! no reason to fail.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parley_tests::health::{all_healthy_within, sample, tally_text, Instance};
use serde_json::Value;

use crate::disk::SmallDisk;
use crate::table::Row;

/// Fills `disk` for 30 s, sampling `/healthz` every second, then frees it.
pub fn output_disk_full(
    instances: &mut [Instance],
    disk: &SmallDisk,
    producer: &JoinHandle<Value>,
) -> Row {
    let mut d_tallies = BTreeMap::new();
    disk.fill();
    let full = Instant::now();
    let mut first_503: BTreeMap<String, Duration> = BTreeMap::new();
    while full.elapsed() < Duration::from_secs(30) {
        for i in instances.iter().filter(|i| i.worker == "parquet-exporter") {
            if let Some((503, body)) = i.health() {
                assert!(body.contains("sink") || body.contains("space"), "{body}");
                first_503.entry(i.label()).or_insert(full.elapsed());
            }
        }
        sample(instances, &mut d_tallies, |w| w != "parquet-exporter");
        std::thread::sleep(Duration::from_secs(1));
    }
    for i in instances.iter().filter(|i| i.worker == "parquet-exporter") {
        assert!(
            first_503.contains_key(&i.label()),
            "{} never said 503 while its disk was full",
            i.label()
        );
    }
    let freed = Instant::now();
    disk.free();
    all_healthy_within(
        instances,
        Duration::from_secs(90),
        "after the disk was freed",
    );
    Row {
        under_load: !producer.is_finished(),
        fault: "Parquet output disk full 30 s (tmpfs filled), then freed".into(),
        done: "1".into(),
        health: format!(
            "parquet-exporter 503 (sink failing) after {} s; all 200 {:.0} s after freeing; others 200 ({})",
            first_503
                .values()
                .map(|d| format!("{:.0}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join("/"),
            freed.elapsed().as_secs_f64(),
            tally_text(&d_tallies)
        ),
    }
}
