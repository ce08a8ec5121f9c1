//! Active users over sliding windows (1 min, 5 min, 1 h) with HyperLogLog
//! sketches in time buckets: memory depends on the number of buckets, not
//! on the number of users. Buckets follow event time (`sent_at`), so a
//! window means "users who sent something in the last N minutes".

use std::collections::VecDeque;

use cardinality_estimator::CardinalityEstimator;

/// A distinct-count sketch of user ids (HyperLogLog, 2^12 registers:
/// about 1.6% standard error, at most ~3 KiB; small sets use less).
pub type UserSketch = CardinalityEstimator<str>;

/// The windows operators watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Last minute.
    OneMinute,
    /// Last 5 minutes.
    FiveMinutes,
    /// Last hour.
    OneHour,
}

impl Window {
    /// Every window.
    pub const ALL: [Window; 3] = [Window::OneMinute, Window::FiveMinutes, Window::OneHour];

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Window::OneMinute => "1m",
            Window::FiveMinutes => "5m",
            Window::OneHour => "1h",
        }
    }

    /// Length in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Window::OneMinute => 60_000,
            Window::FiveMinutes => 300_000,
            Window::OneHour => 3_600_000,
        }
    }

    /// Bucket width used for this window (a sixth to a twelfth of it).
    fn bucket(self) -> i64 {
        match self {
            Window::OneMinute => 10_000,
            Window::FiveMinutes => 60_000,
            Window::OneHour => 300_000,
        }
    }
}

/// One window's buckets: (bucket start ms, sketch), oldest first.
#[derive(Debug, Default)]
struct Buckets(VecDeque<(i64, UserSketch)>);

impl Buckets {
    fn insert(&mut self, window: Window, at: i64, user: &str) {
        let start = at - at.rem_euclid(window.bucket());
        match self.0.iter_mut().rev().find(|(s, _)| *s == start) {
            Some((_, sketch)) => sketch.insert(user),
            None => {
                let mut sketch = UserSketch::new();
                sketch.insert(user);
                // Usually the newest; out-of-order events keep the order.
                let index = self.0.partition_point(|(s, _)| *s < start);
                self.0.insert(index, (start, sketch));
            }
        }
    }

    /// Drops buckets that ended before the window starting at `since`.
    fn expire(&mut self, window: Window, since: i64) {
        while self
            .0
            .front()
            .is_some_and(|(start, _)| start + window.bucket() <= since)
        {
            self.0.pop_front();
        }
    }

    fn merge_into(&self, window: Window, now: i64, out: &mut UserSketch) {
        let since = now - window.millis();
        for (start, sketch) in &self.0 {
            // A bucket counts if it overlaps the window (edges are
            // approximate by at most one bucket width).
            if start + window.bucket() > since {
                out.merge(sketch);
            }
        }
    }

    fn bytes(&self) -> usize {
        self.0.iter().map(|(_, s)| s.size_of() + 16).sum()
    }
}

/// The active-user windows of one game in one partition.
#[derive(Debug, Default)]
pub struct UserWindows {
    windows: [Buckets; 3],
}

impl UserWindows {
    /// Records that `user` sent something at `sent_at`; `now` bounds
    /// clock skew (future times count as now, times older than an hour
    /// are not windowed).
    pub fn record(&mut self, user: &str, sent_at: i64, now: i64) {
        let at = sent_at.min(now);
        for (i, window) in Window::ALL.into_iter().enumerate() {
            if at > now - window.millis() {
                self.windows[i].insert(window, at, user);
            }
        }
    }

    /// Drops what no window needs at `now`.
    pub fn expire(&mut self, now: i64) {
        for (i, window) in Window::ALL.into_iter().enumerate() {
            self.windows[i].expire(window, now - window.millis());
        }
    }

    /// Adds this game's users in `window` to `out`.
    pub fn merge_into(&self, window: Window, now: i64, out: &mut UserSketch) {
        let i = Window::ALL
            .iter()
            .position(|w| *w == window)
            .unwrap_or_default();
        self.windows[i].merge_into(window, now, out);
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.windows.iter().all(|b| b.0.is_empty())
    }

    /// Approximate heap bytes held.
    pub fn bytes(&self) -> usize {
        self.windows.iter().map(Buckets::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(w: &UserWindows, window: Window, now: i64) -> usize {
        let mut out = UserSketch::new();
        w.merge_into(window, now, &mut out);
        out.estimate()
    }

    #[test]
    fn windows_count_distinct_users_by_age() {
        let now = 10_000_000;
        let mut w = UserWindows::default();
        for u in 0..100 {
            w.record(&format!("recent-{u}"), now - 5_000, now);
        }
        for u in 0..200 {
            w.record(&format!("older-{u}"), now - 200_000, now);
            w.record(&format!("older-{u}"), now - 190_000, now); // repeat
        }
        for u in 0..300 {
            w.record(&format!("old-{u}"), now - 1_800_000, now);
        }
        w.record("ancient", now - 4_000_000, now);
        w.record("future", now + 60_000, now);
        assert_eq!(estimate(&w, Window::OneMinute, now), 101);
        let five = estimate(&w, Window::FiveMinutes, now) as f64;
        assert!((five - 301.0).abs() / 301.0 < 0.05, "{five}");
        let hour = estimate(&w, Window::OneHour, now) as f64;
        assert!((hour - 601.0).abs() / 601.0 < 0.05, "{hour}");
    }

    #[test]
    fn memory_does_not_grow_with_users() {
        let now = 50_000_000;
        let mut small = UserWindows::default();
        let mut large = UserWindows::default();
        for u in 0..10_000 {
            small.record(&format!("u{}", u % 10_000), now - (u % 50) * 1000, now);
        }
        for u in 0..200_000 {
            large.record(&format!("u{u}"), now - (u % 50) * 1000, now);
        }
        let (s, l) = (small.bytes(), large.bytes());
        assert!(l <= s * 2, "10k users: {s} B, 200k users: {l} B");
        let est = estimate(&large, Window::OneMinute, now) as f64;
        assert!((est - 200_000.0).abs() / 200_000.0 < 0.05, "{est}");
    }

    #[test]
    fn expiry_drops_old_buckets() {
        let mut w = UserWindows::default();
        w.record("a", 1_000, 1_000);
        w.expire(1_000 + 3_600_000 + 300_000);
        assert!(w.is_empty());
    }
}
