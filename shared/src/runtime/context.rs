//! The librdkafka context of each consumer: rebalances and statistics.
//! What a rebalance does to the loop's state is decided in [`super::state`]
//! (`assign`, `release`); this file makes the librdkafka calls around it.
//!
//! Rebalance callbacks run inside `poll()` on the consumer's own thread, so
//! the loop never holds the state lock while polling. On revoke: the
//! pipeline drops buffered work for those partitions, the durable offsets are
//! stored, then the partitions are released (librdkafka commits the stored
//! offsets of released partitions). On assign: each
//! partition starts a new epoch, and the pipeline may pick start offsets.

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::pipeline::Pipeline;
use super::state::LoopState;
use crate::metrics::RuntimeMetrics;

/// Locks the state, recovering it if a thread panicked while holding it.
pub(crate) fn lock<P: Pipeline>(state: &Mutex<LoopState<P>>) -> MutexGuard<'_, LoopState<P>> {
    state.lock()
}

/// The context each consumer is created with.
pub(crate) struct ParleyContext<P: Pipeline> {
    pub state: Arc<Mutex<LoopState<P>>>,
    pub metrics: RuntimeMetrics,
    pub topic: String,
    pub index: usize,
}

impl<P: Pipeline> ClientContext for ParleyContext<P> {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let from_read_position = lock(&self.state).pipeline.holds_back();
        for (id, partition) in &topic.partitions {
            let lag = if from_read_position && partition.app_offset >= 0 && partition.hi_offset >= 0
            {
                (partition.hi_offset - partition.app_offset).max(0)
            } else {
                partition.consumer_lag
            };
            if *id >= 0 && lag >= 0 {
                self.metrics
                    .lag
                    .with_label_values(&[self.topic.as_str(), &id.to_string()])
                    .set(lag);
            }
        }
    }
}

impl<P: Pipeline> ConsumerContext for ParleyContext<P> {
    /// Every commit, background or synchronous, is counted here once.
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) => self.metrics.commits.with_label_values(&["ok"]).inc(),
            // The background commit found nothing new to commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.metrics.commits.with_label_values(&["error"]).inc();
                tracing::warn!(consumer = self.index, error = %e, "offset commit failed; uncommitted records will be read again");
            }
        }
    }

    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let partitions: Vec<i32> = tpl
            .elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let starts = lock(&self.state).assign(&partitions);
                for (partition, offset) in starts {
                    if let Err(e) =
                        tpl.set_partition_offset(&self.topic, partition, Offset::Offset(offset))
                    {
                        tracing::error!(partition, offset, error = %e, "cannot set start offset");
                    }
                }
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "assign failed");
                }
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                self.metrics.partitions.add(partitions.len() as i64);
                tracing::info!(consumer = self.index, ?partitions, "partitions assigned");
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.release(consumer, &partitions);
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "unassign failed");
                }
                self.metrics.rebalances.with_label_values(&["revoke"]).inc();
                tracing::info!(consumer = self.index, ?partitions, "partitions revoked");
            }
            other => {
                tracing::error!(error = ?other, "rebalance error; releasing every partition");
                let all = lock(&self.state).tracker.partitions();
                self.release(consumer, &all);
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "unassign failed");
                }
                self.metrics.rebalances.with_label_values(&["error"]).inc();
            }
        }
    }
}

impl<P: Pipeline> ParleyContext<P> {
    /// Drops buffered work for `partitions` and commits what is durable.
    fn release(&self, consumer: &BaseConsumer<Self>, partitions: &[i32]) {
        let commits = lock(&self.state).release(partitions);
        for p in partitions {
            let _ = self
                .metrics
                .lag
                .remove_label_values(&[self.topic.as_str(), &p.to_string()]);
        }
        self.metrics.partitions.sub(partitions.len() as i64);
        store_for_commit(consumer, &self.topic, &commits, self.index, "on revoke");
    }
}

/// The offsets to commit or store, as librdkafka wants them.
pub(crate) fn offsets_list(topic: &str, offsets: &[(i32, i64)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for &(partition, offset) in offsets {
        let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(offset));
    }
    tpl
}

/// Stores `offsets` for librdkafka to commit: with the partitions when
/// they are released (revoke, close) and by the background commit within a
/// second otherwise. Never a synchronous commit: one made while the group
/// rebalances (another consumer of this process closing at shutdown) waits
/// for a rejoin that only `poll` serves, and the consumer hangs. A commit
/// that fails is not fatal: the next owner re-reads from the last one.
pub(crate) fn store_for_commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    offsets: &[(i32, i64)],
    index: usize,
    when: &str,
) {
    if offsets.is_empty() {
        return;
    }
    match consumer.store_offsets(&offsets_list(topic, offsets)) {
        Ok(()) => tracing::info!(consumer = index, ?offsets, "committing {when}"),
        Err(e) => {
            tracing::warn!(consumer = index, error = %e, "cannot store offsets {when}; uncommitted records will be read again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_a_partition_list_of_the_topic() {
        let tpl = offsets_list("t", &[(0, 5), (3, 42)]);
        let got: Vec<(String, i32, Offset)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition(), e.offset()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("t".to_owned(), 0, Offset::Offset(5)),
                ("t".to_owned(), 3, Offset::Offset(42)),
            ]
        );
        assert_eq!(offsets_list("t", &[]).count(), 0);
    }
}
