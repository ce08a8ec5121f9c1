//! A connection's send queue, bounded in bytes. The fan-out pushes shared
//! frames without ever waiting; a connection whose queue overflows is marked
//! slow and closed (4008) by its writer, so one slow reader never slows the
//! room.

use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// Why a connection closes: the server's code, or the client's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// WebSocket close code.
    pub code: u16,
    /// Close reason text.
    pub reason: &'static str,
}

impl CloseReason {
    /// Whether the code may be sent in a close frame (RFC 6455 7.4.1: 1005
    /// and 1006 only describe a close, they are never sent).
    pub fn on_wire(&self) -> bool {
        !matches!(
            self.code,
            crate::protocol::code::NO_STATUS | crate::protocol::code::ABNORMAL
        )
    }
}

/// `sent_at` marker of alert frames (control frames use 0).
pub const ALERT: i64 = -1;

/// One queued frame and when its record was sent (ms; 0 for control frames).
#[derive(Debug, Clone)]
pub struct Queued {
    /// The encoded frame.
    pub frame: Utf8Bytes,
    /// `sent_at` of the record, for delivery latency.
    pub sent_at: i64,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Queued>,
    bytes: usize,
    closed: Option<CloseReason>,
}

/// The bounded queue between the fan-out and one socket writer.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    drained: Notify,
    closing: Notify,
    capacity: usize,
}

impl Outbox {
    /// A queue holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            drained: Notify::new(),
            closing: Notify::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Queues a frame; over capacity the connection is closed as slow.
    /// Returns false if the frame was not queued (closed).
    pub fn push(&self, frame: Utf8Bytes, sent_at: i64) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            return false;
        }
        if state.bytes + frame.len() > self.capacity {
            state.closed = Some(CloseReason {
                code: crate::protocol::code::SLOW,
                reason: "slow",
            });
            state.frames.clear();
            state.bytes = 0;
            drop(state);
            self.ready.notify_one();
            self.closing.notify_one();
            return false;
        }
        state.bytes += frame.len();
        state.frames.push_back(Queued { frame, sent_at });
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Queues a frame whatever the size (replies and bounded replays, whose
    /// producer waits with [`Outbox::wait_below`]).
    pub fn push_forced(&self, frame: Utf8Bytes, sent_at: i64) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            return false;
        }
        state.bytes += frame.len();
        state.frames.push_back(Queued { frame, sent_at });
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Closes the connection with `reason` (the first reason wins).
    pub fn close(&self, reason: CloseReason) {
        let mut state = self.lock();
        if state.closed.is_none() {
            state.closed = Some(reason);
        }
        drop(state);
        self.ready.notify_one();
        self.drained.notify_waiters();
        self.closing.notify_one();
    }

    /// The close reason, once closed.
    pub fn closed(&self) -> Option<CloseReason> {
        self.lock().closed.clone()
    }

    /// Bytes queued now.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Moves every queued frame into `out`; returns the close reason if the
    /// connection must close instead.
    pub fn drain_into(&self, out: &mut Vec<Queued>) -> Option<CloseReason> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Some(reason.clone());
        }
        out.extend(state.frames.drain(..));
        state.bytes = 0;
        drop(state);
        self.drained.notify_waiters();
        None
    }

    /// Waits until there is something to drain or the queue closed.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Waits until the queue is closed (by overflow or [`Outbox::close`]).
    pub async fn wait_closed(&self) {
        while self.closed().is_none() {
            self.closing.notified().await;
        }
    }

    /// Waits until fewer than `bytes` are queued (or the queue closed).
    pub async fn wait_below(&self, bytes: usize) {
        loop {
            let drained = self.drained.notified();
            {
                let state = self.lock();
                if state.closed.is_some() || state.bytes < bytes {
                    return;
                }
            }
            drained.await;
        }
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Utf8Bytes {
        Utf8Bytes::from("x".repeat(n))
    }

    #[test]
    fn overflow_marks_the_connection_slow_and_drops_its_queue() {
        let outbox = Outbox::new(100);
        assert!(outbox.push(frame(60), 1));
        assert!(!outbox.push(frame(60), 2));
        let mut out = Vec::new();
        let reason = outbox.drain_into(&mut out).expect("closed");
        assert_eq!(reason.code, 4008);
        assert!(out.is_empty());
        assert!(!outbox.push(frame(1), 3), "closed stays closed");
    }

    #[test]
    fn draining_frees_capacity_in_order() {
        let outbox = Outbox::new(100);
        for i in 0..5 {
            assert!(outbox.push(frame(20), i));
        }
        let mut out = Vec::new();
        assert!(outbox.drain_into(&mut out).is_none());
        assert_eq!(
            out.iter().map(|q| q.sent_at).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(outbox.queued_bytes(), 0);
        assert!(outbox.push_forced(frame(500), 9), "forced ignores capacity");
    }

    #[tokio::test]
    async fn wait_below_returns_once_drained() {
        let outbox = std::sync::Arc::new(Outbox::new(100));
        outbox.push_forced(frame(80), 0);
        let waiter = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.wait_below(50).await })
        };
        tokio::task::yield_now().await;
        let mut out = Vec::new();
        outbox.drain_into(&mut out);
        tokio::time::timeout(std::time::Duration::from_secs(2), waiter)
            .await
            .expect("woken")
            .expect("task");
    }
}
