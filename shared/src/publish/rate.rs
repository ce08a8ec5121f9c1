//! Publish rates: token buckets per user and per room, refilled
//! continuously. A refusal says how long until the next token.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One bucket's shape: `per_second` tokens a second, at most `burst` held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Refill rate.
    pub per_second: f64,
    /// Bucket size.
    pub burst: f64,
}

impl RateLimit {
    /// Chat defaults for one user: 5 a second, bursts of 10.
    pub const USER_DEFAULT: RateLimit = RateLimit {
        per_second: 5.0,
        burst: 10.0,
    };
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Refills to `now`, then takes one token or says how long to wait.
    fn take(&mut self, limit: RateLimit, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if limit.per_second <= 0.0 {
            Err(Duration::from_secs(3600))
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / limit.per_second,
            ))
        }
    }
}

/// Token buckets keyed by a string (a user id or a room id). Buckets full
/// again are forgotten by [`Self::sweep`], so memory follows active keys.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// An empty limiter with one shape for every key.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `key`, or the wait until one is there.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        let limit = self.limit;
        match self.buckets.get_mut(key) {
            Some(bucket) => bucket.take(limit, now),
            None => {
                let mut bucket = Bucket {
                    tokens: limit.burst,
                    at: now,
                };
                let result = bucket.take(limit, now);
                self.buckets.insert(key.to_owned(), bucket);
                result
            }
        }
    }

    /// Gives back a token taken by [`Self::check`] for a publish that was
    /// refused later for another reason (it did not count).
    pub fn refund(&mut self, key: &str) {
        if let Some(bucket) = self.buckets.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.limit.burst);
        }
    }

    /// Forgets buckets that have refilled completely by `now`.
    pub fn sweep(&mut self, now: Instant) {
        let limit = self.limit;
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * limit.per_second < limit.burst
        });
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let mut limiter = RateLimiter::new(RateLimit::USER_DEFAULT);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(limiter.check("u", t0).is_ok());
        }
        let wait = limiter.check("u", t0).expect_err("over the burst");
        assert!(wait > Duration::from_millis(150) && wait <= Duration::from_millis(200));
        // Another user has its own bucket.
        assert!(limiter.check("v", t0).is_ok());
        // 200 ms later one token is back, not two.
        let t1 = t0 + Duration::from_millis(200);
        assert!(limiter.check("u", t1).is_ok());
        assert!(limiter.check("u", t1).is_err());
    }

    #[test]
    fn a_refund_gives_the_token_back() {
        let mut limiter = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 1.0,
        });
        let t = Instant::now();
        assert!(limiter.check("u", t).is_ok());
        limiter.refund("u");
        assert!(limiter.check("u", t).is_ok());
        assert!(limiter.check("u", t).is_err());
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let mut limiter = RateLimiter::new(RateLimit::USER_DEFAULT);
        let t0 = Instant::now();
        let _ = limiter.check("a", t0);
        let _ = limiter.check("b", t0);
        limiter.sweep(t0);
        assert_eq!(limiter.len(), 2);
        limiter.sweep(t0 + Duration::from_secs(1));
        assert!(limiter.is_empty());
    }
}
