//! A lock-free latency histogram in microseconds, log-linear (32 buckets
//! per power of two, ≤ 3 % error) so sub-millisecond loopback latencies and
//! multi-second overload queues fit in ~1,300 counters.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Values below this are their own bucket.
const LINEAR: u64 = 64;
/// Buckets per power of two above [`LINEAR`].
const PER_OCTAVE: usize = 32;
/// Enough buckets for any u64 (the last is `index(u64::MAX)` = 1,919).
const BUCKETS: usize = PER_OCTAVE * 60;

/// Counts of latencies in µs.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

/// Percentiles of a histogram, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample (exact).
    pub max: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

fn index(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let msb = 63 - us.leading_zeros(); // ≥ 6
    let shift = msb - 5; // keeps the top 6 bits: 32..=63
    (shift as usize) * PER_OCTAVE + (us >> shift) as usize
}

/// The smallest value of bucket `i`.
fn lower_bound(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let shift = i / PER_OCTAVE - 1;
    ((i % PER_OCTAVE + PER_OCTAVE) as u64) << shift
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one latency in µs.
    pub fn record(&self, us: u64) {
        self.buckets[index(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    /// The value at quantile `q` (0–1), in µs (a bucket's lower bound).
    pub fn quantile(&self, q: f64) -> u64 {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return 0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return lower_bound(i);
            }
        }
        self.max.load(Ordering::Relaxed)
    }

    /// p50, p99 and max in ms.
    pub fn summary(&self) -> LatencySummary {
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        LatencySummary {
            count: self.count.load(Ordering::Relaxed),
            p50: ms(self.quantile(0.50)),
            p99: ms(self.quantile(0.99)),
            max: ms(self.max.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        for us in [
            0u64,
            1,
            63,
            64,
            65,
            100,
            1_000,
            123_456,
            9_999_999,
            u64::MAX,
        ] {
            let i = index(us);
            assert!(i < BUCKETS);
            assert!(lower_bound(i) <= us, "{us}");
            if i < index(u64::MAX) {
                assert!(lower_bound(i + 1) > us, "{us}");
            }
            assert!(us - lower_bound(i) <= us / 32, "error ≤ 1/32 at {us}");
        }
        for i in 1..=index(u64::MAX) {
            assert!(lower_bound(i) > lower_bound(i - 1));
        }
    }

    #[test]
    fn percentiles_follow_the_samples() {
        let h = LatencyHistogram::new();
        for us in 1..=1000 {
            h.record(us);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((0.48..=0.5).contains(&s.p50), "{s:?}");
        assert!((0.96..=0.99).contains(&s.p99), "{s:?}");
        assert_eq!(s.max, 1.0);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(LatencyHistogram::new().summary().p99, 0.0);
    }
}
