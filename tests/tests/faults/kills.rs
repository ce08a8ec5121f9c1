//! Fault 1: every worker SIGKILLed `kills` times at random moments and
//! restarted after 0–2.5 s (often while its group still rebalances); the
//! others stay healthy meanwhile.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parley_tests::faults::Rng;
use parley_tests::health::{tally_text, watch, HealthTally, Instance};
use parley_tests::process::http_get;
use parley_tests::wait_until;
use serde_json::Value;

use crate::knobs::Knobs;
use crate::table::Row;
use crate::{SENDER, SHARED};

/// Kills and restarts every worker `knobs.kills` times, in a random order
/// each round.
pub fn every_worker_killed(
    instances: &mut [Instance],
    knobs: &Knobs,
    rng: &mut Rng,
    producer: &JoinHandle<Value>,
) -> Row {
    let mut tallies: BTreeMap<&'static str, HealthTally> = BTreeMap::new();
    let kinds: Vec<&str> = SHARED.iter().copied().chain([SENDER]).collect();
    let mut restart_bounds = Duration::ZERO;
    let kill_started = Instant::now();
    for round in 0..knobs.kills {
        let mut order = kinds.clone();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for worker in order {
            watch(instances, &mut tallies, rng.millis(500, 2500), |_| true);
            let slot = rng.below(2) as usize;
            let index = instances
                .iter()
                .position(|i| i.worker == worker && i.slot == slot)
                .expect("instance");
            eprintln!("kill round {round}: SIGKILL {}", instances[index].label());
            instances[index].kill();
            let down = rng.millis(0, 2500);
            // The others stay healthy while it is down.
            watch(instances, &mut tallies, down, |_| true);
            instances[index].restart();
            let restarted = Instant::now();
            let metrics = instances[index].metrics.clone();
            wait_until(
                Duration::from_secs(30),
                "restarted worker answers 200",
                || matches!(http_get(&metrics, "/healthz"), Some((200, _))),
            );
            restart_bounds = restart_bounds.max(restarted.elapsed());
        }
    }
    let kills_done: u32 = instances.iter().map(|i| i.kills).sum();
    let row = Row {
        under_load: !producer.is_finished(),
        fault: "SIGKILL + restart, every worker".into(),
        done: format!(
            "{kills_done} kills ({} per worker, 2 instances each) in {:.0} s",
            knobs.kills,
            kill_started.elapsed().as_secs_f64()
        ),
        health: format!(
            "every answer 200 while a peer was down ({}); a restarted worker 200 within {:.1} s",
            tally_text(&tallies),
            restart_bounds.as_secs_f64()
        ),
    };
    eprintln!("kills done: {kills_done}");
    row
}
