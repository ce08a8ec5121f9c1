//! The driver's side of a sink outage: a retryable failure reported on the
//! consumer's [`SinkStatus`](super::SinkStatus) (the loop pauses and says
//! why), and for a [`Recovery::Rewind`] sink the probe that tells when it
//! works again. The probe waits until the loop has dropped the lost work,
//! so the recovery (seek back, resume) always follows the rewind.

use std::sync::Arc;

use super::{Recovery, Shared, Sink, SinkError};
use crate::retry::sleep_unless_stopped;

/// A retryable failure of the sink (or of work of assignment `epoch`):
/// counted, reported on the status, and for a rewinding sink that begins
/// an outage, probed until it works.
pub(super) fn report<S: Sink>(shared: &Arc<Shared<S>>, error: &SinkError, epoch: Option<u64>) {
    let (label, status) = (shared.sink.label(), &shared.context.sink);
    shared
        .context
        .metrics
        .sink_errors
        .with_label_values(&[label, error.class()])
        .inc();
    if epoch.is_some_and(|e| status.stale(e)) {
        // Work a rewind dropped, failing late: not news.
        tracing::debug!(sink = label, %error, "failure of dropped work");
        return;
    }
    let began = status.failed(error.reason(), shared.recovery);
    if began && shared.recovery == Recovery::Rewind {
        let shared = Arc::clone(shared);
        shared
            .context
            .runtime
            .clone()
            .spawn(async move { probe_until_working(shared).await });
    }
}

/// Probes a rewinding sink with backoff until it works, then reports it
/// working (the loop then seeks back and resumes). Gives up at shutdown.
async fn probe_until_working<S: Sink>(shared: Arc<Shared<S>>) {
    let (label, status) = (shared.sink.label(), &shared.context.sink);
    loop {
        let delay = shared.probe_backoff.lock().next_delay();
        if !sleep_unless_stopped(delay, &*shared.context.stopping).await {
            return;
        }
        if status.rewind_pending() {
            continue; // the loop has not dropped the lost work yet
        }
        match shared.sink.probe().await {
            Ok(()) => {
                status.working();
                return;
            }
            Err(error) => {
                shared
                    .context
                    .metrics
                    .sink_errors
                    .with_label_values(&[label, error.class()])
                    .inc();
                // The loop logs a changed reason; the same one is quiet.
                tracing::debug!(sink = label, %error, retry_in = ?delay, "sink still failing");
                status.failed(error.reason(), Recovery::Rewind);
            }
        }
    }
}
