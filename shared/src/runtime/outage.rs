//! A sink outage as one consumer lives it: why, since when, and when to try
//! again. Retries back off from 1 s, doubling to 30 s; the delay drops back
//! to 1 s only once work is durable again, so a sink that fails again as
//! soon as it is used (a nearly full disk) is not retried every second.

use std::time::Instant;

pub(crate) use crate::retry::Backoff;

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
