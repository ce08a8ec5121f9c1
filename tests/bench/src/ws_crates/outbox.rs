//! A connection's send queue, bounded in bytes, as websocket-sender's
//! `outbox.rs`: the broadcaster pushes shared frames without waiting; the
//! writer task drains everything queued in one go. One difference: over
//! the bound a frame is dropped and counted (the client sees the gap),
//! where websocket-sender closes the connection (4008), so an overloaded
//! run still measures every connection to the end.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// What happened to a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for the writer.
    Queued,
    /// Dropped: the queue was full.
    Dropped,
    /// Dropped: the connection is closing.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
    closed: bool,
}

/// The bounded queue between the broadcaster and one socket writer.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
}

impl Outbox {
    /// A queue holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame unless the queue is full or closed.
    pub fn push(&self, frame: Utf8Bytes) -> Pushed {
        let mut state = self.lock();
        if state.closed {
            return Pushed::Closed;
        }
        if state.bytes + frame.len() > self.capacity {
            return Pushed::Dropped;
        }
        state.bytes += frame.len();
        state.frames.push_back(frame);
        drop(state);
        self.ready.notify_one();
        Pushed::Queued
    }

    /// Closes the queue; the writer stops at its next wake-up.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Moves every queued frame into `out`; false once closed.
    pub fn drain_into(&self, out: &mut Vec<Utf8Bytes>) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        out.extend(state.frames.drain(..));
        state.bytes = 0;
        true
    }

    /// Waits until there is something to drain or the queue closed.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Utf8Bytes {
        Utf8Bytes::from("x".repeat(n))
    }

    #[test]
    fn over_the_bound_frames_are_dropped_and_the_queue_kept() {
        let outbox = Outbox::new(100);
        assert_eq!(outbox.push(frame(60)), Pushed::Queued);
        assert_eq!(outbox.push(frame(60)), Pushed::Dropped);
        assert_eq!(outbox.push(frame(40)), Pushed::Queued);
        let mut out = Vec::new();
        assert!(outbox.drain_into(&mut out));
        assert_eq!(out.iter().map(|f| f.len()).collect::<Vec<_>>(), [60, 40]);
        assert_eq!(
            outbox.push(frame(100)),
            Pushed::Queued,
            "drained frees room"
        );
    }

    #[test]
    fn closed_queues_take_nothing_and_stop_the_writer() {
        let outbox = Outbox::new(100);
        outbox.close();
        assert_eq!(outbox.push(frame(1)), Pushed::Closed);
        assert!(!outbox.drain_into(&mut Vec::new()));
    }

    #[tokio::test]
    async fn a_push_wakes_the_writer() {
        let outbox = std::sync::Arc::new(Outbox::new(100));
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.ready().await })
        };
        tokio::task::yield_now().await;
        outbox.push(frame(1));
        tokio::time::timeout(std::time::Duration::from_secs(2), writer)
            .await
            .expect("woken")
            .expect("task");
    }
}
