//! Where a sink's refused records go: the DLQ with kind `sink` (the
//! original bytes read back from Kafka), or a list in a test. A refused
//! record is retried until the DLQ has it: its batch is not acknowledged
//! before.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::retry::{retry, Backoff, Forever, Verdict};
use crate::runtime::PipelineContext;

/// A record a sink refused for good, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
    /// The sink's reason.
    pub reason: String,
}

/// Why a refused record could not be dead-lettered (yet): always retried.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The original record could not be read back from Kafka.
    #[error("cannot read the record back: {0}")]
    Refetch(rdkafka::error::KafkaError),
    /// The DLQ produce failed.
    #[error("cannot produce to the DLQ: {0}")]
    Produce(rdkafka::error::KafkaError),
    /// The blocking read-back task failed.
    #[error("read-back task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A boxed future of [`DeadLetters::send`].
pub type DeadLetterFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), DeadLetterError>> + Send + 'a>>;

/// Where refused records go (the DLQ, or a list in a test).
pub trait DeadLetters: Send + Sync + 'static {
    /// Dead-letters one refused record with kind `sink`.
    fn send<'a>(&'a self, rejected: &'a Rejected) -> DeadLetterFuture<'a>;
}

/// The DLQ: reads the refused record's original bytes back from Kafka and
/// produces them with kind `sink`.
pub struct KafkaDeadLetters {
    dlq: crate::dlq::DeadLetterQueue,
    kafka: Arc<BTreeMap<String, String>>,
    topic: String,
}

impl KafkaDeadLetters {
    /// Dead letters of `context`'s topic, if it has a DLQ.
    pub fn for_context(
        context: &PipelineContext,
        kafka: Arc<BTreeMap<String, String>>,
    ) -> Option<Arc<dyn DeadLetters>> {
        let dlq = context.dlq.clone()?;
        Some(Arc::new(KafkaDeadLetters {
            dlq,
            kafka,
            topic: context.topic.clone(),
        }))
    }
}

impl DeadLetters for KafkaDeadLetters {
    fn send<'a>(&'a self, rejected: &'a Rejected) -> DeadLetterFuture<'a> {
        Box::pin(async move {
            let (props, topic) = (Arc::clone(&self.kafka), self.topic.clone());
            let (partition, offset) = (rejected.partition, rejected.offset);
            let (key, payload) = tokio::task::spawn_blocking(move || {
                crate::dlq::refetch(
                    &props,
                    &topic,
                    partition,
                    offset,
                    std::time::Duration::from_secs(10),
                )
            })
            .await?
            .map_err(DeadLetterError::Refetch)?;
            let letter = crate::dlq::DeadLetter {
                key,
                payload,
                source_topic: self.topic.clone(),
                partition,
                offset,
                error: rejected.reason.clone(),
                kind: "sink".to_owned(),
            };
            self.dlq
                .send(&letter)
                .await
                .map_err(DeadLetterError::Produce)
        })
    }
}

/// Dead-letters one refused record, retrying until it is there: the batch
/// is not acknowledged before.
pub(super) async fn dead_letter(
    context: &PipelineContext,
    dead_letters: &dyn DeadLetters,
    label: &str,
    rejected: &Rejected,
) {
    let (partition, offset) = (rejected.partition, rejected.offset);
    let sent = retry(
        &mut Backoff::write(),
        Forever,
        || dead_letters.send(rejected),
        |error, _| {
            context.metrics.dlq_errors.inc();
            tracing::warn!(partition, offset, %error, "cannot dead-letter refused record; retrying");
            Verdict::Retry
        },
    )
    .await;
    if sent.is_ok() {
        context
            .metrics
            .dead_lettered
            .with_label_values(&["sink"])
            .inc();
        tracing::warn!(sink = label, partition, offset, reason = %rejected.reason, "record refused by the sink; dead-lettered");
    }
}
