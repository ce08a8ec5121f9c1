//! Liveness as a worker knows it: each consumer loop reports when it last
//! polled and when its work last became durable, and whether its sink is
//! failing (why, and since when). `/healthz` turns that into 200 or 503
//! with the reasons.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::metrics::now_ms;

/// Shared health of one process's consumers.
#[derive(Debug, Clone)]
pub struct Health {
    consumers: Arc<Vec<ConsumerHealth>>,
    stall_after: Duration,
}

/// One consumer loop's heartbeat.
#[derive(Debug, Default)]
pub struct ConsumerHealth {
    last_poll_ms: AtomicI64,
    last_progress_ms: AtomicI64,
    pending: AtomicU64,
    running: AtomicBool,
    /// Why the sink fails and since when (ms), while the consumer waits for
    /// it to recover.
    sink_fault: Mutex<Option<(String, i64)>>,
}

/// The `/healthz` answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    /// `ok` or `unhealthy`.
    pub status: &'static str,
    /// Why not healthy (empty when ok).
    pub problems: Vec<String>,
}

impl Health {
    /// Health for `consumers` loops; a loop is stalled after `stall_after`
    /// without a poll, or without durable progress while records are pending.
    pub fn new(consumers: usize, stall_after: Duration) -> Self {
        let now = now_ms();
        let list = (0..consumers)
            .map(|_| ConsumerHealth {
                last_poll_ms: AtomicI64::new(now),
                last_progress_ms: AtomicI64::new(now),
                pending: AtomicU64::new(0),
                running: AtomicBool::new(true),
                sink_fault: Mutex::new(None),
            })
            .collect();
        Health {
            consumers: Arc::new(list),
            stall_after,
        }
    }

    /// The heartbeat of consumer `index`.
    pub fn consumer(&self, index: usize) -> Option<&ConsumerHealth> {
        self.consumers.get(index)
    }

    /// Evaluates every consumer now.
    pub fn report(&self) -> HealthReport {
        let now = now_ms();
        let limit = self.stall_after.as_millis() as i64;
        let mut problems = Vec::new();
        for (i, c) in self.consumers.iter().enumerate() {
            if !c.running.load(Ordering::Relaxed) {
                problems.push(format!("consumer {i} has stopped"));
                continue;
            }
            let sink_fault = c.sink_fault();
            if let Some((reason, since)) = &sink_fault {
                problems.push(format!(
                    "consumer {i}: sink failing, partitions paused until it recovers: {reason} (sink down for {}s)",
                    (now - since).max(0) / 1000
                ));
            }
            let since_poll = now - c.last_poll_ms.load(Ordering::Relaxed);
            if since_poll > limit {
                problems.push(format!(
                    "consumer {i} has not polled Kafka for {}s",
                    since_poll / 1000
                ));
            }
            let pending = c.pending.load(Ordering::Relaxed);
            let since_progress = now - c.last_progress_ms.load(Ordering::Relaxed);
            // A failing sink explains the stall; it is reported once, above.
            if pending > 0 && since_progress > limit && sink_fault.is_none() {
                problems.push(format!(
                    "consumer {i}: {pending} records waiting, nothing made durable for {}s (sink down?)",
                    since_progress / 1000
                ));
            }
        }
        HealthReport {
            status: if problems.is_empty() {
                "ok"
            } else {
                "unhealthy"
            },
            problems,
        }
    }
}

impl ConsumerHealth {
    /// The loop polled Kafka just now.
    pub fn polled(&self) {
        self.last_poll_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Records now pending; `progressed` when some became durable.
    pub fn update(&self, pending: usize, progressed: bool) {
        if progressed || pending == 0 {
            self.last_progress_ms.store(now_ms(), Ordering::Relaxed);
        }
        self.pending.store(pending as u64, Ordering::Relaxed);
    }

    /// The loop ended.
    pub fn stopped(&self) {
        self.running.store(false, Ordering::Relaxed);
    }

    /// The sink fails (`Some(reason)`, a new reason keeps the start of the
    /// outage) or recovered (`None`).
    pub fn set_sink_fault(&self, reason: Option<&str>) {
        let mut fault = self.sink_fault.lock();
        *fault = reason.map(|reason| {
            let since = fault.as_ref().map_or_else(now_ms, |(_, since)| *since);
            (reason.to_owned(), since)
        });
    }

    fn sink_fault(&self) -> Option<(String, i64)> {
        self.sink_fault.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_work_without_progress_is_a_stall() {
        let health = Health::new(1, Duration::from_millis(0));
        let c = health.consumer(0).expect("consumer 0");
        c.polled();
        c.update(0, false);
        std::thread::sleep(Duration::from_millis(5));
        c.polled();
        assert_eq!(health.report().status, "ok", "{:?}", health.report());
        c.update(10, false);
        std::thread::sleep(Duration::from_millis(5));
        c.polled();
        let report = health.report();
        assert_eq!(report.status, "unhealthy");
        assert!(
            report.problems[0].contains("10 records waiting"),
            "{report:?}"
        );
        c.set_sink_fault(Some("ClickHouse: connection refused"));
        let report = health.report();
        assert!(
            report
                .problems
                .iter()
                .all(|p| !p.contains("records waiting")),
            "{report:?}"
        );
        assert!(
            report.problems.iter().any(|p| p.contains("sink down for")),
            "{report:?}"
        );
    }

    #[test]
    fn a_failing_sink_is_unhealthy_until_it_recovers() {
        let health = Health::new(2, Duration::from_secs(60));
        let c = health.consumer(1).expect("consumer 1");
        c.set_sink_fault(Some("output /x: No space left on device"));
        c.update(500, false);
        let report = health.report();
        assert_eq!(report.status, "unhealthy");
        assert_eq!(
            report.problems,
            vec![
                "consumer 1: sink failing, partitions paused until it recovers: output /x: No space left on device (sink down for 0s)"
            ],
            "the stalled records are the outage's, not a second problem"
        );
        c.set_sink_fault(Some("output /x: Read-only file system"));
        assert!(health.report().problems[0].ends_with("Read-only file system (sink down for 0s)"));
        c.set_sink_fault(None);
        c.update(0, true);
        assert_eq!(health.report().status, "ok");
    }
}
