//! Lock-free latency histograms: [`LatencyHistogram`] with 1 ms buckets
//! (`sent_at` has millisecond resolution, so finer buckets would only
//! pretend), and [`FineHistogram`] with 0.1 ms buckets for the publish
//! mode, whose timestamps are the load client's own in µs.

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

/// Buckets of [`FineHistogram`]: 0.1 ms each, up to 10 s (max is exact).
const FINE_BUCKETS: usize = 100_000;
/// Width of one [`FineHistogram`] bucket, µs.
const FINE_BUCKET_US: i64 = 100;

/// Counts of latencies in 0.1 ms buckets, recorded in µs.
#[derive(Debug)]
pub struct FineHistogram {
    buckets: Box<[AtomicU64]>,
    max_us: AtomicI64,
    negative: AtomicU64,
}

/// Percentiles of a [`FineHistogram`], in ms with 0.1 ms resolution (a
/// percentile is its bucket's upper edge).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FineSummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// Samples below zero (clock steps; counted as 0).
    pub negative: u64,
}

impl Default for FineHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl FineHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        FineHistogram {
            buckets: (0..FINE_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicI64::new(0),
            negative: AtomicU64::new(0),
        }
    }

    /// Records one latency in µs.
    pub fn record_us(&self, us: i64) {
        if us < 0 {
            self.negative.fetch_add(1, Ordering::Relaxed);
        }
        let index = ((us.max(0) / FINE_BUCKET_US) as usize).min(FINE_BUCKETS - 1);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The percentiles so far.
    pub fn summary(&self) -> FineSummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| -> f64 {
            if total == 0 {
                return 0.0;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            let mut bucket = FINE_BUCKETS - 1;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    bucket = i;
                    break;
                }
            }
            (bucket as i64 + 1) as f64 * FINE_BUCKET_US as f64 / 1000.0
        };
        FineSummary {
            count: total,
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            p999: quantile(0.999),
            max: self.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
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

    #[test]
    fn fine_percentiles_are_bucket_upper_edges() {
        let h = FineHistogram::new();
        for us in (50..=100_000).step_by(100) {
            h.record_us(us); // 0.05, 0.15, … 99.95 ms: one per bucket
        }
        h.record_us(-7);
        h.record_us(20_000_000);
        let s = h.summary();
        assert_eq!(s.count, 1002);
        assert!((s.p50 - 50.0).abs() < 1e-9, "{}", s.p50);
        assert!((s.p99 - 99.1).abs() < 1e-9, "{}", s.p99);
        assert!((s.max - 20_000.0).abs() < 1e-9);
        assert_eq!(s.negative, 1);
        assert_eq!(FineHistogram::new().summary().p99, 0.0);
    }
}
