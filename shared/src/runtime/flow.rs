//! The consumer loop's flow decisions, without Kafka: when to pause and
//! resume the partitions (backpressure, sink outage), and what a change of
//! the sink's status asks of the loop ([`Flow::follow_sink`]): apply a
//! rewind, begin the outage, report a new reason, recover.
//!
//! The sink driver owns the retries and the probes; the loop's own retry is
//! the seek back to the durable position after a rewinding outage, tried
//! again with [`Backoff::sink_outage`] if the broker refuses it.

use std::time::{Duration, Instant};

use super::sink_status::SinkSnapshot;
use crate::retry::Backoff;

/// A pipeline refusing records for this long gets its partitions paused;
/// shorter stalls just wait (pausing purges librdkafka's prefetched records).
pub(crate) const PAUSE_AFTER: Duration = Duration::from_millis(500);

/// What the loop must do to the partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PauseAction {
    /// Leave them as they are.
    Keep,
    /// Pause every assigned partition (again, if the assignment changed).
    Pause,
    /// Resume every assigned partition.
    Resume,
}

/// A sink outage in progress.
#[derive(Debug)]
pub(crate) struct Outage {
    /// Why the sink fails, as last seen.
    pub reason: String,
    /// When it began.
    pub since: Instant,
    /// Whether unfinished work was dropped: reading resumes from the
    /// durable position when it ends.
    pub rewind: bool,
    /// After a failed seek back: when to try the recovery again.
    pub retry_at: Option<Instant>,
}

/// What the loop must do after the sink's status changed, in this order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SinkSteps {
    /// Drop what is not durable and remember where to read again.
    pub rewind: bool,
    /// The outage begins: pause, report unhealthy, log once.
    pub begin: bool,
    /// The sink still fails, for another reason: report it.
    pub reason_changed: bool,
    /// The sink works again: (seek back and) resume, report healthy.
    pub recover: bool,
}

/// Pause state, backpressure and outage of one consumer.
#[derive(Debug)]
pub(crate) struct Flow {
    paused: bool,
    blocked_since: Option<Instant>,
    outage: Option<Outage>,
    /// Delays between tries of a refused seek back.
    backoff: Backoff,
    /// The sink status version last followed.
    sink_version: u64,
    /// Rewinds of the sink applied so far.
    rewinds: u64,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            paused: false,
            blocked_since: None,
            outage: None,
            backoff: Backoff::sink_outage(),
            sink_version: 0,
            rewinds: 0,
        }
    }
}

impl Flow {
    /// Whether the partitions are paused now.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The pause or resume was applied.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Whether the pipeline is refusing records (the loop waits for the sink).
    pub fn blocked(&self) -> bool {
        self.blocked_since.is_some()
    }

    /// The outage in progress, if any.
    pub fn outage(&self) -> Option<&Outage> {
        self.outage.as_ref()
    }

    /// After bookkeeping: `refused` when the pipeline still hands records
    /// back, `changed` when the assignment changed since last time.
    pub fn decide(&mut self, now: Instant, refused: bool, changed: bool) -> PauseAction {
        if self.outage.is_some() {
            return if changed || !self.paused {
                PauseAction::Pause
            } else {
                PauseAction::Keep
            };
        }
        if refused {
            let since = *self.blocked_since.get_or_insert(now);
            if now.duration_since(since) >= PAUSE_AFTER && (!self.paused || changed) {
                return PauseAction::Pause;
            }
            return PauseAction::Keep;
        }
        self.blocked_since = None;
        if self.paused {
            PauseAction::Resume
        } else {
            PauseAction::Keep
        }
    }

    /// Whether the sink status moved past `version` since last followed.
    pub fn sink_changed(&mut self, version: u64) -> bool {
        let changed = version != self.sink_version;
        self.sink_version = version;
        changed
    }

    /// What a new sink status asks of the loop.
    pub fn follow_sink(&mut self, now: Instant, sink: &SinkSnapshot) -> SinkSteps {
        let rewind = sink.rewinds > self.rewinds;
        self.rewinds = self.rewinds.max(sink.rewinds);
        let mut steps = SinkSteps {
            rewind,
            ..SinkSteps::default()
        };
        match &mut self.outage {
            None if sink.failing || rewind => {
                // A rewind that recovered before the loop looked still needs
                // its seek back: begin, then recover at once.
                self.outage = Some(Outage {
                    reason: sink.reason.clone(),
                    since: now,
                    rewind,
                    retry_at: None,
                });
                steps.begin = true;
            }
            None => {}
            Some(outage) => {
                outage.rewind |= rewind;
                if sink.failing {
                    outage.retry_at = None;
                    if outage.reason != sink.reason {
                        outage.reason.clone_from(&sink.reason);
                        steps.reason_changed = true;
                    }
                }
            }
        }
        steps.recover = !sink.failing && self.outage.is_some();
        steps
    }

    /// Whether a recovery whose seek back failed is due again.
    pub fn recovery_due(&self, now: Instant) -> bool {
        self.outage
            .as_ref()
            .and_then(|o| o.retry_at)
            .is_some_and(|at| now >= at)
    }

    /// The seek back failed: schedules the next try. Returns the delay and
    /// whether the reason changed (worth a log line and a health update).
    pub fn recovery_failed(&mut self, now: Instant, reason: String) -> Option<(Duration, bool)> {
        let retry_in = self.backoff.next_delay();
        let outage = self.outage.as_mut()?;
        outage.retry_at = Some(now + retry_in);
        let changed = reason != outage.reason;
        if changed {
            outage.reason = reason;
        }
        Some((retry_in, changed))
    }

    /// The sink works again and reading resumed; returns how long it was down.
    pub fn recovered(&mut self) -> Duration {
        self.backoff.reset();
        self.outage
            .take()
            .map(|o| o.since.elapsed())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backpressure_pauses_only_after_a_while_and_resumes_when_taken() {
        let t = Instant::now();
        let mut f = Flow::default();
        assert_eq!(
            f.decide(t, true, false),
            PauseAction::Keep,
            "a short stall waits"
        );
        assert!(f.blocked());
        assert_eq!(f.decide(t + ms(499), true, false), PauseAction::Keep);
        assert_eq!(f.decide(t + ms(500), true, false), PauseAction::Pause);
        f.set_paused(true);
        assert_eq!(f.decide(t + ms(600), true, false), PauseAction::Keep);
        assert_eq!(
            f.decide(t + ms(700), true, true),
            PauseAction::Pause,
            "new partitions are paused too"
        );
        assert_eq!(f.decide(t + ms(800), false, false), PauseAction::Resume);
        f.set_paused(false);
        assert!(!f.blocked());
        assert_eq!(f.decide(t + ms(900), false, false), PauseAction::Keep);
        assert_eq!(
            f.decide(t + ms(1000), true, false),
            PauseAction::Keep,
            "the stall timer starts afresh"
        );
    }

    fn status(failing: bool, reason: &str, rewinds: u64) -> SinkSnapshot {
        SinkSnapshot {
            failing,
            reason: reason.into(),
            rewind: failing && rewinds > 0,
            rewinds,
        }
    }

    #[test]
    fn an_in_place_outage_pauses_reports_and_resumes() {
        let t = Instant::now();
        let mut f = Flow::default();
        assert!(f.sink_changed(1));
        assert!(!f.sink_changed(1), "nothing new");
        let steps = f.follow_sink(t, &status(true, "connection refused", 0));
        assert_eq!(
            steps,
            SinkSteps {
                begin: true,
                ..SinkSteps::default()
            }
        );
        assert_eq!(f.decide(t, false, false), PauseAction::Pause);
        f.set_paused(true);
        assert_eq!(
            f.decide(t, true, true),
            PauseAction::Pause,
            "new partitions too"
        );
        let steps = f.follow_sink(t, &status(true, "timed out", 0));
        assert!(steps.reason_changed && !steps.begin && !steps.recover);
        assert_eq!(f.outage().map(|o| o.reason.as_str()), Some("timed out"));
        let steps = f.follow_sink(t, &status(false, "timed out", 0));
        assert!(steps.recover && !steps.rewind);
        assert!(f.outage().is_some_and(|o| !o.rewind), "no seek back");
        f.recovered();
        assert!(f.outage().is_none());
        assert_eq!(f.decide(t, false, false), PauseAction::Resume);
    }

    #[test]
    fn a_rewind_is_applied_once_even_when_the_sink_recovered_first() {
        let t = Instant::now();
        let mut f = Flow::default();
        let steps = f.follow_sink(t, &status(true, "disk full", 1));
        assert!(steps.rewind && steps.begin && !steps.recover);
        assert!(f.outage().is_some_and(|o| o.rewind));
        let steps = f.follow_sink(t, &status(true, "disk full", 1));
        assert_eq!(steps, SinkSteps::default(), "applied already");
        f.recovered();
        // Failed, asked for a rewind and recovered before the loop looked.
        let steps = f.follow_sink(t, &status(false, "read-only", 2));
        assert!(steps.rewind && steps.begin && steps.recover);
        assert!(f.outage().is_some_and(|o| o.rewind));
    }

    #[test]
    fn a_refused_seek_back_is_tried_again_with_backoff() {
        let t = Instant::now();
        let mut f = Flow::default();
        f.follow_sink(t, &status(true, "disk full", 1));
        assert!(!f.recovery_due(t));
        assert_eq!(
            f.recovery_failed(t, "cannot seek".into()),
            Some((ms(1000), true))
        );
        assert!(!f.recovery_due(t + ms(999)));
        assert!(f.recovery_due(t + ms(1000)));
        assert_eq!(
            f.recovery_failed(t + ms(1000), "cannot seek".into()),
            Some((ms(2000), false))
        );
        // The sink failing again waits for its own recovery.
        f.follow_sink(t, &status(true, "disk full", 1));
        assert!(!f.recovery_due(t + ms(9000)));
        f.recovered();
        assert!(f.follow_sink(t, &status(true, "disk full", 2)).begin);
        assert_eq!(
            f.recovery_failed(t, "cannot seek".into()),
            Some((ms(1000), true)),
            "the backoff starts afresh after a recovery"
        );
    }
}
