//! Faults 4 and 5: a broker SIGKILLed and restarted, then another one
//! stopped and started. Every worker stays healthy throughout, and the next
//! fault waits until every replica is back in sync.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parley_tests::health::{all_healthy_within, tally_text, watch, Instance};
use parley_tests::stack::{replicas_in_sync_within, stack};
use serde_json::Value;

use crate::table::Row;

/// Fault 4: broker 2 SIGKILLed, restarted after 20 s.
pub fn broker_killed(instances: &mut [Instance], producer: &JoinHandle<Value>) -> Row {
    broker_down(
        instances,
        producer,
        ("broker SIGKILL + restart", "2", "kill-broker"),
    )
}

/// Fault 5: broker 3 stopped (controlled shutdown), started after 20 s.
pub fn broker_restarted(instances: &mut [Instance], producer: &JoinHandle<Value>) -> Row {
    broker_down(
        instances,
        producer,
        ("controlled broker restart", "3", "stop-broker"),
    )
}

/// Takes `broker` down with `stack.sh how`, brings it back, waits until it
/// is healthy and in sync.
fn broker_down(
    instances: &mut [Instance],
    producer: &JoinHandle<Value>,
    (fault, broker, how): (&str, &str, &str),
) -> Row {
    let mut b_tallies = BTreeMap::new();
    stack(&[how, broker]);
    watch(instances, &mut b_tallies, Duration::from_secs(20), |_| true);
    let back = Instant::now();
    stack(&["start-broker", broker]);
    watch(instances, &mut b_tallies, Duration::from_secs(15), |_| true);
    all_healthy_within(instances, Duration::from_secs(60), "after the broker");
    let healthy = back.elapsed();
    // The next broker fault must find every replica in sync: with the
    // restarted broker still catching up and another one stopped, a
    // partition falls under min.insync.replicas and refuses writes
    // (seen: the detector's sightings, alerts and dead letters refused
    // for 10 s, its commits held back, /healthz 503).
    replicas_in_sync_within(Duration::from_secs(180));
    let in_sync = back.elapsed();
    Row {
        under_load: !producer.is_finished(),
        fault: format!("{fault} (broker {broker}, 20 s down)"),
        done: "1".into(),
        health: format!(
            "every answer 200 ({}); all 200 {:.0} s after the start (start included), every replica in sync after {:.0} s",
            tally_text(&b_tallies),
            healthy.as_secs_f64(),
            in_sync.as_secs_f64()
        ),
    }
}
