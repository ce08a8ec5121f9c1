//! A sink outage applied to the consumer, as its sink driver reports it on
//! the [`SinkStatus`](crate::runtime::SinkStatus): while the sink fails,
//! every partition is paused and `/healthz` says why; when a write succeeds
//! again, reading resumes. A failure that lost unfinished work (a
//! rewinding sink) also drops every record not yet durable, commits what
//! is, and remembers where each partition must be read again; at recovery
//! the pipeline is told of its partitions again (as on assign) and the
//! consumer seeks back before resuming. One log line when the sink fails,
//! one when it recovers, not one per try.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;

use super::Running;
use crate::runtime::context::{lock, offsets_list, store_for_commit};
use crate::runtime::pipeline::Pipeline;
use crate::runtime::Decode;

/// How long a seek back to the durable position may take after an outage.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);

impl<P: Pipeline> Running<P>
where
    P::Item: Decode,
{
    /// Follows the sink's status when it changed (one atomic load when not).
    pub(super) fn follow_sink(&mut self) {
        if !self.flow.sink_changed(self.sink.version()) {
            return;
        }
        let now = Instant::now();
        let status = self.sink.snapshot();
        let steps = self.flow.follow_sink(now, &status);
        if steps.begin {
            self.set_paused(true);
        }
        if steps.rewind {
            self.rewind(status.rewinds);
        }
        if steps.begin {
            if let Some(h) = self.health.get() {
                h.set_sink_fault(Some(&status.reason));
            }
            let dropped = if status.rewind || steps.rewind {
                "unfinished work dropped; reading again from the durable position once it works"
            } else {
                "unfinished work kept and retried"
            };
            tracing::error!(consumer = self.index, reason = %status.reason, "sink failing: partitions paused, {dropped}");
        }
        if steps.reason_changed {
            if let Some(h) = self.health.get() {
                h.set_sink_fault(Some(&status.reason));
            }
            tracing::warn!(consumer = self.index, reason = %status.reason, "sink still failing");
        }
        if steps.recover {
            self.end_outage();
        }
    }

    /// A recovery whose seek back was refused, tried again when due.
    pub(super) fn retry_recovery(&mut self) {
        if !self.sink.is_failing() {
            self.end_outage();
        }
    }

    /// The sink lost unfinished work: drop what is not durable, remember
    /// where to read again, commit what is durable, tell the driver.
    fn rewind(&mut self, rewinds: u64) {
        let (processed, commits, floor) = {
            let mut state = lock(&self.state);
            let completions = self.carried.drain(..).chain(self.completions.try_iter());
            state.rewind_for_sink(completions)
        };
        self.sink.rewound(rewinds, floor);
        self.metrics.processed.inc_by(processed as u64);
        if let Some(h) = self.health.get() {
            h.update(0, false);
        }
        store_for_commit(
            &self.consumer,
            &self.topic,
            &commits,
            self.index,
            "as the sink failed",
        );
    }

    /// The sink works again: after a rewind, the pipeline is told of its
    /// partitions again and each is sought back to where reading must start;
    /// then every partition resumes.
    fn end_outage(&mut self) {
        let rewind = self.flow.outage().is_some_and(|o| o.rewind);
        if rewind {
            let partitions: Vec<i32> = self
                .consumer
                .assignment()
                .map(|tpl| {
                    tpl.elements_for_topic(&self.topic)
                        .iter()
                        .map(|e| e.partition())
                        .collect()
                })
                .unwrap_or_default();
            let seeks = lock(&self.state).reassign_after_sink(&partitions);
            if self.sink.is_failing() {
                return; // the pipeline found it failing again: a new change follows
            }
            if let Err(e) = self.seek(&seeks) {
                let reason = format!("cannot seek back to the durable position: {e}");
                let Some((retry_in, changed)) =
                    self.flow.recovery_failed(Instant::now(), reason.clone())
                else {
                    return;
                };
                if changed {
                    tracing::warn!(consumer = self.index, %reason, ?retry_in, "sink still failing");
                    if let Some(h) = self.health.get() {
                        h.set_sink_fault(Some(&reason));
                    }
                }
                return;
            }
            lock(&self.state).rewind.clear();
        }
        // Records still refused (a full buffer) keep the partitions paused
        // until the pipeline takes them: the backpressure decides then.
        if lock(&self.state).held.is_empty() {
            self.set_paused(false);
        }
        let down_for = self.flow.recovered();
        if let Some(h) = self.health.get() {
            h.set_sink_fault(None);
        }
        let from = if rewind {
            "from the durable position"
        } else {
            "where they stopped"
        };
        tracing::info!(
            consumer = self.index,
            ?down_for,
            "sink recovered: partitions resumed {from}"
        );
    }

    /// Seeks partitions (paused or not) to the given offsets.
    fn seek(&self, offsets: &HashMap<i32, i64>) -> KafkaResult<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let list: Vec<(i32, i64)> = offsets.iter().map(|(&p, &o)| (p, o)).collect();
        let result = self
            .consumer
            .seek_partitions(offsets_list(&self.topic, &list), SEEK_TIMEOUT)?;
        result.elements().iter().try_for_each(|e| e.error())
    }
}
