//! The one outage model: a consumer's sink driver says whether its sink
//! works, and the consumer loop acts on it. The driver reports a retryable
//! failure with its reason ([`SinkStatus::failed`]) and a write that
//! succeeds again ([`SinkStatus::working`]); the loop pauses the
//! partitions and reports the outage on `/healthz` while the sink fails,
//! and resumes when it works.
//!
//! What happens to the unfinished work is the sink's [`Recovery`]: kept and
//! written again in place (db-writer), or lost with the failed write, so
//! the loop drops every record not yet durable and reads them again from
//! the durable position once the sink works (parquet-exporter). Such a
//! rewind is a handshake: the driver asks for it, the loop applies it
//! ([`SinkStatus::rewound`]), and only then may the driver's probe report
//! the sink working again, so a recovery never overtakes the rewind.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// How a sink's failed writes are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// The batch is kept and written again with backoff until it is in:
    /// nothing is dropped (db-writer: the rows are in memory).
    #[default]
    InPlace,
    /// A failed write loses the batch and the sink's other unfinished work
    /// (parquet-exporter: a part's encoded file is gone). The consumer
    /// drops every record not yet durable, the driver probes the sink with
    /// backoff, and once it works the records are read again from Kafka,
    /// which is their retained copy: memory stays bounded.
    Rewind,
}

/// A consumer's sink status, shared by its sink driver (writer) and its
/// consumer loop (reader). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SinkStatus {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped on every change the loop must see; compared every loop turn.
    version: AtomicU64,
    /// Whether the sink fails now, readable without the lock.
    failing: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Why the sink fails, as last reported (kept after recovery).
    reason: String,
    /// The recovery of the failure in progress.
    recovery: Recovery,
    /// Rewinds asked for (failures that lost unfinished work).
    rewinds: u64,
    /// The last of them the loop has applied.
    rewound: u64,
    /// Work of an older epoch than this was dropped by a rewind.
    epoch_floor: u64,
}

/// The status as the consumer loop reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SinkSnapshot {
    /// Whether the sink fails now.
    pub failing: bool,
    /// Why, as last reported.
    pub reason: String,
    /// Whether the failure in progress lost unfinished work.
    pub rewind: bool,
    /// Rewinds asked for so far.
    pub rewinds: u64,
}

impl SinkStatus {
    /// A status saying the sink works.
    pub fn new() -> Self {
        Self::default()
    }

    /// A write (or the sink's own background work) failed in a way that
    /// may pass. Returns true when this begins an outage; during one only
    /// the reason is updated (a [`Recovery::Rewind`] outage asks for one
    /// rewind, however many writes fail).
    pub fn failed(&self, reason: &str, recovery: Recovery) -> bool {
        let mut state = self.inner.state.lock();
        let began = !self.inner.failing.load(Ordering::Acquire);
        if began {
            state.recovery = recovery;
            if recovery == Recovery::Rewind {
                state.rewinds += 1;
            }
            self.inner.failing.store(true, Ordering::Release);
        } else if state.reason == reason {
            return false;
        }
        state.reason.clear();
        state.reason.push_str(reason);
        self.inner.version.fetch_add(1, Ordering::Release);
        began
    }

    /// A write succeeded (or a probe did): the sink works. One atomic load
    /// when it already did.
    pub fn working(&self) {
        if !self.inner.failing.load(Ordering::Acquire) {
            return;
        }
        let _state = self.inner.state.lock();
        if self.inner.failing.swap(false, Ordering::AcqRel) {
            self.inner.version.fetch_add(1, Ordering::Release);
        }
    }

    /// Whether the sink fails now.
    pub fn is_failing(&self) -> bool {
        self.inner.failing.load(Ordering::Acquire)
    }

    /// Why the sink fails now, if it does.
    pub fn reason(&self) -> Option<String> {
        let state = self.inner.state.lock();
        self.is_failing().then(|| state.reason.clone())
    }

    /// Whether work of assignment `epoch` was dropped by a rewind already
    /// (its failure is old news, not a new outage).
    pub fn stale(&self, epoch: u64) -> bool {
        epoch < self.inner.state.lock().epoch_floor
    }

    /// Whether a rewind was asked for and the loop has not applied it yet
    /// (the driver's probe waits for it).
    pub fn rewind_pending(&self) -> bool {
        let state = self.inner.state.lock();
        state.rewinds > state.rewound
    }

    /// Changes so far; the loop reads the status again when this moves.
    pub(crate) fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    /// The status now.
    pub(crate) fn snapshot(&self) -> SinkSnapshot {
        let state = self.inner.state.lock();
        let failing = self.is_failing();
        SinkSnapshot {
            failing,
            reason: state.reason.clone(),
            rewind: failing && state.recovery == Recovery::Rewind,
            rewinds: state.rewinds,
        }
    }

    /// The loop applied the rewinds up to `rewinds`: every record of an
    /// epoch below `epoch_floor` was dropped.
    pub(crate) fn rewound(&self, rewinds: u64, epoch_floor: u64) {
        let mut state = self.inner.state.lock();
        state.rewound = state.rewound.max(rewinds);
        state.epoch_floor = state.epoch_floor.max(epoch_floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_place_outage_begins_once_updates_its_reason_and_ends() {
        let s = SinkStatus::new();
        let v0 = s.version();
        s.working();
        assert_eq!(s.version(), v0, "working while working changes nothing");
        assert!(s.failed("connection refused", Recovery::InPlace));
        assert!(!s.failed("connection refused", Recovery::InPlace));
        let v1 = s.version();
        assert!(v1 > v0);
        assert!(!s.failed("timed out", Recovery::InPlace));
        assert!(s.version() > v1, "a new reason is a change");
        assert_eq!(s.reason().as_deref(), Some("timed out"));
        let snap = s.snapshot();
        assert!(snap.failing && !snap.rewind && snap.rewinds == 0);
        s.working();
        assert!(!s.is_failing());
        assert_eq!(s.reason(), None);
        assert_eq!(s.snapshot().reason, "timed out", "kept for the loop");
    }

    #[test]
    fn a_rewind_is_asked_once_per_outage_and_marks_older_work_stale() {
        let s = SinkStatus::new();
        assert!(s.failed("disk full", Recovery::Rewind));
        assert!(!s.failed("disk full again", Recovery::Rewind));
        let snap = s.snapshot();
        assert!(snap.failing && snap.rewind);
        assert_eq!(snap.rewinds, 1);
        assert!(s.rewind_pending());
        assert!(!s.stale(3));
        s.rewound(snap.rewinds, 7);
        assert!(!s.rewind_pending());
        assert!(s.stale(6) && !s.stale(7));
        s.working();
        assert!(s.failed("read-only", Recovery::Rewind), "a new outage");
        assert_eq!(s.snapshot().rewinds, 2);
    }
}
