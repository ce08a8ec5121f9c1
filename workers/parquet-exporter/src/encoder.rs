//! The encoder thread of one consumer: Arrow → Parquet encoding, zstd,
//! fsync and publish, off the consumer thread, so reading and decoding the
//! next records overlaps with encoding and syncing the previous ones.
//!
//! Jobs run in order on one thread, so a partition's parts are published in
//! offset order. The queue is bounded: when the encoder falls behind, the
//! consumer thread waits (backpressure) rather than buffering without end.
//! Each closed part's verdict (published, or why not) goes back to the sink
//! driver, which acknowledges its records.
//!
//! A failed job (disk full, output unwritable, store unreachable) is
//! reported once to the consumer thread ([`Encoder::take_failure`]), which
//! reports it to the sink driver. From then on every part of the epochs
//! seen so far is lost: its jobs are skipped, its temp file deleted, its
//! verdict a failure. Nothing after the failure is published, so no
//! partition's files can skip a range; the runtime drops that work and
//! reads it again under new epochs, which the encoder takes as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use parking_lot::Mutex;
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::file::properties::WriterProperties;
use tokio::sync::oneshot;

use crate::output::Output;
use crate::part_file::{PartError, PartMeta, PartWriter};
use crate::sink::Published;

/// Sink label of the exporter's metrics.
pub const SINK: &str = "parquet";

/// Jobs queued before the consumer thread waits (each at most one batch).
pub const QUEUE: usize = 8;

/// One step for the encoder.
enum Job {
    /// Create the temp file of a new part.
    Open {
        partition: i32,
        first: i64,
        epoch: u64,
        encoded: Arc<AtomicUsize>,
    },
    /// Encode a batch into the partition's open part.
    Write { partition: i32, batch: RecordBatch },
    /// Finish, fsync and publish the partition's part; say how it went.
    Seal {
        meta: PartMeta,
        epoch: u64,
        verdict: oneshot::Sender<Published>,
    },
    /// Delete the partition's part (revoked, or dropped after a failure).
    Abandon { partition: i32 },
    /// Reply once every earlier job is done.
    Barrier(mpsc::Sender<()>),
}

/// A failure not yet taken by the consumer thread, readable without a lock
/// on the hot path: the reason and the epoch of the part that failed.
#[derive(Default)]
struct Failure {
    set: AtomicBool,
    slot: Mutex<Option<(String, u64)>>,
}

impl Failure {
    fn set(&self, reason: String, epoch: u64) {
        self.slot.lock().get_or_insert((reason, epoch));
        self.set.store(true, Ordering::Release);
    }

    fn take(&self) -> Option<(String, u64)> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        let mut slot = self.slot.lock();
        self.set.store(false, Ordering::Release);
        slot.take()
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
    /// Starts the thread, writing parts of rows with `schema`.
    pub fn start(
        output: Output,
        schema: SchemaRef,
        properties: WriterProperties,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let failure = Arc::new(Failure::default());
        let worker = Worker {
            output,
            schema,
            properties,
            open: HashMap::new(),
            failure: Arc::clone(&failure),
            newest_epoch: 0,
            lost: None,
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

    /// A failure since the last call, with the epoch of the part it hit:
    /// each is reported once.
    pub fn take_failure(&self) -> Option<(String, u64)> {
        self.failure.take()
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

    /// Starts a part of `partition` at `first`, read under `epoch`; the
    /// encoder reports its encoded size in `encoded`.
    pub fn open(&self, partition: i32, first: i64, epoch: u64, encoded: Arc<AtomicUsize>) {
        self.send(Job::Open {
            partition,
            first,
            epoch,
            encoded,
        });
    }

    /// Queues a batch of the partition's open part.
    pub fn write(&self, partition: i32, batch: RecordBatch) {
        self.send(Job::Write { partition, batch });
    }

    /// Queues the seal and publish of the partition's part; its verdict
    /// comes on the returned receiver.
    pub fn seal(&self, meta: PartMeta, epoch: u64) -> oneshot::Receiver<Published> {
        let (verdict, published) = oneshot::channel();
        self.send(Job::Seal {
            meta,
            epoch,
            verdict,
        });
        published
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
}

impl Drop for Encoder {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The open part of a partition on the encoder side.
struct OpenWriter {
    writer: PartWriter,
    epoch: u64,
    encoded: Arc<AtomicUsize>,
}

/// The thread's state.
struct Worker {
    output: Output,
    schema: SchemaRef,
    properties: WriterProperties,
    open: HashMap<i32, OpenWriter>,
    failure: Arc<Failure>,
    /// The newest epoch of any part opened.
    newest_epoch: u64,
    /// After a failure: parts of this epoch and older are lost, and why.
    lost: Option<(u64, String)>,
}

impl Worker {
    fn run(mut self, queue: Receiver<Job>) {
        for job in queue {
            match job {
                Job::Open {
                    partition,
                    first,
                    epoch,
                    encoded,
                } => self.open(partition, first, epoch, encoded),
                Job::Write { partition, batch } => self.write(partition, &batch),
                Job::Seal {
                    meta,
                    epoch,
                    verdict,
                } => {
                    let _ = verdict.send(self.seal(meta, epoch));
                }
                Job::Abandon { partition } => {
                    if let Some(open) = self.open.remove(&partition) {
                        open.writer.abandon();
                    }
                }
                Job::Barrier(done) => {
                    let _ = done.send(());
                }
            }
        }
        for (_, open) in self.open.drain() {
            open.writer.abandon();
        }
    }

    /// Why parts of `epoch` are lost, if they are.
    fn lost(&self, epoch: u64) -> Option<&str> {
        match &self.lost {
            Some((through, reason)) if epoch <= *through => Some(reason),
            _ => None,
        }
    }

    /// A job of the part of `partition` (read under `epoch`) failed: the
    /// part is deleted, every part of the epochs seen so far is lost.
    fn fail(&mut self, partition: i32, epoch: u64, error: &PartError) -> String {
        if let Some(open) = self.open.remove(&partition) {
            open.writer.abandon();
        }
        let reason = format!("output {}: {error}", self.output.name());
        // The runtime logs the outage once; this is per failed job.
        tracing::debug!(partition, %error, "cannot write Parquet");
        self.lost = Some((self.newest_epoch.max(epoch), reason.clone()));
        self.failure.set(reason.clone(), epoch);
        reason
    }

    fn open(&mut self, partition: i32, first: i64, epoch: u64, encoded: Arc<AtomicUsize>) {
        self.newest_epoch = self.newest_epoch.max(epoch);
        if let Some(old) = self.open.remove(&partition) {
            old.writer.abandon();
        }
        if self.lost(epoch).is_some() {
            return;
        }
        match PartWriter::create(
            self.output.layout(),
            Arc::clone(&self.schema),
            &self.properties,
            partition,
            first,
        ) {
            Ok(writer) => {
                self.open.insert(
                    partition,
                    OpenWriter {
                        writer,
                        epoch,
                        encoded,
                    },
                );
            }
            Err(error) => {
                self.fail(partition, epoch, &error);
            }
        }
    }

    fn write(&mut self, partition: i32, batch: &RecordBatch) {
        let Some(open) = self.open.get_mut(&partition) else {
            return; // lost, or revoked
        };
        let epoch = open.epoch;
        if self
            .lost
            .as_ref()
            .is_some_and(|(through, _)| epoch <= *through)
        {
            if let Some(open) = self.open.remove(&partition) {
                open.writer.abandon();
            }
            return;
        }
        match open.writer.write(batch) {
            Ok(()) => open.encoded.store(open.writer.bytes(), Ordering::Relaxed),
            Err(error) => {
                self.fail(partition, epoch, &error);
            }
        }
    }

    fn seal(&mut self, meta: PartMeta, epoch: u64) -> Published {
        let partition = meta.partition;
        let open = self.open.remove(&partition);
        if let Some(reason) = self.lost(epoch) {
            let reason = reason.to_owned();
            if let Some(open) = open {
                open.writer.abandon();
            }
            return Err(reason);
        }
        let Some(open) = open else {
            // Not lost, yet no file: never acknowledge rows not written.
            let error = PartError::Missing { partition };
            return Err(self.fail(partition, epoch, &error));
        };
        open.encoded.store(open.writer.bytes(), Ordering::Relaxed);
        let published = open.writer.seal(meta).and_then(|part| {
            self.output.publish(&part).inspect_err(|_| {
                // Nothing half-written stays (an S3 upload is aborted).
                let _ = std::fs::remove_file(&part.tmp_path);
            })
        });
        match published {
            Ok(path) => {
                tracing::debug!(%path, "part published");
                Ok(())
            }
            Err(error) => Err(self.fail(partition, epoch, &error)),
        }
    }
}
