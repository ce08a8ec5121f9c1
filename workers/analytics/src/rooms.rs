//! Room activity of one partition: when each room was last active and how
//! many messages it had in the last minute (six 10-second buckets), for
//! active-room counts and the busiest rooms. Rooms idle for an hour are
//! forgotten; the number of rooms held is capped.

use std::collections::HashMap;
use std::sync::Arc;

use crate::windows::Window;

const BUCKET_MS: i64 = 10_000;
const BUCKETS: usize = 6;

/// One room's recent activity.
#[derive(Debug, Clone)]
struct RoomStats {
    game: Arc<str>,
    last_seen: i64,
    /// (bucket start, messages), ring indexed by bucket number.
    buckets: [(i64, u32); BUCKETS],
}

impl RoomStats {
    fn last_minute(&self, now: i64) -> u64 {
        let since = now - Window::OneMinute.millis();
        self.buckets
            .iter()
            .filter(|(start, _)| start + BUCKET_MS > since && *start <= now)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }
}

/// A busy room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyRoom {
    /// Room id.
    pub room: String,
    /// Its game label.
    pub game: Arc<str>,
    /// Messages in the last minute.
    pub messages: u64,
}

/// Rooms of one partition.
#[derive(Debug)]
pub struct Rooms {
    rooms: HashMap<String, RoomStats, foldhash::fast::RandomState>,
    max_rooms: usize,
}

impl Rooms {
    /// Holding at most `max_rooms` rooms (the least recently active go first).
    pub fn new(max_rooms: usize) -> Self {
        Rooms {
            rooms: HashMap::default(),
            max_rooms: max_rooms.max(1),
        }
    }

    /// Counts a message of `room` sent at `at` (event time, ≤ now).
    pub fn record(&mut self, room: &str, game: &Arc<str>, at: i64) {
        let start = at - at.rem_euclid(BUCKET_MS);
        let slot = (start / BUCKET_MS).rem_euclid(BUCKETS as i64) as usize;
        let stats = match self.rooms.get_mut(room) {
            Some(stats) => stats,
            None => {
                if self.rooms.len() >= self.max_rooms {
                    self.evict_oldest();
                }
                self.rooms.entry(room.to_owned()).or_insert(RoomStats {
                    game: Arc::clone(game),
                    last_seen: at,
                    buckets: [(i64::MIN / 2, 0); BUCKETS],
                })
            }
        };
        stats.last_seen = stats.last_seen.max(at);
        let bucket = &mut stats.buckets[slot];
        if bucket.0 == start {
            bucket.1 += 1;
        } else if bucket.0 < start {
            *bucket = (start, 1);
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .rooms
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(r, _)| r.clone())
        {
            self.rooms.remove(&oldest);
        }
    }

    /// Forgets rooms idle for longer than the longest window.
    pub fn expire(&mut self, now: i64) {
        let since = now - Window::OneHour.millis();
        self.rooms.retain(|_, s| s.last_seen > since);
    }

    /// Adds, per game, the rooms active in `window` to `counts`.
    pub fn count_active(&self, window: Window, now: i64, counts: &mut HashMap<Arc<str>, u64>) {
        let since = now - window.millis();
        for stats in self.rooms.values().filter(|s| s.last_seen > since) {
            *counts.entry(Arc::clone(&stats.game)).or_default() += 1;
        }
    }

    /// This partition's `k` busiest rooms of the last minute.
    pub fn busiest(&self, k: usize, now: i64) -> Vec<BusyRoom> {
        let mut all: Vec<BusyRoom> = self
            .rooms
            .iter()
            .map(|(room, s)| BusyRoom {
                room: room.clone(),
                game: Arc::clone(&s.game),
                messages: s.last_minute(now),
            })
            .filter(|b| b.messages > 0)
            .collect();
        top_k(&mut all, k);
        all
    }

    /// Rooms held.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no room is held.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }
}

/// Keeps the `k` busiest (ties by room id, for stable output), busiest first.
pub fn top_k(rooms: &mut Vec<BusyRoom>, k: usize) {
    rooms.sort_by(|a, b| {
        b.messages
            .cmp(&a.messages)
            .then_with(|| a.room.cmp(&b.room))
    });
    rooms.truncate(k);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_rooms_of_the_last_minute() {
        let game: Arc<str> = Arc::from("g");
        let mut rooms = Rooms::new(100);
        let now = 1_000_000;
        for _ in 0..5 {
            rooms.record("quiet", &game, now - 1_000);
        }
        for _ in 0..9 {
            rooms.record("busy", &game, now - 30_000);
        }
        for _ in 0..50 {
            rooms.record("was-busy", &game, now - 120_000);
        }
        let top = rooms.busiest(2, now);
        assert_eq!(
            top.iter()
                .map(|b| (b.room.as_str(), b.messages))
                .collect::<Vec<_>>(),
            [("busy", 9), ("quiet", 5)]
        );
        let mut counts = HashMap::new();
        rooms.count_active(Window::OneMinute, now, &mut counts);
        assert_eq!(counts[&game], 2);
        let mut counts = HashMap::new();
        rooms.count_active(Window::FiveMinutes, now, &mut counts);
        assert_eq!(counts[&game], 3);
        rooms.expire(now + 3_600_000);
        assert!(rooms.is_empty());
    }

    #[test]
    fn the_room_cap_evicts_the_least_recently_active() {
        let game: Arc<str> = Arc::from("g");
        let mut rooms = Rooms::new(2);
        rooms.record("a", &game, 1);
        rooms.record("b", &game, 2);
        rooms.record("c", &game, 3);
        assert_eq!(rooms.len(), 2);
        assert!(rooms.busiest(3, 10).iter().all(|b| b.room != "a"));
    }
}
