//! The one loadgen stream the faults happen under: started with incidents
//! and malformed records, joined at the end, then every group waited for
//! until it has committed to the end of the topic.

use std::thread::JoinHandle;
use std::time::Duration;

use parley_tests::faults::Truth;
use parley_tests::health::Instance;
use parley_tests::process::{loadgen, loadgen_args};
use parley_tests::{committed_to_end, wait_until};
use serde_json::Value;

use crate::knobs::Knobs;
use crate::stage::Stage;
use crate::table::Load;
use crate::SHARED;

/// Starts the stream on its own thread; the handle yields loadgen's summary.
pub fn start(stage: &Stage, knobs: &Knobs, seed: &str) -> JoinHandle<Value> {
    let rate = knobs.rate.to_string();
    let count = knobs.messages.to_string();
    let truth_arg = stage.truth_path.display().to_string();
    let args = loadgen_args(
        &stage.topic,
        &[
            "--count",
            &count,
            "--rate",
            &rate,
            "--seed",
            seed,
            "--malformed-ratio",
            "0.001",
            "--incident",
            "flood=1",
            "--incident",
            "repetition=1",
            "--incident",
            "spam=0.5",
            "--incident",
            "links=1",
            "--incident",
            "caps=1",
            "--incident",
            "toxicity=1",
            "--incident",
            "raid=0.2",
            "--truth",
            &truth_arg,
        ],
    );
    std::thread::spawn(move || loadgen(&args))
}

/// The stream ends: loadgen's numbers, the valid count and the truth file.
pub fn finish(
    producer: JoinHandle<Value>,
    stage: &Stage,
    faults_took: Duration,
) -> (Load, u64, Truth) {
    let summary = producer.join().expect("loadgen");
    let valid = summary["valid"].as_u64().expect("valid");
    let load = Load {
        records: summary["records"].as_u64().unwrap_or_default(),
        delivered: summary["delivered"].as_u64().unwrap_or_default(),
        rate: summary["rate"].as_f64().unwrap_or_default(),
        seconds: summary["seconds"].as_f64().unwrap_or_default(),
        faults: faults_took,
    };
    let truth = Truth::parse(&std::fs::read_to_string(&stage.truth_path).expect("truth"));
    assert_eq!(
        truth.valid.len() as u64,
        valid,
        "truth file vs loadgen summary"
    );
    eprintln!("stream done: {summary}");
    (load, valid, truth)
}

/// Every instance still runs, and every group reaches the end.
pub fn wait_drained(instances: &mut [Instance], topic: &str) {
    for i in instances.iter_mut() {
        assert!(
            i.process.is_running(),
            "{} died:\n{}",
            i.label(),
            i.process.log_text()
        );
    }
    let groups: Vec<(String, String)> = instances
        .iter()
        .filter(|i| i.slot == 0 && SHARED.contains(&i.worker) && i.worker != "anomaly-detector")
        .map(|i| {
            let g = i
                .args
                .iter()
                .position(|a| a == "--group")
                .map(|p| i.args[p + 1].clone());
            (i.worker.to_owned(), g.unwrap_or_default())
        })
        .collect();
    for (worker, group) in &groups {
        wait_until(
            Duration::from_secs(300),
            &format!("{worker} committed to the end"),
            || committed_to_end(group, topic),
        );
    }
}
