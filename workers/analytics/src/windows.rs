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

    /// Adds a closed finer bucket starting at `at` into this window's bucket.
    fn merge_sketch(&mut self, window: Window, at: i64, sketch: &UserSketch) {
        let start = at - at.rem_euclid(window.bucket());
        match self.0.iter_mut().rev().find(|(s, _)| *s == start) {
            Some((_, mine)) => mine.merge(sketch),
            None => {
                let index = self.0.partition_point(|(s, _)| *s < start);
                let mut mine = UserSketch::new();
                mine.merge(sketch);
                self.0.insert(index, (start, mine));
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

/// The active-user windows of one game in one partition. A message is
/// inserted into one 10-second sketch only; when a newer 10-second bucket
/// opens, the closed ones are merged once into the minute and 5-minute
/// buckets of the longer windows (one dense insert per message instead of
/// three).
#[derive(Debug, Default)]
pub struct UserWindows {
    /// 10 s buckets (the 1 min window): (start, sketch, merged upward).
    fine: VecDeque<(i64, UserSketch, bool)>,
    /// 1 min buckets (the 5 min window), closed fine buckets merged in.
    minutes: Buckets,
    /// 5 min buckets (the 1 h window), closed fine buckets merged in.
    fives: Buckets,
}

impl UserWindows {
    /// Records that `user` sent something at `sent_at`; `now` bounds
    /// clock skew (future times count as now, times older than an hour
    /// are not windowed).
    pub fn record(&mut self, user: &str, sent_at: i64, now: i64) {
        let at = sent_at.min(now);
        if at <= now - Window::OneHour.millis() {
            return;
        }
        if at <= now - Window::OneMinute.millis() {
            // Late: straight into the longer windows.
            if at > now - Window::FiveMinutes.millis() {
                self.minutes.insert(Window::FiveMinutes, at, user);
            }
            self.fives.insert(Window::OneHour, at, user);
            return;
        }
        let width = Window::OneMinute.bucket();
        let start = at - at.rem_euclid(width);
        if let Some((_, sketch, merged)) = self.fine.iter_mut().rev().find(|(s, ..)| *s == start) {
            sketch.insert(user);
            if *merged {
                // A late event into a bucket already merged upward.
                self.minutes.insert(Window::FiveMinutes, at, user);
                self.fives.insert(Window::OneHour, at, user);
            }
            return;
        }
        self.merge_closed(start);
        let mut sketch = UserSketch::new();
        sketch.insert(user);
        let index = self.fine.partition_point(|(s, ..)| *s < start);
        self.fine.insert(index, (start, sketch, false));
    }

    /// Merges every fine bucket older than `before` into the longer windows.
    fn merge_closed(&mut self, before: i64) {
        for (start, sketch, merged) in self.fine.iter_mut() {
            if !*merged && *start < before {
                self.minutes
                    .merge_sketch(Window::FiveMinutes, *start, sketch);
                self.fives.merge_sketch(Window::OneHour, *start, sketch);
                *merged = true;
            }
        }
    }

    /// Drops what no window needs at `now`.
    pub fn expire(&mut self, now: i64) {
        let since = now - Window::OneMinute.millis();
        let width = Window::OneMinute.bucket();
        self.merge_closed(since - since.rem_euclid(width) + width);
        while self
            .fine
            .front()
            .is_some_and(|(start, ..)| start + width <= since)
        {
            self.fine.pop_front();
        }
        self.minutes
            .expire(Window::FiveMinutes, now - Window::FiveMinutes.millis());
        self.fives
            .expire(Window::OneHour, now - Window::OneHour.millis());
    }

    /// Adds this game's users in `window` to `out`.
    pub fn merge_into(&self, window: Window, now: i64, out: &mut UserSketch) {
        let since = now - window.millis();
        let width = Window::OneMinute.bucket();
        for (start, sketch, merged) in &self.fine {
            // The 1 min window reads every fine bucket; longer ones only
            // those not merged upward yet.
            if start + width > since && (window == Window::OneMinute || !*merged) {
                out.merge(sketch);
            }
        }
        match window {
            Window::OneMinute => {}
            Window::FiveMinutes => self.minutes.merge_into(window, now, out),
            Window::OneHour => self.fives.merge_into(window, now, out),
        }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.fine.is_empty() && self.minutes.0.is_empty() && self.fives.0.is_empty()
    }

    /// Approximate heap bytes held.
    pub fn bytes(&self) -> usize {
        self.fine
            .iter()
            .map(|(_, s, _)| s.size_of() + 24)
            .sum::<usize>()
            + self.minutes.bytes()
            + self.fives.bytes()
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
