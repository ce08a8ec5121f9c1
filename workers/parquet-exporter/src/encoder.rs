//! The encoder thread of one consumer: Arrow → Parquet encoding, zstd,
//! fsync, publish and ack, off the consumer thread, so reading and decoding
//! the next records overlaps with encoding and syncing the previous ones.
//!
//! Jobs run in order on one thread, so a partition's parts are published in
//! offset order. The queue is bounded: when the encoder falls behind, the
//! consumer thread waits (backpressure) rather than buffering without end.
//!
//! The first failed job (disk full, output unwritable, store unreachable)
//! makes the encoder skip every later job until a reset, which deletes the
//! temp files of every open part: nothing after the failure is published or
//! acknowledged, and the runtime rewinds to what was.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use parking_lot::Mutex;
use std::thread::JoinHandle;
use std::time::Instant;

use arrow_array::RecordBatch;
use parley_shared::metrics::now_ms;
use parley_shared::runtime::{Completion, PipelineContext};
use parquet::file::properties::WriterProperties;

use crate::output::Output;
use crate::part_file::{PartError, PartMeta, PartWriter};

/// Sink label of the exporter's metrics.
pub const SINK: &str = "parquet";

/// Jobs queued before the consumer thread waits (each at most one batch).
const QUEUE: usize = 8;

/// One step for the encoder.
enum Job {
    /// Create the temp file of a new part.
    Open {
        partition: i32,
        first: i64,
        encoded: Arc<AtomicUsize>,
    },
    /// Encode a batch into the partition's open part.
    Write { partition: i32, batch: RecordBatch },
    /// Finish, fsync, publish and ack the partition's part.
    Seal {
        meta: PartMeta,
        sent_at: Vec<i64>,
        epoch: u64,
    },
    /// Delete the partition's part (revoked).
    Abandon { partition: i32 },
    /// Delete every open part and clear the failure, then reply.
    Reset(mpsc::Sender<()>),
    /// Reply once every earlier job is done.
    Barrier(mpsc::Sender<()>),
}

/// The first failure since the last reset, readable without a lock on the
/// hot path.
#[derive(Default)]
struct Failure {
    failed: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Failure {
    fn set(&self, reason: String) {
        let mut slot = self.reason.lock();
        slot.get_or_insert(reason);
        self.failed.store(true, Ordering::Release);
    }

    fn clear(&self) {
        let mut slot = self.reason.lock();
        *slot = None;
        self.failed.store(false, Ordering::Release);
    }

    fn get(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.reason.lock().clone()
    }
}

/// Handle of the encoder thread, owned by the consumer's pipeline.
pub struct Encoder {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    failure: Arc<Failure>,
    /// The thread is gone (it panicked): nothing can be written any more.
    stopped: AtomicBool,
}

impl Encoder {
    /// Starts the thread.
    pub fn start(
        output: Output,
        properties: WriterProperties,
        context: PipelineContext,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let failure = Arc::new(Failure::default());
        let worker = Worker {
            output,
            properties,
            context,
            open: HashMap::new(),
            failure: Arc::clone(&failure),
        };
        let thread = std::thread::Builder::new()
            .name("parquet-encoder".into())
            .spawn(move || worker.run(queue))?;
        Ok(Encoder {
            jobs: Some(jobs),
            thread: Some(thread),
            failure,
            stopped: AtomicBool::new(false),
        })
    }

    /// Why encoding or publishing failed since the last reset, if it did.
    pub fn fault(&self) -> Option<String> {
        self.failure.get()
    }

    /// True when the thread is gone (a bug, not an output problem).
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    fn send(&self, job: Job) {
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            self.stopped.store(true, Ordering::Relaxed);
        }
    }

    /// Starts a part of `partition` at `first`; the encoder reports its
    /// encoded size in `encoded`.
    pub fn open(&self, partition: i32, first: i64, encoded: Arc<AtomicUsize>) {
        self.send(Job::Open {
            partition,
            first,
            encoded,
        });
    }

    /// Queues a batch of the partition's open part.
    pub fn write(&self, partition: i32, batch: RecordBatch) {
        self.send(Job::Write { partition, batch });
    }

    /// Queues the seal, publish and ack of the partition's part.
    pub fn seal(&self, meta: PartMeta, sent_at: Vec<i64>, epoch: u64) {
        self.send(Job::Seal {
            meta,
            sent_at,
            epoch,
        });
    }

    /// Queues the deletion of the partition's part.
    pub fn abandon(&self, partition: i32) {
        self.send(Job::Abandon { partition });
    }

    /// Waits until every job queued so far is done (parts published before
    /// a partition moves to another consumer, or before shutdown).
    pub fn wait(&self) {
        let (done, finished) = mpsc::channel();
        self.send(Job::Barrier(done));
        let _ = finished.recv();
    }

    /// Waits for every job queued so far, deletes every open part and
    /// clears the failure: the encoder starts afresh.
    pub fn reset(&self) {
        let (done, finished) = mpsc::channel();
        self.send(Job::Reset(done));
        let _ = finished.recv();
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's state.
struct Worker {
    output: Output,
    properties: WriterProperties,
    context: PipelineContext,
    open: HashMap<i32, (PartWriter, Arc<AtomicUsize>)>,
    failure: Arc<Failure>,
}

impl Worker {
    fn run(mut self, queue: Receiver<Job>) {
        for job in queue {
            match job {
                Job::Barrier(done) => {
                    let _ = done.send(());
                    continue;
                }
                Job::Reset(done) => {
                    for (_, (writer, _)) in self.open.drain() {
                        writer.abandon();
                    }
                    self.failure.clear();
                    let _ = done.send(());
                    continue;
                }
                _ => {}
            }
            if self.failure.failed.load(Ordering::Acquire) {
                continue; // dropped until the reset; nothing more is acked
            }
            if let Err(error) = self.handle(job) {
                self.context
                    .metrics
                    .sink_errors
                    .with_label_values(&[SINK, "retryable"])
                    .inc();
                // The runtime logs the outage once; this is per failed job.
                tracing::debug!(%error, "cannot write Parquet");
                self.failure
                    .set(format!("output {}: {error}", self.output.name()));
            }
        }
        for (_, (writer, _)) in self.open.drain() {
            writer.abandon();
        }
    }

    fn handle(&mut self, job: Job) -> Result<(), PartError> {
        match job {
            Job::Open {
                partition,
                first,
                encoded,
            } => {
                let writer =
                    PartWriter::create(self.output.layout(), &self.properties, partition, first)?;
                if let Some((old, _)) = self.open.insert(partition, (writer, encoded)) {
                    old.abandon();
                }
            }
            Job::Write { partition, batch } => {
                if let Some((writer, encoded)) = self.open.get_mut(&partition) {
                    writer.write(&batch)?;
                    encoded.store(writer.bytes(), Ordering::Relaxed);
                }
            }
            Job::Seal {
                meta,
                sent_at,
                epoch,
            } => self.seal(meta, &sent_at, epoch)?,
            Job::Abandon { partition } => {
                if let Some((writer, _)) = self.open.remove(&partition) {
                    writer.abandon();
                }
            }
            Job::Barrier(_) | Job::Reset(_) => {}
        }
        Ok(())
    }

    fn seal(&mut self, meta: PartMeta, sent_at: &[i64], epoch: u64) -> Result<(), PartError> {
        let Some((writer, _)) = self.open.remove(&meta.partition) else {
            return Ok(());
        };
        let started = Instant::now();
        let (partition, rows) = (meta.partition, meta.offsets.len());
        let bytes = writer.bytes();
        let part = writer.seal(meta)?;
        let path = self.output.publish(&part).inspect_err(|_| {
            // Nothing half-written stays (an S3 upload is aborted).
            let _ = std::fs::remove_file(&part.tmp_path);
        })?;
        let metrics = &self.context.metrics;
        metrics
            .flush_duration
            .with_label_values(&[SINK, "ok"])
            .observe(started.elapsed().as_secs_f64());
        metrics.batch_rows.observe(rows as f64);
        metrics.batch_bytes.observe(bytes as f64);
        let now = now_ms();
        for &s in sent_at {
            metrics.observe_latency(s, now);
        }
        tracing::debug!(%path, rows, "part published");
        self.context.acks.done(Completion {
            tag: 0,
            partition,
            epoch,
            offsets: part.offsets,
        });
        Ok(())
    }
}
