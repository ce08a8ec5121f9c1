//! Shutdown of one consumer: flush, wait for completions until the drain
//! deadline, store what is durable, then leave the group cleanly.

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;

use super::Running;
use crate::runtime::context::{lock, store_for_commit};
use crate::runtime::pipeline::Pipeline;
use crate::runtime::Decode;

/// How long a stopping consumer waits for its partitions to be released.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

impl<P: Pipeline> Running<P>
where
    P::Item: Decode,
{
    /// Shutdown: flush everything, wait for completions until the deadline,
    /// commit what is durable. Held (never submitted) records stay uncommitted.
    pub(super) fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let held = {
            let mut state = lock(&self.state);
            state.pipeline.flush_all();
            state.held.len()
        };
        if let Ok(assignment) = self.consumer.assignment() {
            let _ = self.consumer.pause(&assignment);
        }
        loop {
            self.bookkeeping();
            let pending = lock(&self.state).pending();
            let sink = self.sink.snapshot();
            if sink.rewind {
                // The failed write lost its work: nothing more will be durable.
                tracing::warn!(
                    consumer = self.index,
                    reason = %sink.reason,
                    "sink failing while draining; unfinished records will be read again"
                );
                break;
            }
            if pending <= held || Instant::now() >= deadline {
                if pending > held {
                    tracing::warn!(
                        consumer = self.index,
                        pending,
                        "drain deadline reached; uncommitted records will be read again"
                    );
                }
                break;
            }
            if let Ok(c) = self.completions.recv_timeout(Duration::from_millis(20)) {
                self.carried.push(c);
            }
            let _ = self.consumer.poll(Duration::ZERO);
        }
        self.store_durable();
    }

    /// Before the consumer is closed: unsubscribes and polls until every
    /// partition is released (each revoke stores its durable offsets and
    /// librdkafka commits them), at most [`LEAVE_TIMEOUT`]. Closing a
    /// cooperative consumer straight away while the group rebalances (this
    /// process's other consumers leaving at the same time) can leave
    /// librdkafka's close waiting for ever (librdkafka #4527, the
    /// unsubscribe-first workaround).
    pub(super) fn leave_group(&mut self) {
        self.consumer.unsubscribe();
        let deadline = Instant::now() + LEAVE_TIMEOUT;
        while Instant::now() < deadline {
            let assigned = self.consumer.assignment().map_or(0, |a| a.count());
            if assigned == 0 {
                return;
            }
            // Partitions are paused; a record still delivered is not taken
            // (its next owner reads it again).
            let _ = self.consumer.poll(Duration::from_millis(20));
        }
        tracing::warn!(consumer = self.index, timeout = ?LEAVE_TIMEOUT, "partitions not released in time; closing anyway");
    }

    /// Stores every partition's durable position; librdkafka commits it as
    /// the consumer closes and releases the partitions.
    pub(super) fn store_durable(&mut self) {
        self.bookkeeping();
        let commits = lock(&self.state).tracker.all_committable();
        store_for_commit(
            &self.consumer,
            &self.topic,
            &commits,
            self.index,
            "at shutdown",
        );
    }
}
