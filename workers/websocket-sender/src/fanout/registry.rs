//! The rooms of this instance, sharded by room id: each room's recovery
//! buffer and subscribers. Publishing a record appends it to its room's
//! buffer and pushes the one encoded frame to every subscriber allowed to
//! see it; subscribing registers a connection and, under the same lock,
//! queues what it missed — so nothing falls between replay and live.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::outbox::Outbox;
use super::partitions::PartitionTable;
use super::ring::{Entry, Pushed, RoomRing};
use crate::protocol::{code, error_frame, retract_frame, subscribed_frame, Pos};

/// Shards of the room map (a power of two).
const SHARDS: usize = 64;

/// One record for the rooms.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Room (the Kafka key).
    pub room: String,
    /// Partition.
    pub partition: i32,
    /// The record, encoded as a frame, with its offset and visibility.
    pub entry: Entry,
}

/// A connection subscribed to a room.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// Connection id.
    pub conn: u64,
    /// Its send queue.
    pub outbox: Arc<Outbox>,
    /// Whether moderators-only records may reach it.
    pub sees_moderators: bool,
    /// The token's user (a ban ends this user's subscriptions).
    pub user: Arc<str>,
}

#[derive(Debug)]
struct Member {
    subscriber: Subscriber,
    /// Records at or below this offset were already sent (or are not wanted).
    after: i64,
}

#[derive(Debug)]
struct Room {
    partition: i32,
    ring: RoomRing,
    created_from: i64,
    members: Vec<Member>,
}

#[derive(Debug, Default)]
struct Shard {
    rooms: HashMap<String, Room>,
    /// Buffered records in arrival order, to drop the oldest across rooms.
    order: VecDeque<(String, i64)>,
    bytes: usize,
    entries: usize,
}

/// What a subscription got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// Registered; the `subscribed` frame and any buffered replay are queued.
    Live {
        /// Position the client is in sync with.
        pos: Pos,
        /// Whether a `since` was honoured in full.
        recovered: bool,
        /// Records replayed from the buffer.
        replayed: usize,
    },
    /// The buffer does not reach back to `since`: read the partition from
    /// `from` up to (not including) `until`, then subscribe again with
    /// `since` at `until - 1`.
    Gap {
        /// Partition to read.
        partition: i32,
        /// First offset the client misses.
        from: i64,
        /// First offset the buffer holds for certain.
        until: i64,
    },
    /// The live read of the room's partition has not started yet.
    NotReady,
}

/// Counts of one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// What the buffer did with the record.
    pub outcome: Pushed,
    /// Subscribers the frame was queued for.
    pub delivered: usize,
    /// Subscribers dropped because their queue overflowed.
    pub overflowed: usize,
}

/// Buffer sizes right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Rooms in memory.
    pub rooms: usize,
    /// Records buffered.
    pub entries: usize,
    /// Bytes buffered.
    pub bytes: usize,
}

/// Every room of this instance.
#[derive(Debug)]
pub struct RoomRegistry {
    shards: Box<[Mutex<Shard>]>,
    hasher: std::collections::hash_map::RandomState,
    partitions: Arc<PartitionTable>,
    room_buffer: usize,
    shard_budget: usize,
}

impl RoomRegistry {
    /// Rooms keeping `room_buffer` records each and `buffer_bytes` in all.
    pub fn new(partitions: Arc<PartitionTable>, room_buffer: usize, buffer_bytes: usize) -> Self {
        RoomRegistry {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: Default::default(),
            partitions,
            room_buffer: room_buffer.max(1),
            shard_budget: (buffer_bytes / SHARDS).max(64 * 1024),
        }
    }

    /// The partition table.
    pub fn partitions(&self) -> &Arc<PartitionTable> {
        &self.partitions
    }

    fn shard(&self, room: &str) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(room) as usize) & (SHARDS - 1);
        self.shards[index].lock()
    }

    /// Buffers a record and queues it for its room's subscribers.
    pub fn publish(&self, delivery: Delivery) -> Published {
        let Delivery {
            room: room_id,
            partition,
            entry,
        } = delivery;
        let state = self.partitions.get(partition);
        state.start_at(entry.offset);
        let base = state.coverage_base().unwrap_or(entry.offset);
        let mut shard = self.shard(&room_id);
        let shard = &mut *shard;
        let room = shard
            .rooms
            .entry(room_id.clone())
            .or_insert_with(|| Room::new(partition, base));
        if room.partition != partition {
            // The producer moved the room (topic grew, partitioner changed):
            // the old buffer says nothing about the new partition.
            shard.bytes -= room.ring.bytes();
            shard.entries -= room.ring.len();
            room.partition = partition;
            room.ring = RoomRing::new(base);
            room.created_from = base;
        }
        let (offset, moderators_only, sent_at) =
            (entry.offset, entry.moderators_only, entry.sent_at);
        let frame = entry.frame.clone();
        let bytes = frame.len();
        let outcome = room.ring.push(entry);
        let mut published = Published {
            outcome,
            delivered: 0,
            overflowed: 0,
        };
        if outcome == Pushed::New {
            room.members.retain(|m| {
                if offset <= m.after || (moderators_only && !m.subscriber.sees_moderators) {
                    return true;
                }
                if m.subscriber.outbox.push(frame.clone(), sent_at) {
                    published.delivered += 1;
                    true
                } else {
                    published.overflowed += 1;
                    false
                }
            });
            shard.bytes += bytes;
            shard.entries += 1;
            shard.order.push_back((room_id.clone(), offset));
            while room.ring.len() > self.room_buffer {
                if let Some(old) = room.ring.pop_oldest() {
                    shard.bytes -= old.frame.len();
                    shard.entries -= 1;
                }
            }
        }
        state.processed(offset);
        self.enforce_budget(shard);
        published
    }

    /// Drops the oldest buffered records of the shard until it fits its
    /// budget; rooms left empty and unwatched are forgotten.
    fn enforce_budget(&self, shard: &mut Shard) {
        while shard.bytes > self.shard_budget {
            let Some((room_id, offset)) = shard.order.pop_front() else {
                break;
            };
            let Some(room) = shard.rooms.get_mut(&room_id) else {
                continue;
            };
            if room.ring.oldest_offset() == Some(offset) {
                if let Some(old) = room.ring.pop_oldest() {
                    shard.bytes -= old.frame.len();
                    shard.entries -= 1;
                }
            }
            if room.ring.is_empty() && room.members.is_empty() {
                self.forget(shard, &room_id);
            }
        }
        // Entries already dropped by the per-room cap leave stale order
        // records behind; compact when they dominate.
        if shard.order.len() > 4 * shard.entries + 1024 {
            let rooms = &shard.rooms;
            shard.order.retain(|(room_id, offset)| {
                rooms
                    .get(room_id)
                    .and_then(|r| r.ring.oldest_offset())
                    .is_some_and(|oldest| *offset >= oldest)
            });
        }
    }

    fn forget(&self, shard: &mut Shard, room_id: &str) {
        if let Some(room) = shard.rooms.remove(room_id) {
            shard.bytes -= room.ring.bytes();
            shard.entries -= room.ring.len();
            if room.ring.covered_from() > room.created_from {
                self.partitions
                    .get(room.partition)
                    .forgot_through(room.ring.covered_from() - 1);
            }
        }
    }

    /// Subscribes `subscriber` to `room_id`: without `since`, from now on;
    /// with `since`, after it (buffered records are queued at once). When
    /// `announce`, the `subscribed` frame is queued first.
    pub fn subscribe(
        &self,
        room_id: &str,
        subscriber: &Subscriber,
        since: Option<Pos>,
        announce: bool,
    ) -> Subscribed {
        let mut shard = self.shard(room_id);
        let shard = &mut *shard;
        let partition = match shard.rooms.get(room_id) {
            Some(room) => room.partition,
            None => self.partitions.partition_of(room_id),
        };
        let state = self.partitions.get(partition);
        let Some(base) = state.coverage_base() else {
            return Subscribed::NotReady;
        };
        let processed = state.processed_through();
        let room = shard
            .rooms
            .entry(room_id.to_owned())
            .or_insert_with(|| Room::new(partition, base));
        room.members
            .retain(|m| m.subscriber.conn != subscriber.conn);
        let outbox = &subscriber.outbox;
        let (pos, recovered, after, replayed) = match since {
            Some(since) if since.partition == partition && since.offset >= processed => {
                // The client is ahead of this instance: skip what it has.
                (since, true, since.offset, 0)
            }
            Some(since) if since.partition == partition => match room.ring.after(since.offset) {
                Some(missed) => {
                    if announce {
                        outbox.push_forced(subscribed_frame(room_id, true, since), 0);
                    }
                    let mut replayed = 0;
                    for e in missed {
                        if !e.moderators_only || subscriber.sees_moderators {
                            outbox.push_forced(e.frame.clone(), e.sent_at);
                            replayed += 1;
                        }
                    }
                    let after = room.ring.last_offset().max(since.offset);
                    room.members.push(Member {
                        subscriber: subscriber.clone(),
                        after,
                    });
                    return Subscribed::Live {
                        pos: since,
                        recovered: true,
                        replayed,
                    };
                }
                None => {
                    return Subscribed::Gap {
                        partition,
                        from: since.offset + 1,
                        until: room.ring.covered_from(),
                    }
                }
            },
            // No `since`, or one from another partition layout: from now on.
            _ => {
                let pos = Pos {
                    partition,
                    offset: processed,
                };
                (pos, false, processed, 0)
            }
        };
        if announce {
            outbox.push_forced(subscribed_frame(room_id, recovered, pos), 0);
        }
        room.members.push(Member {
            subscriber: subscriber.clone(),
            after,
        });
        Subscribed::Live {
            pos,
            recovered,
            replayed,
        }
    }

    /// Removes a connection from a room.
    pub fn unsubscribe(&self, room_id: &str, conn: u64) {
        let mut shard = self.shard(room_id);
        let shard = &mut *shard;
        if let Some(room) = shard.rooms.get_mut(room_id) {
            room.members.retain(|m| m.subscriber.conn != conn);
            if room.members.is_empty() && room.ring.is_empty() {
                self.forget(shard, room_id);
            }
        }
    }

    /// Retracts a deleted message: drops it from the room's buffer (so no
    /// recovery replays it) and queues a `retract` frame for the room's
    /// subscribers (only moderators, if only they could have seen it).
    /// Returns how many subscribers were told.
    pub fn retract(&self, room_id: &str, message_id: &str) -> usize {
        let hash = id_hash(message_id);
        let mut shard = self.shard(room_id);
        let shard = &mut *shard;
        let Some(room) = shard.rooms.get_mut(room_id) else {
            return 0;
        };
        let moderators_only = match room.ring.remove(hash) {
            Some(removed) => {
                shard.bytes -= removed.frame.len();
                shard.entries -= 1;
                removed.moderators_only
            }
            None => false,
        };
        let frame = retract_frame(room_id, message_id);
        let mut told = 0;
        for member in &room.members {
            if !moderators_only || member.subscriber.sees_moderators {
                member.subscriber.outbox.push_forced(frame.clone(), 0);
                told += 1;
            }
        }
        told
    }

    /// Ends `user_id`'s subscriptions to `room_id` (a ban): each gets an
    /// `error` 4403 for the room and no more of its records. Returns how
    /// many subscriptions ended.
    pub fn evict(&self, room_id: &str, user_id: &str) -> usize {
        let mut shard = self.shard(room_id);
        let Some(room) = shard.rooms.get_mut(room_id) else {
            return 0;
        };
        let frame = error_frame(code::FORBIDDEN, "banned from this room", Some(room_id));
        let before = room.members.len();
        room.members.retain(|m| {
            if &*m.subscriber.user == user_id {
                m.subscriber.outbox.push_forced(frame.clone(), 0);
                false
            } else {
                true
            }
        });
        before - room.members.len()
    }

    /// Rooms, records and bytes held now.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            usage.rooms += shard.rooms.len();
            usage.entries += shard.entries;
            usage.bytes += shard.bytes;
        }
        usage
    }
}

impl Room {
    fn new(partition: i32, covered_from: i64) -> Self {
        Room {
            partition,
            ring: RoomRing::new(covered_from),
            created_from: covered_from,
            members: Vec::new(),
        }
    }
}

/// A stable 64-bit hash of a `message_id`, for duplicate detection.
pub fn id_hash(message_id: &str) -> u64 {
    // FNV-1a: stable across processes, cheap for short ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in message_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A frame-sized test record.
#[cfg(test)]
pub(crate) fn test_delivery(
    room: &str,
    partition: i32,
    offset: i64,
    moderators_only: bool,
) -> Delivery {
    Delivery {
        room: room.into(),
        partition,
        entry: Entry {
            offset,
            frame: axum::extract::ws::Utf8Bytes::from(format!("{room}@{offset}")),
            moderators_only,
            sent_at: 1,
            id_hash: id_hash(&format!("{room}-{offset}")),
        },
    }
}

#[cfg(test)]
mod tests;
