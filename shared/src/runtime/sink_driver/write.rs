//! One batch's write task: written in place with retries, or once (a
//! rewinding sink); refused records narrowed down and dead-lettered; then
//! every record acknowledged, one completion per partition and epoch.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::dead_letters::{dead_letter, Rejected};
use super::outage::report;
use super::{Recovery, Shared, Sink, SinkBatch, SinkError};
use crate::metrics::now_ms;
use crate::retry::{retry, Backoff, Forever, Verdict};
use crate::runtime::pipeline::Completion;

/// Writes one batch, dead-letters refused records, then acknowledges every
/// record of the batch. A batch a rewinding sink lost is not acknowledged:
/// its records are read again.
pub(super) async fn write_batch<S: Sink>(shared: Arc<Shared<S>>, tag: u64, batch: S::Batch) {
    let n = batch.len();
    let written = match (n, shared.recovery) {
        (0, _) => None,
        (_, Recovery::InPlace) => Some(in_place(&shared, &batch).await),
        (_, Recovery::Rewind) => once(&shared, &batch).await,
    };
    let Some(rejected) = written else {
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        shared.queued.fetch_sub(n, Ordering::Relaxed);
        return;
    };
    let (label, metrics) = (shared.sink.label(), &shared.context.metrics);
    for r in &rejected {
        metrics
            .sink_errors
            .with_label_values(&[label, "permanent"])
            .inc();
        if let Some(dead_letters) = &shared.dead_letters {
            dead_letter(&shared.context, &**dead_letters, label, r).await;
        }
    }
    metrics.batch_rows.observe(n as f64);
    metrics.batch_bytes.observe(batch.bytes() as f64);
    let completions = completions(&shared, tag, &batch);
    // Slots free before the acks arrive: the tick they trigger starts the next write.
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared.queued.fetch_sub(n, Ordering::Relaxed);
    for completion in completions {
        shared.context.acks.done(completion);
    }
}

/// Writes the batch until it is in, retrying the whole of it with backoff
/// on a retryable error (an outage while it lasts); returns the records
/// refused for good.
async fn in_place<S: Sink>(shared: &Arc<Shared<S>>, batch: &S::Batch) -> Vec<Rejected> {
    let (sink, metrics) = (&*shared.sink, &shared.context.metrics);
    let (label, verb) = (sink.label(), sink.verb());
    let n = batch.len();
    let (first, last) = (batch.record(0), batch.record(n - 1));
    let mut failures = 0u32;
    let written = retry(
        &mut Backoff::write(),
        Forever,
        || async {
            let started = Instant::now();
            let result = isolate(sink, batch, 0..n).await;
            let outcome = if result.is_ok() { "ok" } else { "error" };
            metrics
                .flush_duration
                .with_label_values(&[label, outcome])
                .observe(started.elapsed().as_secs_f64());
            result
        },
        |error, attempt| {
            failures = attempt.number;
            report(shared, error, None);
            if attempt.worth_warning() {
                tracing::warn!(sink = label, partition = first.partition, first = first.offset, last = last.offset, attempt = attempt.number, %error, retry_in = ?attempt.retry_in, "{verb} failed; retrying");
            }
            Verdict::Retry
        },
    )
    .await;
    shared.context.sink.working();
    if failures > 0 {
        tracing::info!(
            sink = label,
            partition = first.partition,
            first = first.offset,
            last = last.offset,
            attempt = failures + 1,
            "{verb} succeeded after retries"
        );
    }
    // Forever never stops and the hook never gives up.
    written.unwrap_or_default()
}

/// Writes the batch of a rewinding sink once. On failure the batch is lost
/// (`None`): the outage is reported and the loop reads the records again.
async fn once<S: Sink>(shared: &Arc<Shared<S>>, batch: &S::Batch) -> Option<Vec<Rejected>> {
    let (sink, metrics) = (&*shared.sink, &shared.context.metrics);
    let label = sink.label();
    let started = Instant::now();
    let result = sink.write(batch, 0..batch.len()).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics
        .flush_duration
        .with_label_values(&[label, outcome])
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(()) => {
            shared.context.sink.working();
            shared.probe_backoff.lock().reset();
            Some(Vec::new())
        }
        Err(error) => {
            let error = SinkError::Retryable(error.reason().to_owned());
            tracing::debug!(sink = label, %error, "{} failed; its records will be read again", sink.verb());
            report(shared, &error, Some(batch.record(0).epoch));
            None
        }
    }
}

/// The batch's completions, one per partition and epoch (offsets
/// ascending), and its records' latency observed. A run of records of one
/// partition costs no map lookup.
fn completions<S: Sink>(shared: &Shared<S>, tag: u64, batch: &S::Batch) -> Vec<Completion> {
    let metrics = &shared.context.metrics;
    let now = now_ms();
    let mut by_partition: BTreeMap<(i32, u64), Vec<i64>> = BTreeMap::new();
    let mut run: Option<((i32, u64), Vec<i64>)> = None;
    for i in 0..batch.len() {
        let record = batch.record(i);
        metrics.observe_latency(record.sent_at, now);
        let key = (record.partition, record.epoch);
        match &mut run {
            Some((k, offsets)) if *k == key => offsets.push(record.offset),
            _ => {
                if let Some((k, offsets)) = run.replace((key, vec![record.offset])) {
                    by_partition.entry(k).or_default().extend(offsets);
                }
            }
        }
    }
    if let Some((k, offsets)) = run {
        by_partition.entry(k).or_default().extend(offsets);
    }
    by_partition
        .into_iter()
        .map(|((partition, epoch), offsets)| Completion {
            tag,
            partition,
            epoch,
            offsets,
        })
        .collect()
}

/// Writes `rows`; on a permanent error splits them in halves until the
/// refused records are alone, writing the rest. A retryable error returns
/// at once (the caller retries the whole batch).
fn isolate<'a, S: Sink>(
    sink: &'a S,
    batch: &'a S::Batch,
    rows: Range<usize>,
) -> Pin<Box<dyn Future<Output = Result<Vec<Rejected>, SinkError>> + Send + 'a>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        match sink.write(batch, rows.clone()).await {
            Ok(()) => Ok(Vec::new()),
            Err(SinkError::Permanent(reason)) if rows.len() == 1 => {
                let record = batch.record(rows.start);
                Ok(vec![Rejected {
                    partition: record.partition,
                    offset: record.offset,
                    reason,
                }])
            }
            Err(SinkError::Permanent(_)) => {
                let mid = rows.start + rows.len() / 2;
                let mut rejected = isolate(sink, batch, rows.start..mid).await?;
                rejected.extend(isolate(sink, batch, mid..rows.end).await?);
                Ok(rejected)
            }
            Err(retryable) => Err(retryable),
        }
    })
}
