//! Records that do not decode: counted, logged at most once a second, and
//! produced to the DLQ unchanged (retried with backoff until shutdown);
//! the record is acknowledged once the DLQ has it.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::{BorrowedMessage, Message};

use crate::dlq::{DeadLetter, DeadLetterQueue};
use crate::metrics::RuntimeMetrics;
use crate::retry::{retry, Backoff, Verdict};
use crate::runtime::pipeline::{Acks, Completion};
use crate::runtime::{DecodeFailure, DLQ_TAG};

/// Sends one consumer's undecodable records to the DLQ.
pub(super) struct DeadLetterer {
    pub index: usize,
    pub topic: String,
    pub acks: Acks,
    pub dlq: Option<DeadLetterQueue>,
    pub metrics: RuntimeMetrics,
    pub stop: Arc<AtomicBool>,
    pub runtime: tokio::runtime::Handle,
    /// Since when, and how many records, not logged.
    pub log: std::cell::Cell<(Instant, u64)>,
}

impl DeadLetterer {
    /// Counts and logs a bad record and starts its DLQ produce; false when
    /// this worker has no DLQ (the caller skips the record).
    pub fn send(&self, message: &BorrowedMessage<'_>, epoch: u64, failure: DecodeFailure) -> bool {
        let (partition, offset) = (message.partition(), message.offset());
        self.metrics
            .dead_lettered
            .with_label_values(&[failure.kind])
            .inc();
        self.log(partition, offset, failure.kind, &failure.reason);
        let Some(dlq) = self.dlq.clone() else {
            return false;
        };
        let letter = DeadLetter {
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            source_topic: self.topic.clone(),
            partition,
            offset,
            error: failure.reason,
            kind: failure.kind.to_owned(),
        };
        let (acks, metrics, stop) = (
            self.acks.clone(),
            self.metrics.clone(),
            Arc::clone(&self.stop),
        );
        self.runtime.spawn(async move {
            let sent = retry(
                &mut Backoff::produce(),
                &*stop,
                || dlq.send(&letter),
                |e, _| {
                    metrics.dlq_errors.inc();
                    tracing::warn!(partition, offset, error = %e, "DLQ produce failed; retrying");
                    Verdict::Retry
                },
            )
            .await;
            if sent.is_err() {
                return; // not acknowledged: re-read after restart
            }
            acks.done(Completion {
                tag: DLQ_TAG,
                partition,
                epoch,
                offsets: vec![offset],
            });
        });
        true
    }

    /// Logs bad records, at most one line a second (the metric counts all).
    fn log(&self, partition: i32, offset: i64, kind: &str, reason: &str) {
        let (since, count) = self.log.get();
        if since.elapsed() >= Duration::from_secs(1) {
            tracing::warn!(
                consumer = self.index,
                partition,
                offset,
                kind,
                reason,
                since_last_report = count + 1,
                "bad record dead-lettered"
            );
            self.log.set((Instant::now(), 0));
        } else {
            self.log.set((since, count + 1));
        }
    }
}
