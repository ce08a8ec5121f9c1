//! The one room every connection joins, and the broadcaster that feeds it
//! at a fixed rate: each message is encoded once and the same shared frame
//! is pushed into every connection's outbox (websocket-sender's fan-out,
//! minus Kafka and the room lookup, which cost the same with either crate).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::time::Instant;

use crate::ws_crates::frame::{self, Stamp};
use crate::ws_crates::outbox::{Outbox, Pushed};

/// Longest a broadcast may run past its nominal duration (a saturated
/// server falls behind; it must still stop by itself).
const LATE_LIMIT: Duration = Duration::from_secs(30);

/// The connections in the broadcast.
#[derive(Debug, Default)]
pub struct Hub {
    members: Mutex<HashMap<u64, Arc<Outbox>>>,
    next_id: AtomicU64,
}

/// What one broadcast did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    /// Messages broadcast (sequence numbers 0..messages).
    pub messages: u64,
    /// Seconds from the first to the last message.
    pub seconds: f64,
    /// Frames dropped at full outboxes.
    pub dropped: u64,
    /// Connections in the broadcast at the end.
    pub members: usize,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Hub::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Outbox>>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection's outbox; returns its id for [`Hub::leave`].
    pub fn join(&self, outbox: Arc<Outbox>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, outbox);
        id
    }

    /// Removes a connection.
    pub fn leave(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Pushes `frame` to every member; returns how many dropped it.
    pub fn push_all(&self, frame: &Utf8Bytes) -> u64 {
        let members = self.lock();
        members
            .values()
            .filter(|outbox| outbox.push(frame.clone()) == Pushed::Dropped)
            .count() as u64
    }

    /// Broadcasts `rate` messages/s for `duration`. Message k is due at
    /// k / rate s and carries that due time as `sent_us`, so a broadcaster
    /// delayed by a busy server shows as latency (no coordinated omission).
    pub async fn broadcast(&self, rate: u32, duration: Duration, payload_bytes: usize) -> Sent {
        let rate = u64::from(rate.max(1));
        let total = rate * duration.as_secs().max(1);
        let start = Instant::now();
        let start_us = frame::now_us();
        let due_at = |k: u64| Duration::from_micros(k * 1_000_000 / rate);
        let (mut sent, mut dropped) = (0u64, 0u64);
        while sent < total && start.elapsed() < duration + LATE_LIMIT {
            tokio::time::sleep_until(start + due_at(sent)).await;
            let elapsed = start.elapsed();
            while sent < total && due_at(sent) <= elapsed {
                let stamp = Stamp {
                    seq: sent,
                    sent_us: start_us + due_at(sent).as_micros() as u64,
                };
                dropped += self.push_all(&frame::encode(stamp, payload_bytes));
                sent += 1;
            }
        }
        Sent {
            messages: sent,
            seconds: start.elapsed().as_secs_f64(),
            dropped,
            members: self.lock().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn broadcasts_rate_times_duration_messages_in_order_to_every_member() {
        let hub = Hub::new();
        let outboxes: Vec<_> = (0..3).map(|_| Arc::new(Outbox::new(1 << 20))).collect();
        for outbox in &outboxes {
            hub.join(Arc::clone(outbox));
        }
        let sent = hub.broadcast(50, Duration::from_secs(2), 200).await;
        assert_eq!(sent.messages, 100);
        assert_eq!(sent.dropped, 0);
        assert_eq!(sent.members, 3);
        for outbox in &outboxes {
            let mut frames = Vec::new();
            assert!(outbox.drain_into(&mut frames));
            let seqs: Vec<u64> = frames
                .iter()
                .filter_map(|f| frame::decode(f.as_str()))
                .map(|s| s.seq)
                .collect();
            assert_eq!(seqs, (0..100).collect::<Vec<_>>());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn full_outboxes_drop_and_left_members_get_nothing() {
        let hub = Hub::new();
        let small = Arc::new(Outbox::new(650));
        let gone = Arc::new(Outbox::new(1 << 20));
        hub.join(Arc::clone(&small));
        let id = hub.join(Arc::clone(&gone));
        hub.leave(id);
        let sent = hub.broadcast(4, Duration::from_secs(1), 300).await;
        assert_eq!(sent.messages, 4);
        assert_eq!(sent.dropped, 2, "two 300-byte frames fit in 650 bytes");
        let mut frames = Vec::new();
        assert!(gone.drain_into(&mut frames));
        assert!(frames.is_empty());
    }
}
