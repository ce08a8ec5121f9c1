//! Bounded detection state: recent messages per user, activity per room
//! (per partition), first-seen users (per process), and the copy tracks
//! the by-game consumer keeps ([`SpamTrack`], see `copies`).
//! Every structure is capped in entries and pruned by age, so memory stays
//! bounded whatever the traffic; sizes are exported as metrics.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;

use hashbrown::HashMap as EntryMap;

use super::message_ref::MessageRef;
use super::MAX_EVIDENCE;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Longest window a rule may use (state is kept this long at most).
pub const MAX_WINDOW: Duration = Duration::from_secs(3600);
/// Recent messages kept per user at most (the largest flood threshold).
pub const USER_RECENT: usize = 100;
/// First-seen joins kept per room.
const ROOM_JOINS: usize = 512;
/// Size of one rate bucket (ms).
const BUCKET_MS: i64 = 10_000;

/// A user's key: hash of game and user id (the id itself is not kept).
pub fn user_key(game: &str, user: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(7).hash_one((game, user))
}

/// A room's key: hash of the room id.
pub fn room_key(room: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(17).hash_one(room)
}

/// One recent message of a user (56 bytes, no heap for UUID/ULID ids).
#[derive(Debug, Clone)]
pub struct Recent {
    /// Event time.
    pub at: i64,
    /// Normalized text hash.
    pub hash: u64,
    /// `message_id`, for evidence.
    pub id: MessageRef,
    /// Uppercase letters.
    pub upper: u32,
    /// Letters.
    pub letters: u32,
    /// Links to non-allowed domains.
    pub foreign_link: bool,
}

/// A user's recent messages.
#[derive(Debug, Default)]
pub struct UserState {
    recent: VecDeque<Recent>,
    last_at: i64,
}

impl UserState {
    /// Adds a message; messages before `horizon` (older than the longest
    /// user-rule window) and the oldest past the cap are dropped.
    pub fn push(&mut self, recent: Recent, horizon: i64) {
        while self
            .recent
            .front()
            .is_some_and(|r| r.at < horizon || self.recent.len() >= USER_RECENT)
        {
            self.recent.pop_front();
        }
        self.last_at = self.last_at.max(recent.at);
        self.recent.push_back(recent);
    }

    /// Marks the newest message as carrying a foreign link.
    pub fn mark_foreign_link(&mut self, id: &MessageRef) {
        if let Some(last) = self.recent.back_mut().filter(|r| r.id == *id) {
            last.foreign_link = true;
        }
    }

    /// How many messages since `since` match `pred` (no allocation: most
    /// messages hit no rule, so evidence is gathered only for a hit).
    pub fn count(&self, since: i64, pred: impl Fn(&Recent) -> bool) -> usize {
        self.recent
            .iter()
            .filter(|r| r.at >= since && pred(r))
            .count()
    }

    /// Messages since `since` matching `pred`: evidence ids (newest 50,
    /// oldest first) and the earliest time.
    pub fn evidence(&self, since: i64, pred: impl Fn(&Recent) -> bool) -> (Vec<String>, i64) {
        let found: Vec<&Recent> = self
            .recent
            .iter()
            .filter(|r| r.at >= since && pred(r))
            .collect();
        let start = found.first().map_or(since, |r| r.at);
        let ids = found
            .iter()
            .skip(found.len().saturating_sub(MAX_EVIDENCE))
            .map(|r| r.id.to_id())
            .collect();
        (ids, start)
    }

    /// [`Self::count`], and when it reaches `threshold`, the evidence:
    /// `(count, ids, earliest time)`.
    pub fn matching(
        &self,
        since: i64,
        threshold: u32,
        pred: impl Fn(&Recent) -> bool,
    ) -> Option<(usize, Vec<String>, i64)> {
        let n = self.count(since, &pred);
        if n < threshold as usize {
            return None;
        }
        let (ids, start) = self.evidence(since, pred);
        Some((n, ids, start))
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }
}

/// A room's activity.
#[derive(Debug, Default)]
pub struct RoomState {
    bucket_start: i64,
    bucket_count: u32,
    bucket_ids: Vec<MessageRef>,
    mean: f64,
    var: f64,
    buckets_seen: u32,
    spiked: bool,
    /// First-seen users who joined: (time, user hash).
    joins: VecDeque<(i64, u64)>,
    /// How many of `joins` each user hash has (a chat line is checked
    /// against it, not against every join).
    joined: FastMap<u64, u32>,
    /// What recently joined users posted: (time, user key, text hash, id).
    posts: VecDeque<(i64, u64, u64, MessageRef)>,
    last_at: i64,
}

impl RoomState {
    /// Counts a message into the current 10 s bucket.
    pub fn count(&mut self, at: i64, id: &MessageRef) {
        let start = at - at.rem_euclid(BUCKET_MS);
        if start > self.bucket_start {
            self.roll(start);
        }
        self.bucket_count += 1;
        if self.bucket_ids.len() < MAX_EVIDENCE {
            self.bucket_ids.push(id.clone());
        }
        self.last_at = self.last_at.max(at);
    }

    fn roll(&mut self, start: i64) {
        if self.bucket_start > 0 {
            // Completed bucket, then the empty ones in between, into the EWMA.
            let empty = ((start - self.bucket_start) / BUCKET_MS - 1).clamp(0, 60);
            self.learn(self.bucket_count as f64);
            for _ in 0..empty {
                self.learn(0.0);
            }
        }
        self.bucket_start = start;
        self.bucket_count = 0;
        self.bucket_ids.clear();
        self.spiked = false;
    }

    fn learn(&mut self, x: f64) {
        const ALPHA: f64 = 0.1;
        if self.buckets_seen == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let diff = x - self.mean;
            self.mean += ALPHA * diff;
            self.var = (1.0 - ALPHA) * (self.var + ALPHA * diff * diff);
        }
        self.buckets_seen = self.buckets_seen.saturating_add(1);
    }

    /// A spike in the current bucket (once per bucket), after a minute of
    /// history: (count, usual mean, evidence, bucket start).
    pub fn spike(
        &mut self,
        sigmas: f64,
        min: u32,
        _alpha: f64,
    ) -> Option<(u32, f64, Vec<String>, i64)> {
        if self.spiked || self.buckets_seen < 6 || self.bucket_count < min {
            return None;
        }
        let limit = self.mean + sigmas * self.var.sqrt().max(1.0);
        if f64::from(self.bucket_count) <= limit {
            return None;
        }
        self.spiked = true;
        Some((
            self.bucket_count,
            self.mean,
            self.bucket_ids.iter().map(MessageRef::to_id).collect(),
            self.bucket_start,
        ))
    }

    /// A first-seen user (by [`user_key`]) joined.
    pub fn joined(&mut self, at: i64, key: u64) {
        if self.joins.len() >= ROOM_JOINS {
            self.forget_oldest_join();
        }
        self.joins.push_back((at, key));
        *self.joined.entry(key).or_insert(0) += 1;
        self.last_at = self.last_at.max(at);
    }

    fn forget_oldest_join(&mut self) {
        if let Some((_, key)) = self.joins.pop_front() {
            if let Some(n) = self.joined.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.joined.remove(&key);
                }
            }
        }
    }

    /// A user (by [`user_key`]) posted; kept only if the user joined
    /// recently as first-seen.
    pub fn posted(&mut self, at: i64, user: u64, hash: u64, id: &MessageRef) {
        if self.joined.is_empty() || !self.joined.contains_key(&user) {
            return;
        }
        if self.posts.len() >= ROOM_JOINS {
            self.posts.pop_front();
        }
        self.posts.push_back((at, user, hash, id.clone()));
    }

    /// A raid: at least `min_new` first-seen joins since `since`, and at
    /// least `min_same` of those users posting text `hash`.
    pub fn raid(
        &mut self,
        since: i64,
        hash: u64,
        min_new: u32,
        min_same: u32,
    ) -> Option<(usize, usize, Vec<String>, i64)> {
        while self.joins.front().is_some_and(|(t, _)| *t < since) {
            self.forget_oldest_join();
        }
        while self.posts.front().is_some_and(|(t, ..)| *t < since) {
            self.posts.pop_front();
        }
        if self.joins.len() < min_new as usize {
            return None;
        }
        // The burst: among the latest posts of first-seen joiners, enough
        // distinct users with this same text. (Right after a restart every
        // regular is first-seen; they say many different things.)
        let burst = 4 * min_same as usize;
        let mut users: Vec<u64> = self
            .posts
            .iter()
            .rev()
            .take(burst)
            .filter(|(_, _, h, _)| *h == hash)
            .map(|(_, u, ..)| *u)
            .collect();
        users.sort_unstable();
        users.dedup();
        if users.len() < min_same as usize {
            return None;
        }
        let same: Vec<&(i64, u64, u64, MessageRef)> = self
            .posts
            .iter()
            .filter(|(_, _, h, _)| *h == hash)
            .collect();
        let start = self.joins.front().map_or(since, |(t, _)| *t);
        let ids = same
            .iter()
            .skip(same.len().saturating_sub(MAX_EVIDENCE))
            .map(|(.., id)| id.to_id())
            .collect();
        Some((self.joins.len(), same.len(), ids, start))
    }
}

/// The median of `times` (what "the more recently active half" keeps above),
/// in linear time.
pub(crate) fn median(times: impl Iterator<Item = i64>) -> Option<i64> {
    let mut times: Vec<i64> = times.collect();
    if times.is_empty() {
        return None;
    }
    let middle = times.len() / 2;
    Some(*times.select_nth_unstable(middle).1)
}

/// Sizes for the state metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSizes {
    /// Users tracked.
    pub users: usize,
    /// Rooms tracked.
    pub rooms: usize,
    /// First-seen set entries.
    pub seen_users: usize,
    /// Cross-room copies tracked.
    pub copies: usize,
}

/// One partition's users and rooms, keyed by hash ([`user_key`],
/// [`room_key`]): ids are not kept, only what evidence needs.
#[derive(Debug)]
pub struct PartitionState {
    users: EntryMap<u64, UserState>,
    rooms: EntryMap<u64, RoomState>,
    max_users: usize,
    clock: i64,
    /// How long users' messages are kept (the rules' longest user window).
    user_window: i64,
    /// Recent messages held over all users.
    messages: usize,
}

impl PartitionState {
    /// Empty state holding at most `max_users` users (and as many rooms).
    pub fn new(max_users: usize) -> Self {
        PartitionState {
            users: EntryMap::default(),
            rooms: EntryMap::default(),
            max_users: max_users.max(16),
            clock: 0,
            user_window: MAX_WINDOW.as_millis() as i64,
            messages: 0,
        }
    }

    /// Keeps users' messages for `window` ms (the rules' longest user
    /// window; set from the rules in force).
    pub fn set_user_window(&mut self, window: i64) {
        self.user_window = window.clamp(1, MAX_WINDOW.as_millis() as i64);
    }

    /// A room's state and, for a chat line (`recent`), its user's state
    /// with the line added (see [`UserState::push`]); created if new,
    /// each looked up once.
    pub fn entries(
        &mut self,
        user: u64,
        room: u64,
        at: i64,
        recent: Option<Recent>,
    ) -> (Option<&mut UserState>, &mut RoomState) {
        self.clock = self.clock.max(at);
        let full = self.users.len() >= self.max_users || self.rooms.len() >= self.max_users;
        if full
            && ((recent.is_some() && !self.users.contains_key(&user))
                || !self.rooms.contains_key(&room))
        {
            self.prune(true);
        }
        let user = recent.map(|recent| {
            let horizon = recent.at - self.user_window;
            let state = self.users.entry(user).or_default();
            let before = state.len();
            state.push(recent, horizon);
            self.messages = self.messages + state.len() - before;
            state
        });
        (user, self.rooms.entry(room).or_default())
    }

    /// Drops users idle past the longest user window and rooms idle past
    /// the longest window (all but the most recent half when `hard`).
    pub fn prune(&mut self, hard: bool) {
        let mut horizon = self.clock - self.user_window;
        let mut rooms_horizon = self.clock - MAX_WINDOW.as_millis() as i64;
        if hard {
            // Keep the more recently active half.
            horizon =
                horizon.max(median(self.users.values().map(|u| u.last_at)).unwrap_or(horizon));
            // Rooms at the cap halve on their own times: joins and leaves
            // touch rooms but not users' times, so the users' half may keep
            // every room.
            if self.rooms.len() >= self.max_users {
                rooms_horizon = rooms_horizon
                    .max(median(self.rooms.values().map(|r| r.last_at)).unwrap_or(horizon));
            }
        }
        let mut dropped = 0;
        self.users.retain(|_, u| {
            let keep = u.last_at > horizon;
            if !keep {
                dropped += u.len();
            }
            keep
        });
        self.messages -= dropped;
        self.rooms.retain(|_, r| r.last_at > rooms_horizon);
        // Give back what a burst grew, once the maps are mostly empty.
        if self.users.capacity() > 4 * self.users.len().max(1024) {
            self.users.shrink_to_fit();
        }
        if self.rooms.capacity() > 4 * self.rooms.len().max(1024) {
            self.rooms.shrink_to_fit();
        }
    }

    /// Users and rooms held.
    pub fn sizes(&self) -> (usize, usize) {
        (self.users.len(), self.rooms.len())
    }

    /// Users' recent messages held.
    pub fn messages(&self) -> usize {
        self.messages
    }
}

/// The same text seen from several users and rooms.
#[derive(Debug, Default)]
pub struct SpamTrack {
    /// First time.
    pub first_at: i64,
    /// Last time.
    pub last_at: i64,
    /// Distinct users by [`user_key`] (capped).
    pub users: Vec<u64>,
    /// Distinct rooms by [`room_key`] (capped).
    pub rooms: Vec<u64>,
    /// Evidence.
    pub ids: Vec<MessageRef>,
}

impl SpamTrack {
    /// Adds one copy.
    pub fn add(&mut self, at: i64, user: u64, room: u64, id: &MessageRef) {
        if self.first_at == 0 {
            self.first_at = at;
        }
        self.last_at = self.last_at.max(at);
        if self.users.len() < 64 && !self.users.contains(&user) {
            self.users.push(user);
        }
        if self.rooms.len() < 64 && !self.rooms.contains(&room) {
            self.rooms.push(room);
        }
        if self.ids.len() < MAX_EVIDENCE {
            self.ids.push(id.clone());
        }
    }
}

/// Process-wide state: who has been seen.
#[derive(Debug)]
pub struct GlobalState {
    seen: FastMap<u64, i64>,
    max_seen: usize,
}

impl GlobalState {
    /// Remembering at most `max_seen` users.
    pub fn new(max_seen: usize) -> Self {
        GlobalState {
            seen: FastMap::default(),
            max_seen: max_seen.max(1024),
        }
    }

    /// Records that a user (by [`user_key`]) was active; true if never
    /// seen before.
    pub fn observe_user(&mut self, user: u64, at: i64) -> bool {
        if self.seen.len() >= self.max_seen && !self.seen.contains_key(&user) {
            // Forget the least recently active half.
            let horizon = median(self.seen.values().copied()).unwrap_or(0);
            self.seen.retain(|_, t| *t > horizon);
        }
        self.seen.insert(user, at).is_none()
    }

    /// First-seen entries held.
    pub fn seen(&self) -> usize {
        self.seen.len()
    }
}
