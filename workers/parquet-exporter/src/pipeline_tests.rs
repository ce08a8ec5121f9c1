//! The exporter's pipeline with in-memory input and a temp folder as the
//! output: parts sealed by rows, hour and age, a revoke mid-part, and, in
//! the runtime's own loop decisions, an unwritable output as a sink outage:
//! paused, unfinished work dropped, probed, read again after the files.

use super::*;
use std::time::Duration;

use parley_shared::runtime::testing::{envelope, offsets_of, SinkTurn, TestContext, TestLoop};

use crate::output::OutputTarget;
use crate::part_file::{writer_properties, PartSettings};
use parley_shared::action::ModerationAction;
use parley_shared::GameMessage;

const HOUR_MS: i64 = 3_600_000;

fn message(offset: i64, sent_at: i64) -> GameMessage {
    let json = format!(
        r#"{{"v":1,"message_id":"m{offset}","game_id":"g","room_id":"r","user_id":"u","kind":"chat","content":"hi","sent_at":{sent_at}}}"#
    );
    match GameMessage::decode(json.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("test message: {e}"),
    }
}

struct Setup<R: ExportRow> {
    dir: tempfile::TempDir,
    test: TestContext,
    output: Output,
    pipeline: ParquetPipeline<R>,
}

fn setup<R: ExportRow>(max_rows: usize) -> Setup<R> {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("temp dir: {e}"),
    };
    let test = TestContext::new();
    let target = OutputTarget::Local(dir.path().to_path_buf());
    let output = match Output::open(
        &target,
        dir.path(),
        R::DATASET,
        tokio::runtime::Handle::current(),
    ) {
        Ok(output) => output,
        Err(e) => panic!("output: {e}"),
    };
    let _ = std::fs::create_dir_all(output.layout().tmp_dir());
    let properties = match writer_properties::<R>(PartSettings {
        row_group_rows: 1000,
        zstd_level: 1,
    }) {
        Ok(p) => p,
        Err(e) => panic!("properties: {e}"),
    };
    let limits = BatchLimits {
        max_rows,
        max_bytes: 1 << 30,
        max_age: Duration::from_millis(200),
    };
    let pipeline = ParquetPipeline::new(output.clone(), properties, limits, test.context.clone());
    Setup {
        dir,
        test,
        output,
        pipeline,
    }
}

fn submit(s: &mut Setup<GameMessage>, partition: i32, offset: i64, sent_at: i64) {
    let taken = s
        .pipeline
        .submit(envelope(partition, offset, 100, message(offset, sent_at)));
    assert_eq!(taken.ok(), Some(Progress::Pending), "offset {offset}");
}

fn published(output: &Output) -> std::collections::HashMap<i32, i64> {
    match output.scan() {
        Ok(highest) => highest,
        Err(e) => panic!("scan: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_is_published_at_the_row_limit_and_acked() {
    let mut s = setup(3);
    for offset in 0..4 {
        submit(&mut s, 0, offset, 10 * HOUR_MS);
    }
    let done = s.test.wait_for(3, Duration::from_secs(10));
    assert_eq!(offsets_of(&done, 0), vec![0, 1, 2]);
    assert_eq!(published(&s.output).get(&0), Some(&2), "part-0-0-2");
    assert!(!s.test.context.sink.is_failing());
    assert!(s.pipeline.failure().is_none());
    let _ = &s.dir;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_a_dataset_of_their_own_placed_by_created_at() {
    let mut s = setup::<ModerationAction>(2);
    for offset in 0..2 {
        let json = format!(
            r#"{{"v":1,"action_id":"a{offset}","action":"delete_message","room_id":"r","message_id":"m{offset}","actor":"mod-1","created_at":{}}}"#,
            7 * HOUR_MS + offset
        );
        let action = match <ModerationAction as parley_shared::runtime::Decode>::decode(
            Some(b"r"),
            Some(json.as_bytes()),
        ) {
            Ok(a) => a,
            Err(e) => panic!("test action: {}", e.reason),
        };
        let taken = s.pipeline.submit(envelope(3, offset, 100, action));
        assert_eq!(taken.ok(), Some(Progress::Pending), "offset {offset}");
    }
    let done = s.test.wait_for(2, Duration::from_secs(10));
    assert_eq!(offsets_of(&done, 3), vec![0, 1]);
    let part = s
        .dir
        .path()
        .join("moderation-actions/dt=1970-01-01/hour=07/part-3-0-1.parquet");
    assert!(part.is_file(), "{} missing", part.display());
    assert!(!s
        .dir
        .path()
        .join("game-messages")
        .join("dt=1970-01-01")
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_hour_rotates_the_part_and_age_seals_on_tick() {
    let mut s = setup(1000);
    submit(&mut s, 1, 10, 5 * HOUR_MS);
    submit(&mut s, 1, 11, 5 * HOUR_MS + 10);
    submit(&mut s, 1, 12, 6 * HOUR_MS);
    let done = s.test.wait_for(2, Duration::from_secs(10));
    assert_eq!(offsets_of(&done, 1), vec![10, 11], "the hour-5 part");
    s.pipeline.tick(Instant::now());
    assert!(
        s.test.wait_for(1, Duration::from_millis(100)).is_empty(),
        "the young hour-6 part stays open"
    );
    s.pipeline.tick(Instant::now() + Duration::from_millis(250));
    let done = s.test.wait_for(1, Duration::from_secs(10));
    assert_eq!(offsets_of(&done, 1), vec![12]);
    assert_eq!(published(&s.output).get(&1), Some(&12));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_mid_part_abandons_only_that_partition() {
    let mut s = setup(1000);
    submit(&mut s, 0, 0, HOUR_MS);
    submit(&mut s, 1, 0, HOUR_MS);
    submit(&mut s, 0, 1, HOUR_MS);
    submit(&mut s, 1, 1, HOUR_MS);
    s.pipeline.revoked(&[1]);
    s.pipeline.flush_all();
    let done = s.test.wait_for(2, Duration::from_secs(10));
    assert_eq!(offsets_of(&done, 0), vec![0, 1]);
    assert!(offsets_of(&done, 1).is_empty());
    let highest = published(&s.output);
    assert_eq!(highest.get(&0), Some(&1));
    assert_eq!(highest.get(&1), None, "the next owner rewrites it");
    let tmp = std::fs::read_dir(s.output.layout().tmp_dir())
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(tmp, 0, "no temporary file left");
}

/// Turns of the loop (completions applied, the sink followed) until
/// `until` holds of the sink turn and the commits so far, or 10 s.
fn turns_until(
    lp: &mut TestLoop<ParquetPipeline<GameMessage>>,
    test: &TestContext,
    mut until: impl FnMut(&SinkTurn, &[(i32, i64)]) -> bool,
) -> (SinkTurn, Vec<(i32, i64)>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut commits = Vec::new();
    loop {
        commits.extend(lp.turn(test.completions(), Instant::now()));
        let turn = lp.follow_sink();
        if until(&turn, &commits) || Instant::now() > deadline {
            return (turn, commits);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_output_is_a_sink_outage_until_it_recovers() {
    let s = setup(2);
    let sink = s.test.context.sink.clone();
    let mut lp = TestLoop::new(s.pipeline, &[0]).with_sink(sink.clone());
    lp.read(0, 0, 100, message(0, HOUR_MS));
    lp.read(0, 1, 100, message(1, HOUR_MS));
    let (_, commits) = turns_until(&mut lp, &s.test, |_, c| c.last() == Some(&(0, 2)));
    assert_eq!(commits.last(), Some(&(0, 2)), "part-0-0-1 acknowledged");
    assert_eq!(published(&s.output).get(&0), Some(&1));
    // The temp folder becomes a file: no part can be created.
    let tmp = s.output.layout().tmp_dir();
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::write(&tmp, b"not a folder");
    lp.read(0, 2, 100, message(2, HOUR_MS));
    lp.read(0, 3, 100, message(3, HOUR_MS));
    let (turn, _) = turns_until(&mut lp, &s.test, |t, _| t.paused);
    assert!(turn.paused, "the outage is on");
    assert_eq!(turn.commits, vec![(0, 2)], "what is durable is committed");
    let reason = sink.reason().unwrap_or_default();
    assert!(reason.starts_with("output "), "{reason}");
    assert!(
        lp.pipeline()
            .submit(envelope(0, 4, 100, message(4, HOUR_MS)))
            .is_err(),
        "records are handed back while the sink fails"
    );
    lp.read(0, 4, 100, message(4, HOUR_MS));
    std::thread::sleep(Duration::from_millis(1300));
    assert!(
        lp.follow_sink().paused,
        "the first probe found it unwritable"
    );
    let _ = std::fs::remove_file(&tmp);
    let (turn, _) = turns_until(&mut lp, &s.test, |t, _| !t.paused);
    let seeks = turn.seeks.unwrap_or_default();
    assert_eq!(
        seeks.get(&0),
        Some(&2),
        "read again after the published part"
    );
    // Read again, 2 and 3 make a part; nothing was lost or repeated.
    lp.read(0, 2, 100, message(2, HOUR_MS));
    lp.read(0, 3, 100, message(3, HOUR_MS));
    let (_, commits) = turns_until(&mut lp, &s.test, |_, c| c.last() == Some(&(0, 4)));
    assert_eq!(commits.last(), Some(&(0, 4)), "{commits:?}");
    assert_eq!(published(&s.output).get(&0), Some(&3), "part-0-2-3");
    assert!(!sink.is_failing());
}
