//! The sink driver against in-memory sinks: retry, bisection into the DLQ,
//! the in-flight cap, revoke, completions by partition and epoch, and the
//! outage reported on the sink status (in place, and rewinding with a
//! probe that waits for the loop's rewind).

use super::*;
use crate::runtime::testing::{offsets_of, CollectedDeadLetters, TestContext};
use parking_lot::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// A batch of bare records.
struct Records(Vec<RecordRef>);

impl SinkBatch for Records {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn bytes(&self) -> usize {
        self.0.len() * 10
    }
    fn record(&self, index: usize) -> RecordRef {
        self.0[index]
    }
    fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        let before = self.0.len();
        self.0.retain(|r| !partitions.contains(&r.partition));
        before - self.0.len()
    }
}

fn records(partition: i32, epoch: u64, offsets: Range<i64>) -> Records {
    Records(
        offsets
            .map(|offset| RecordRef {
                partition,
                epoch,
                offset,
                sent_at: 0,
            })
            .collect(),
    )
}

/// Refuses records at `bad` offsets for good, fails the first `outages`
/// writes as unreachable, and can hold writes until released.
#[derive(Default)]
struct ScriptedSink {
    bad: Vec<i64>,
    outages: Mutex<u32>,
    written: Mutex<Vec<i64>>,
    calls: Mutex<u32>,
    gate: Option<tokio::sync::Semaphore>,
}

impl Sink for ScriptedSink {
    type Batch = Records;

    fn label(&self) -> &'static str {
        "test"
    }

    async fn write(&self, batch: &Records, rows: Range<usize>) -> Result<(), SinkError> {
        *self.calls.lock() += 1;
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await;
        }
        {
            let mut outages = self.outages.lock();
            if *outages > 0 {
                *outages -= 1;
                return Err(SinkError::Retryable("connection refused".into()));
            }
        }
        let part = &batch.0[rows];
        if part.iter().any(|r| self.bad.contains(&r.offset)) {
            return Err(SinkError::Permanent("Code: 53".into()));
        }
        self.written.lock().extend(part.iter().map(|r| r.offset));
        Ok(())
    }
}

fn driver(
    test: &TestContext,
    sink: ScriptedSink,
    max_in_flight: usize,
) -> (
    SinkDriver<ScriptedSink>,
    Arc<ScriptedSink>,
    Arc<CollectedDeadLetters>,
) {
    let sink = Arc::new(sink);
    let letters = CollectedDeadLetters::new();
    let dead: Arc<dyn DeadLetters> = letters.clone();
    let driver = SinkDriver::new(
        Arc::clone(&sink),
        test.context.clone(),
        Some(dead),
        max_in_flight,
    );
    (driver, sink, letters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_bisected_to_single_records_in_the_dlq() {
    let test = TestContext::new();
    let sink = ScriptedSink {
        bad: vec![5, 30],
        ..Default::default()
    };
    let (mut driver, sink, letters) = driver(&test, sink, 4);
    driver.push(records(0, 1, 0..37));
    let done = test.wait_for(37, Duration::from_secs(5));
    assert_eq!(
        offsets_of(&done, 0),
        (0..37).collect::<Vec<_>>(),
        "all acked"
    );
    let refused: Vec<i64> = letters.letters().iter().map(|r| r.offset).collect();
    assert_eq!(refused, vec![5, 30]);
    let mut written = sink.written.lock().clone();
    written.sort_unstable();
    assert_eq!(
        written,
        (0..37).filter(|&o| o != 5 && o != 30).collect::<Vec<_>>()
    );
    assert_eq!(driver.queued(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_errors_retry_the_whole_batch_until_it_is_in() {
    let test = TestContext::new();
    let sink = ScriptedSink {
        outages: Mutex::new(2),
        ..Default::default()
    };
    let (mut driver, sink, letters) = driver(&test, sink, 1);
    driver.push(records(3, 7, 100..110));
    assert!(
        test.wait_for(1, Duration::from_millis(100)).is_empty(),
        "nothing acked while the sink is down"
    );
    let done = test.wait_for(10, Duration::from_secs(5));
    assert_eq!(offsets_of(&done, 3), (100..110).collect::<Vec<_>>());
    assert!(done.iter().all(|c| c.epoch == 7 && c.tag == 1));
    assert_eq!(*sink.calls.lock(), 3, "two failures, then the whole batch");
    assert!(letters.letters().is_empty());
    assert_eq!(
        test.context
            .metrics
            .sink_errors
            .with_label_values(&["test", "retryable"])
            .get(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_come_by_partition_and_epoch() {
    let test = TestContext::new();
    let (mut driver, _, _) = driver(&test, ScriptedSink::default(), 2);
    let mut mixed = records(0, 1, 0..3);
    mixed.0.extend(records(1, 4, 10..12).0);
    mixed.0.extend(records(0, 2, 3..4).0);
    driver.push(mixed);
    let mut done = test.wait_for(6, Duration::from_secs(5));
    done.sort_by_key(|c| (c.partition, c.epoch));
    let got: Vec<(i32, u64, Vec<i64>)> = done
        .into_iter()
        .map(|c| (c.partition, c.epoch, c.offsets))
        .collect();
    assert_eq!(
        got,
        vec![(0, 1, vec![0, 1, 2]), (0, 2, vec![3]), (1, 4, vec![10, 11])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_cap_holds_batches_back_and_revoke_drops_waiting_ones() {
    let test = TestContext::new();
    let sink = ScriptedSink {
        gate: Some(tokio::sync::Semaphore::new(0)),
        ..Default::default()
    };
    let (mut driver, sink, _) = driver(&test, sink, 2);
    driver.push(records(0, 1, 0..5));
    driver.push(records(1, 1, 0..5));
    driver.push(records(2, 1, 0..5));
    driver.push(records(1, 1, 5..8));
    assert_eq!(driver.in_flight(), 2);
    assert_eq!(driver.queued(), 18);
    assert_eq!(driver.revoke(&[1]), 3, "only the waiting batch of 1");
    assert_eq!(driver.queued(), 15);
    if let Some(gate) = &sink.gate {
        gate.add_permits(100);
    }
    let first = test.wait_for(10, Duration::from_secs(5));
    assert_eq!(first.len(), 2);
    // A slot is free again: the next tick starts the waiting batch.
    driver.start(false);
    let rest = test.wait_for(5, Duration::from_secs(5));
    assert_eq!(offsets_of(&rest, 2), (0..5).collect::<Vec<_>>());
    assert_eq!(driver.queued(), 0);
    assert_eq!(driver.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_place_outage_is_reported_until_a_write_succeeds() {
    let test = TestContext::new();
    let sink = ScriptedSink {
        outages: Mutex::new(3),
        gate: None,
        ..Default::default()
    };
    let (mut driver, _, _) = driver(&test, sink, 1);
    driver.push(records(0, 1, 0..4));
    let status = test.context.sink.clone();
    wait_until(|| status.is_failing(), "the outage reported");
    assert_eq!(status.reason().as_deref(), Some("connection refused"));
    assert!(!status.snapshot().rewind, "nothing is dropped");
    let done = test.wait_for(4, Duration::from_secs(10));
    assert_eq!(offsets_of(&done, 0), (0..4).collect::<Vec<_>>());
    assert!(!status.is_failing(), "working again once written");
}

/// A store that loses what it was writing when it fails (a rewinding sink),
/// down while `down` is set, probes counted.
#[derive(Default)]
struct LosingSink {
    down: AtomicBool,
    probes: Mutex<u32>,
}

impl Sink for LosingSink {
    type Batch = Records;

    fn label(&self) -> &'static str {
        "losing"
    }

    fn recovery(&self) -> Recovery {
        Recovery::Rewind
    }

    async fn write(&self, _batch: &Records, _rows: Range<usize>) -> Result<(), SinkError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(SinkError::Retryable("disk full".into()));
        }
        Ok(())
    }

    async fn probe(&self) -> Result<(), SinkError> {
        *self.probes.lock() += 1;
        if self.down.load(Ordering::Relaxed) {
            return Err(SinkError::Retryable("still full".into()));
        }
        Ok(())
    }
}

fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewinding_sink_drops_the_batch_and_probes_only_after_the_rewind() {
    let test = TestContext::new();
    let sink = Arc::new(LosingSink::default());
    sink.down.store(true, Ordering::Relaxed);
    let mut driver =
        SinkDriver::new(Arc::clone(&sink), test.context.clone(), None, 2).with_probe_backoff(
            Backoff::new(Duration::from_millis(20), Duration::from_millis(40)),
        );
    let status = test.context.sink.clone();
    driver.push(records(0, 3, 0..5));
    driver.push(records(1, 4, 0..5));
    wait_until(|| driver.queued() == 0, "both batches given up");
    assert!(
        test.wait_for(1, Duration::from_millis(100)).is_empty(),
        "a lost batch is not acknowledged"
    );
    let snap = status.snapshot();
    assert!(snap.failing && snap.rewind);
    assert_eq!(snap.rewinds, 1, "one rewind for the outage");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(*sink.probes.lock(), 0, "no probe before the loop rewound");
    // The loop drops the work: epochs 3 and 4 are gone.
    status.rewound(snap.rewinds, 5);
    wait_until(|| *sink.probes.lock() >= 2, "probes");
    assert_eq!(status.reason().as_deref(), Some("still full"));
    // A late failure of dropped work is not a new outage.
    driver.failed(SinkError::Retryable("late".into()), Some(4));
    assert_eq!(status.snapshot().rewinds, 1);
    sink.down.store(false, Ordering::Relaxed);
    wait_until(|| !status.is_failing(), "the probe to find it working");
    driver.push(records(0, 5, 5..7));
    let done = test.wait_for(2, Duration::from_secs(5));
    assert_eq!(offsets_of(&done, 0), vec![5, 6]);
    // A failure reported outside a write begins the next outage.
    driver.failed(SinkError::Retryable("read-only".into()), None);
    assert_eq!(status.snapshot().rewinds, 2);
    assert_eq!(
        test.context
            .metrics
            .sink_errors
            .with_label_values(&["losing", "retryable"])
            .get() as u32,
        2 + *sink.probes.lock() - 1 + 2,
        "each failed write, failed probe and report counted"
    );
}
