//! A sink outage as one consumer lives it: why, since when, and when to try
//! again. Retries back off from 1 s, doubling to 30 s; the delay drops back
//! to 1 s only once work is durable again, so a sink that fails again as
//! soon as it is used (a nearly full disk) is not retried every second.

use std::time::{Duration, Instant};

/// First delay before trying a failed sink again.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest delay between two tries.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Retry delays: 1 s, doubling to 30 s.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    /// Starts at the first delay.
    pub fn new() -> Self {
        Backoff { next: FIRST_RETRY }
    }

    /// The delay before the next try; the one after is doubled.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_RETRY);
        delay
    }

    /// Work became durable again: start over from the first delay.
    pub fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_and_reset() {
        let mut b = Backoff::new();
        let secs: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), FIRST_RETRY);
    }
}
