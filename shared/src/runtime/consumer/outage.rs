//! A sink outage ([`Pipeline::sink_fault`]) applied to the consumer: pause
//! every partition, have the pipeline drop what is not durable, forget
//! those records (new epochs) and remember where each partition must be
//! read again, commit what is durable, report unhealthy; then try
//! [`Pipeline::recover`] with backoff, and when it succeeds seek back,
//! resume and report healthy. One log line when the sink fails and one
//! when it recovers, not one per try.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;

use super::Running;
use crate::runtime::context::{lock, offsets_list, store_for_commit};
use crate::runtime::pipeline::Pipeline;
use crate::runtime::sink_driver::SinkError;
use crate::runtime::Decode;

/// How long a seek back to the durable position may take after an outage.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);

impl<P: Pipeline> Running<P>
where
    P::Item: Decode,
{
    /// The sink fails: pause, drop what is not durable, remember where to
    /// read again, commit what is durable, report unhealthy.
    pub(super) fn sink_failed(&mut self, error: SinkError) {
        let reason = error.reason().to_owned();
        let retry_in = self.flow.sink_failed(Instant::now(), reason.clone());
        self.set_paused(true);
        let (processed, commits) = {
            let mut state = lock(&self.state);
            let completions = self.carried.drain(..).chain(self.completions.try_iter());
            state.sink_failed(completions)
        };
        self.metrics.processed.inc_by(processed as u64);
        if let Some(h) = self.health.get() {
            h.set_sink_fault(Some(&reason));
            h.update(0, false);
        }
        tracing::error!(
            consumer = self.index,
            %reason,
            ?retry_in,
            "sink failing: partitions paused, unfinished work dropped; trying again with backoff"
        );
        store_for_commit(
            &self.consumer,
            &self.topic,
            &commits,
            self.index,
            "as the sink failed",
        );
    }

    /// During an outage, when due: tries the sink; if it works, seeks every
    /// partition back to where reading must start again and resumes.
    pub(super) fn retry_sink(&mut self) {
        let now = Instant::now();
        if !self.flow.retry_due(now) {
            return;
        }
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
        let recovered = lock(&self.state).pipeline.recover(&partitions);
        let seeks = recovered.and_then(|starts| {
            let seeks = lock(&self.state).seeks(starts, &partitions);
            self.seek(&seeks).map_err(|e| {
                SinkError::Retryable(format!("cannot seek back to the durable position: {e}"))
            })
        });
        match seeks {
            Ok(()) => {
                lock(&self.state).rewind.clear();
                self.set_paused(false);
                let down_for = self.flow.recovered();
                if let Some(h) = self.health.get() {
                    h.set_sink_fault(None);
                }
                tracing::info!(
                    consumer = self.index,
                    ?down_for,
                    "sink recovered: partitions resumed from the durable position"
                );
            }
            Err(error) => {
                let reason = error.reason().to_owned();
                let Some((retry_in, changed)) = self.flow.still_failing(now, reason.clone()) else {
                    return;
                };
                if changed {
                    tracing::warn!(consumer = self.index, %reason, ?retry_in, "sink still failing");
                    if let Some(h) = self.health.get() {
                        h.set_sink_fault(Some(&reason));
                    }
                } else {
                    tracing::debug!(consumer = self.index, %reason, ?retry_in, "sink still failing");
                }
            }
        }
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
