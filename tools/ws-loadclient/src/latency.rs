//! A lock-free latency histogram with 1 ms buckets: `sent_at` has
//! millisecond resolution, so finer buckets would only pretend.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde::Serialize;

/// Latencies at or above this many ms share the last bucket (max is exact).
const BUCKETS: usize = 60_000;

/// Counts of delivery latencies in whole milliseconds.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicI64,
    negative: AtomicU64,
}

/// Percentiles of a histogram, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: i64,
    /// Samples below zero (clock skew; counted as 0).
    pub negative: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicI64::new(0),
            negative: AtomicU64::new(0),
        }
    }

    /// Records one latency in ms.
    pub fn record(&self, ms: i64) {
        if ms < 0 {
            self.negative.fetch_add(1, Ordering::Relaxed);
        }
        let index = (ms.max(0) as usize).min(BUCKETS - 1);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(ms, Ordering::Relaxed);
    }

    /// Samples so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The percentiles so far.
    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| -> u64 {
            if total == 0 {
                return 0;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (ms, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return ms as u64;
                }
            }
            (BUCKETS - 1) as u64
        };
        LatencySummary {
            count: total,
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            p999: quantile(0.999),
            max: self.max.load(Ordering::Relaxed),
            negative: self.negative.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_spread() {
        let h = LatencyHistogram::new();
        for ms in 1..=100 {
            h.record(ms);
        }
        h.record(-3);
        h.record(1_000_000);
        let s = h.summary();
        assert_eq!(s.count, 102);
        assert_eq!(s.p50, 50);
        assert_eq!(s.p99, 100);
        assert_eq!(s.max, 1_000_000);
        assert_eq!(s.negative, 1);
        assert_eq!(h.count(), 102);
    }

    #[test]
    fn empty_is_zero() {
        let s = LatencyHistogram::new().summary();
        assert_eq!((s.count, s.p50, s.p99, s.max), (0, 0, 0, 0));
    }
}
