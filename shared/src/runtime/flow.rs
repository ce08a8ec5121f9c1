//! The consumer loop's flow decisions, without Kafka: when to pause and
//! resume the partitions (backpressure, sink outage), and the outage
//! itself — why, since when, when to try the sink again.
//!
//! Retries back off from 1 s, doubling to 30 s ([`Backoff::sink_outage`]);
//! the delay drops back to 1 s only once work is durable again, so a sink
//! that fails again as soon as it is used (a nearly full disk) is not
//! retried every second. The loop applies the decisions to the consumer.

use std::time::{Duration, Instant};

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
    /// When to try the sink again.
    pub retry_at: Instant,
}

/// Pause state, backpressure and outage of one consumer.
#[derive(Debug)]
pub(crate) struct Flow {
    paused: bool,
    blocked_since: Option<Instant>,
    outage: Option<Outage>,
    backoff: Backoff,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            paused: false,
            blocked_since: None,
            outage: None,
            backoff: Backoff::sink_outage(),
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

    /// Work became durable: a later outage backs off from the start again.
    pub fn progressed(&mut self) {
        if self.outage.is_none() {
            self.backoff.reset();
        }
    }

    /// The sink began to fail; returns the delay before the first retry.
    pub fn sink_failed(&mut self, now: Instant, reason: String) -> Duration {
        let retry_in = self.backoff.next_delay();
        self.outage = Some(Outage {
            reason,
            since: now,
            retry_at: now + retry_in,
        });
        retry_in
    }

    /// Whether a retry of the failed sink is due.
    pub fn retry_due(&self, now: Instant) -> bool {
        self.outage.as_ref().is_some_and(|o| now >= o.retry_at)
    }

    /// The retry failed again: schedules the next. Returns the delay and
    /// whether the reason changed (worth a log line and a health update).
    pub fn still_failing(&mut self, now: Instant, reason: String) -> Option<(Duration, bool)> {
        let retry_in = self.backoff.next_delay();
        let outage = self.outage.as_mut()?;
        outage.retry_at = now + retry_in;
        let changed = reason != outage.reason;
        if changed {
            outage.reason = reason;
        }
        Some((retry_in, changed))
    }

    /// The sink works again; returns how long it was down.
    pub fn recovered(&mut self) -> Duration {
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

    #[test]
    fn an_outage_pauses_retries_with_backoff_and_resumes() {
        let t = Instant::now();
        let mut f = Flow::default();
        assert_eq!(f.sink_failed(t, "disk full".into()), ms(1000));
        assert_eq!(f.decide(t, false, false), PauseAction::Pause);
        f.set_paused(true);
        assert_eq!(f.decide(t, false, false), PauseAction::Keep);
        assert_eq!(f.decide(t, false, true), PauseAction::Pause);
        assert!(!f.retry_due(t + ms(999)));
        assert!(f.retry_due(t + ms(1000)));
        assert_eq!(
            f.still_failing(t + ms(1000), "disk full".into()),
            Some((ms(2000), false))
        );
        assert!(!f.retry_due(t + ms(2999)));
        assert_eq!(
            f.still_failing(t + ms(3000), "read-only".into()),
            Some((ms(4000), true))
        );
        assert_eq!(f.outage().map(|o| o.reason.as_str()), Some("read-only"));
        f.progressed();
        assert_eq!(
            f.still_failing(t + ms(7000), "read-only".into()),
            Some((ms(8000), false)),
            "no reset while the sink is down"
        );
        f.recovered();
        assert!(f.outage().is_none());
        assert_eq!(f.decide(t + ms(9000), false, false), PauseAction::Resume);
        // Failing again at once is not retried every second.
        assert_eq!(f.sink_failed(t + ms(9000), "disk full".into()), ms(16000));
        f.recovered();
        f.progressed();
        assert_eq!(f.sink_failed(t + ms(9000), "disk full".into()), ms(1000));
    }
}
