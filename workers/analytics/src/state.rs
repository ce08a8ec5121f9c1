//! Window state per partition. Rooms live in one partition (key = room),
//! so a partition's state moves with it: on revoke it is dropped, on assign
//! it starts clean (and the `partitions_warming` metric says so until its
//! longest window has filled).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::rooms::Rooms;
use crate::windows::UserWindows;

/// One partition's windows.
#[derive(Debug)]
pub struct PartitionState {
    /// When this state started (ms).
    pub started_at: i64,
    /// Active users per game label.
    pub users: HashMap<Arc<str>, UserWindows, foldhash::fast::RandomState>,
    /// Room activity.
    pub rooms: Rooms,
}

impl PartitionState {
    /// Clean state started at `now`.
    pub fn new(now: i64, max_rooms: usize) -> Self {
        PartitionState {
            started_at: now,
            users: HashMap::default(),
            rooms: Rooms::new(max_rooms),
        }
    }

    /// Drops what no window needs any more.
    pub fn expire(&mut self, now: i64) {
        for windows in self.users.values_mut() {
            windows.expire(now);
        }
        self.users.retain(|_, w| !w.is_empty());
        self.rooms.expire(now);
    }

    /// Approximate heap bytes.
    pub fn bytes(&self) -> usize {
        self.users.values().map(UserWindows::bytes).sum::<usize>() + self.rooms.len() * 160
    }
}

/// A partition's state, shared by its consumer and the reporter.
pub type SharedState = Arc<Mutex<PartitionState>>;

/// Locks a partition's state (recovering from a panicked holder).
pub fn lock(state: &SharedState) -> MutexGuard<'_, PartitionState> {
    state.lock()
}

/// Every partition this process holds.
#[derive(Debug, Default)]
pub struct StateTable {
    partitions: Mutex<HashMap<i32, SharedState>>,
}

impl StateTable {
    fn map(&self) -> MutexGuard<'_, HashMap<i32, SharedState>> {
        self.partitions.lock()
    }

    /// Starts clean state for `partition`.
    pub fn start(&self, partition: i32, now: i64, max_rooms: usize) -> SharedState {
        let state = Arc::new(Mutex::new(PartitionState::new(now, max_rooms)));
        self.map().insert(partition, Arc::clone(&state));
        state
    }

    /// Drops `partition`'s state.
    pub fn drop_partition(&self, partition: i32) {
        self.map().remove(&partition);
    }

    /// Every partition's state.
    pub fn all(&self) -> Vec<SharedState> {
        self.map().values().cloned().collect()
    }
}
