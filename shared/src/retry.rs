//! One way to try again: doubling delays with a cap ([`Backoff`]) and an
//! async loop ([`retry`]) that stops when its stop signal says so or when
//! the caller's error hook gives up (a permanent error).
//!
//! Every retry loop of the workers (sink writes and probes, DLQ and alert
//! produces) uses these, so the backoff shape and the
//! logging cadence are the same everywhere.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Retry delays: `first`, doubling up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Delays from `first`, doubling to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        let first = first.min(max);
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// A sink's outage: 1 s, doubling to 30 s.
    pub fn sink_outage() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// One write to a store or broker: 200 ms, doubling to 10 s.
    pub fn write() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(10))
    }

    /// A produce to Kafka: 100 ms, doubling to 5 s.
    pub fn produce() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }

    /// The delay before the next try; the one after is doubled.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Work succeeded again: start over from the first delay.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Says when a retry loop must stop trying.
pub trait StopSignal {
    /// Whether to stop now.
    fn stopped(&self) -> bool;
}

impl StopSignal for AtomicBool {
    fn stopped(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}

impl<S: StopSignal + ?Sized> StopSignal for &S {
    fn stopped(&self) -> bool {
        (**self).stopped()
    }
}

impl<S: StopSignal + ?Sized> StopSignal for std::sync::Arc<S> {
    fn stopped(&self) -> bool {
        (**self).stopped()
    }
}

/// Never stops: retry until the operation succeeds or gives up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Forever;

impl StopSignal for Forever {
    fn stopped(&self) -> bool {
        false
    }
}

/// A failed try as the error hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first try.
    pub number: u32,
    /// The delay before the next try, if there is one.
    pub retry_in: Duration,
}

impl Attempt {
    /// Whether this failure is worth a warning: the first three, then
    /// every tenth, so a long outage does not flood the log.
    pub fn worth_warning(&self) -> bool {
        self.number <= 3 || self.number.is_multiple_of(10)
    }
}

/// What the error hook decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after the backoff delay.
    Retry,
    /// Stop: retrying cannot help (a permanent error).
    GiveUp,
}

/// Why [`retry`] returned without success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError<E> {
    /// The stop signal was raised; the last error.
    #[error("stopped while retrying: {0}")]
    Stopped(E),
    /// The error hook gave up on this error.
    #[error("{0}")]
    GaveUp(E),
}

impl<E> RetryError<E> {
    /// The last error, however the loop ended.
    pub fn into_inner(self) -> E {
        match self {
            RetryError::Stopped(e) | RetryError::GaveUp(e) => e,
        }
    }
}

/// Runs `op` until it succeeds. After each failure `on_error` sees the
/// error and the attempt (for logs and metrics) and says whether to retry;
/// before sleeping the stop signal is checked. Returns the last error if
/// stopped or given up. The stop signal is also checked during the sleep,
/// at least every 100 ms.
pub async fn retry<T, E, Op, Fut, OnError>(
    backoff: &mut Backoff,
    stop: impl StopSignal,
    mut op: Op,
    mut on_error: OnError,
) -> Result<T, RetryError<E>>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    OnError: FnMut(&E, Attempt) -> Verdict,
{
    let mut number = 0u32;
    loop {
        number = number.saturating_add(1);
        match op().await {
            Ok(value) => {
                backoff.reset();
                return Ok(value);
            }
            Err(error) => {
                let retry_in = backoff.next_delay();
                if on_error(&error, Attempt { number, retry_in }) == Verdict::GiveUp {
                    return Err(RetryError::GaveUp(error));
                }
                if stop.stopped() || !sleep_unless_stopped(retry_in, &stop).await {
                    return Err(RetryError::Stopped(error));
                }
            }
        }
    }
}

/// Sleeps `delay`, waking every 100 ms to look at `stop`; false if stopped.
pub async fn sleep_unless_stopped(delay: Duration, stop: &impl StopSignal) -> bool {
    const STEP: Duration = Duration::from_millis(100);
    let mut left = delay;
    while !left.is_zero() {
        let step = left.min(STEP);
        tokio::time::sleep(step).await;
        left -= step;
        if stop.stopped() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn delays_double_to_the_cap_and_reset() {
        let mut b = Backoff::sink_outage();
        let secs: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn a_first_delay_above_the_cap_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(9), Duration::from_secs(2));
        assert_eq!(b.next_delay(), Duration::from_secs(2));
        assert_eq!(b.next_delay(), Duration::from_secs(2));
    }

    #[test]
    fn warnings_thin_out() {
        let warned: Vec<u32> = (1..=30)
            .filter(|&number| {
                Attempt {
                    number,
                    retry_in: Duration::ZERO,
                }
                .worth_warning()
            })
            .collect();
        assert_eq!(warned, vec![1, 2, 3, 10, 20, 30]);
    }

    fn fast() -> Backoff {
        Backoff::new(Duration::from_millis(1), Duration::from_millis(4))
    }

    #[tokio::test]
    async fn retries_until_success_and_resets() {
        let calls = AtomicU32::new(0);
        let mut seen = Vec::new();
        let mut backoff = fast();
        let got = retry(
            &mut backoff,
            Forever,
            || async {
                let n = calls.fetch_add(1, Ordering::Relaxed);
                if n < 3 {
                    Err(n)
                } else {
                    Ok("done")
                }
            },
            |e, attempt| {
                seen.push((*e, attempt.number, attempt.retry_in.as_millis()));
                Verdict::Retry
            },
        )
        .await;
        assert_eq!(got, Ok("done"));
        assert_eq!(seen, vec![(0, 1, 1), (1, 2, 2), (2, 3, 4)]);
        assert_eq!(backoff.next_delay(), Duration::from_millis(1));
    }

    #[tokio::test]
    async fn a_permanent_error_gives_up_at_once() {
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = retry(
            &mut fast(),
            Forever,
            || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err("refused")
            },
            |_, _| Verdict::GiveUp,
        )
        .await;
        assert_eq!(got, Err(RetryError::GaveUp("refused")));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn the_stop_signal_ends_the_loop_with_the_last_error() {
        let stop = AtomicBool::new(false);
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = retry(
            &mut Backoff::new(Duration::from_secs(60), Duration::from_secs(60)),
            &stop,
            || async {
                let n = calls.fetch_add(1, Ordering::Relaxed);
                Err(n)
            },
            |_, _| {
                stop.store(true, Ordering::Relaxed);
                Verdict::Retry
            },
        )
        .await;
        assert_eq!(got, Err(RetryError::Stopped(0)));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
