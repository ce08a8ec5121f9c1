//! db-writer's pipeline with in-memory input and a sink standing in for
//! ClickHouse: sealing by rows, bytes and age, dedup tokens, revoke
//! mid-batch, refused rows to the DLQ, retries, and backpressure while the
//! sink is down.

use super::*;
use std::ops::Range;
use std::time::Duration;

use parking_lot::Mutex;
use parley_shared::runtime::sink_driver::SinkError;
use parley_shared::runtime::testing::{
    envelope, offsets_of, CollectedDeadLetters, TestContext, TestLoop,
};

/// What a [`MemorySink`] was asked to write.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    offsets: Vec<i64>,
    token: Option<String>,
}

/// Stands in for ClickHouse: keeps what it is given; refuses rows at `bad`
/// offsets; is down while `down` is set.
#[derive(Default)]
struct MemorySink {
    bad: Vec<i64>,
    down: std::sync::atomic::AtomicBool,
    written: Mutex<Vec<Written>>,
    /// The rows' bytes, in the order written.
    bytes: Mutex<Vec<u8>>,
}

impl Sink for MemorySink {
    type Batch = SealedBatch;

    fn label(&self) -> &'static str {
        "memory"
    }

    async fn write(&self, batch: &SealedBatch, rows: Range<usize>) -> Result<(), SinkError> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(SinkError::Retryable("connection refused".into()));
        }
        let whole = rows.len() == batch.rows.len();
        let part = &batch.rows[rows.clone()];
        if part.iter().any(|r| self.bad.contains(&r.offset)) {
            return Err(SinkError::Permanent("Code: 27".into()));
        }
        self.written.lock().push(Written {
            offsets: part.iter().map(|r| r.offset).collect(),
            token: if whole { batch.token.clone() } else { None },
        });
        self.bytes
            .lock()
            .extend_from_slice(&batch.slice(rows.start..rows.end));
        Ok(())
    }
}

fn message(offset: i64) -> GameMessage {
    let json = format!(
        r#"{{"v":1,"message_id":"m{offset}","game_id":"g","room_id":"r","user_id":"u","kind":"chat","content":"hello","sent_at":1}}"#
    );
    match GameMessage::decode(json.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("test message: {e}"),
    }
}

fn limits(rows: usize, bytes: usize, per_partition: bool) -> PipelineLimits {
    PipelineLimits {
        batch: BatchLimits {
            max_rows: rows,
            max_bytes: bytes,
            max_age: Duration::from_millis(200),
        },
        max_in_flight: 2,
        max_buffered_rows: 1000,
        per_partition,
    }
}

struct Setup {
    test: TestContext,
    sink: Arc<MemorySink>,
    letters: Arc<CollectedDeadLetters>,
    pipeline: ClickHousePipeline<MemorySink>,
}

fn setup(limits: PipelineLimits, sink: MemorySink) -> Setup {
    let test = TestContext::new();
    let sink = Arc::new(sink);
    let letters = CollectedDeadLetters::new();
    let dead: Arc<dyn DeadLetters> = letters.clone();
    let pipeline =
        ClickHousePipeline::with_sink(Arc::clone(&sink), test.context.clone(), limits, Some(dead));
    Setup {
        test,
        sink,
        letters,
        pipeline,
    }
}

fn submit(p: &mut ClickHousePipeline<MemorySink>, partition: i32, offsets: Range<i64>) {
    for offset in offsets {
        let accepted = p.submit(envelope(partition, offset, 100, message(offset)));
        assert_eq!(accepted.ok(), Some(Progress::Pending), "offset {offset}");
    }
}

fn wait(s: &Setup, rows: usize) -> Vec<parley_shared::runtime::Completion> {
    s.test.wait_for(rows, Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_seal_at_the_row_limit() {
    let mut s = setup(limits(4, 1 << 20, false), MemorySink::default());
    submit(&mut s.pipeline, 0, 0..3);
    submit(&mut s.pipeline, 1, 10..12);
    let done = wait(&s, 4);
    assert_eq!(offsets_of(&done, 0), vec![0, 1, 2]);
    assert_eq!(offsets_of(&done, 1), vec![10]);
    assert_eq!(
        s.sink.written.lock().clone(),
        vec![Written {
            offsets: vec![0, 1, 2, 10],
            token: None
        }],
        "one batch across partitions, without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_seal_at_the_byte_limit() {
    // A row here is 51 bytes: the third crosses 120.
    let mut s = setup(limits(1000, 120, false), MemorySink::default());
    submit(&mut s.pipeline, 0, 0..3);
    let done = wait(&s, 3);
    assert_eq!(offsets_of(&done, 0), vec![0, 1, 2]);
    assert_eq!(s.sink.written.lock().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_seal_by_age_on_tick() {
    let mut s = setup(limits(1000, 1 << 20, true), MemorySink::default());
    submit(&mut s.pipeline, 2, 5..7);
    s.pipeline.tick(Instant::now());
    assert!(wait_briefly(&s).is_empty(), "young batch stays open");
    s.pipeline.tick(Instant::now() + Duration::from_millis(250));
    let done = wait(&s, 2);
    assert_eq!(offsets_of(&done, 2), vec![5, 6]);
}

fn wait_briefly(s: &Setup) -> Vec<parley_shared::runtime::Completion> {
    s.test.wait_for(1, Duration::from_millis(100))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_partition_batches_close_at_offset_multiples_with_a_token() {
    let mut s = setup(limits(4, 1 << 20, true), MemorySink::default());
    // 2, 3 close at 3 (offset + 1 a multiple of 4); 4..7 is a full batch.
    submit(&mut s.pipeline, 0, 2..8);
    wait(&s, 6);
    // Both batches may be in flight at once: compare in offset order.
    let mut written = s.sink.written.lock().clone();
    written.sort_by_key(|w| w.offsets.first().copied());
    assert_eq!(
        written,
        vec![
            Written {
                offsets: vec![2, 3],
                token: Some("test-topic:0:2-3".into())
            },
            Written {
                offsets: vec![4, 5, 6, 7],
                token: Some("test-topic:0:4-7".into())
            },
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_mid_batch_drops_only_the_revoked_rows() {
    let mut s = setup(limits(1000, 1 << 20, false), MemorySink::default());
    submit(&mut s.pipeline, 0, 0..3);
    submit(&mut s.pipeline, 1, 0..2);
    submit(&mut s.pipeline, 0, 3..4);
    s.pipeline.revoked(&[1]);
    s.pipeline.flush_all();
    let done = wait(&s, 4);
    assert_eq!(offsets_of(&done, 0), vec![0, 1, 2, 3]);
    assert!(offsets_of(&done, 1).is_empty());
    assert_eq!(s.pipeline.buffered_rows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_are_bisected_into_the_dlq_and_the_rest_inserted() {
    let sink = MemorySink {
        bad: vec![3, 9],
        ..Default::default()
    };
    let mut s = setup(limits(12, 1 << 20, false), sink);
    submit(&mut s.pipeline, 0, 0..12);
    let done = wait(&s, 12);
    assert_eq!(
        offsets_of(&done, 0),
        (0..12).collect::<Vec<_>>(),
        "all acked"
    );
    let refused: Vec<i64> = s.letters.letters().iter().map(|r| r.offset).collect();
    assert_eq!(refused, vec![3, 9]);
    let mut inserted: Vec<i64> = s
        .sink
        .written
        .lock()
        .iter()
        .flat_map(|w| w.offsets.clone())
        .collect();
    inserted.sort_unstable();
    assert_eq!(
        inserted,
        (0..12).filter(|&o| o != 3 && o != 9).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_sink_is_down_records_are_refused_then_taken_again() {
    let mut l = limits(2, 1 << 20, false);
    l.max_buffered_rows = 4;
    l.max_in_flight = 1;
    let mut s = setup(l, MemorySink::default());
    s.sink
        .down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    submit(&mut s.pipeline, 0, 0..4);
    let refused = s.pipeline.submit(envelope(0, 4, 100, message(4)));
    let Err(record) = refused else {
        panic!("a full pipeline hands the record back");
    };
    assert!(wait_briefly(&s).is_empty(), "nothing acked while down");
    let status = s.test.context.sink.clone();
    assert_eq!(
        status.reason().as_deref(),
        Some("connection refused"),
        "the outage reported, for the runtime to pause"
    );
    assert!(
        !status.rewind_pending(),
        "kept in place: nothing to read again"
    );
    s.sink
        .down
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let mut done = wait(&s, 2);
    assert!(!status.is_failing(), "working again once inserted");
    // The first insert frees its slot; a tick starts the next.
    s.pipeline.tick(Instant::now());
    done.extend(wait(&s, 2));
    assert_eq!(offsets_of(&done, 0), vec![0, 1, 2, 3], "nothing lost");
    assert_eq!(s.pipeline.submit(record).ok(), Some(Progress::Pending));
    s.pipeline.flush_all();
    assert_eq!(offsets_of(&wait(&s, 1), 0), vec![4]);
    let written = s.sink.written.lock().len();
    assert_eq!(written, 3, "each batch inserted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_runtime_loop_offsets_commit_only_after_the_insert() {
    let mut l = limits(3, 1 << 20, true);
    l.max_buffered_rows = 6;
    let s = setup(l, MemorySink::default());
    s.sink
        .down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut lp = TestLoop::new(s.pipeline, &[0, 1]);
    for offset in 0..8 {
        lp.read(0, offset, 100, message(offset));
    }
    assert_eq!(lp.held(), 2, "past the buffer limit records are held back");
    assert!(
        lp.turn(Vec::new(), Instant::now()).is_empty(),
        "nothing durable yet"
    );
    s.sink
        .down
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let mut commits = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while commits.last() != Some(&(0, 8)) && Instant::now() < deadline {
        let done = s.test.wait_for(1, Duration::from_millis(50));
        commits.extend(lp.turn(done, Instant::now() + Duration::from_secs(1)));
    }
    assert_eq!(commits.last(), Some(&(0, 8)), "{commits:?}");
    assert_eq!(lp.held(), 0);
    assert_eq!(lp.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_go_through_the_same_steps_as_messages() {
    use parley_shared::action::ModerationAction;
    let test = TestContext::new();
    let sink = Arc::new(MemorySink::default());
    let mut pipeline: ClickHousePipeline<MemorySink, ModerationAction> =
        ClickHousePipeline::with_sink(
            Arc::clone(&sink),
            test.context.clone(),
            limits(2, 1 << 20, true),
            None,
        );
    let actions: Vec<ModerationAction> = (0..2)
        .map(|n| {
            let json = format!(
                r#"{{"v":1,"action_id":"a{n}","action":"ban","room_id":"r","user_id":"u","actor":"mod","created_at":{n}}}"#
            );
            ModerationAction::decode_record(Some(json.as_bytes())).expect("valid")
        })
        .collect();
    for (offset, action) in actions.iter().enumerate() {
        let accepted = pipeline.submit(envelope(1, offset as i64, 100, action.clone()));
        assert_eq!(accepted.ok(), Some(Progress::Pending));
    }
    let done = test.wait_for(2, Duration::from_secs(5));
    assert_eq!(offsets_of(&done, 1), vec![0, 1]);
    assert_eq!(
        sink.written.lock().clone(),
        vec![Written {
            offsets: vec![0, 1],
            token: Some("test-topic:1:0-1".into())
        }]
    );
    let mut expected = Vec::new();
    for (offset, action) in actions.iter().enumerate() {
        crate::row::Row::encode(
            action,
            &mut expected,
            1,
            offset as i64,
            pipeline.ingested_at,
        );
    }
    assert_eq!(*sink.bytes.lock(), expected, "the action rows, as encoded");
}
