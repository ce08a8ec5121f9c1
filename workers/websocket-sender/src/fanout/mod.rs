//! Fan-out: each `game-messages` record into this instance's rooms.
//!
//! [`pipeline`] (the group's step) → [`registry`] (rooms sharded by id; a
//! room's [`ring`] buffer and its subscribers; [`partitions`] says from which
//! offset a room's buffer is complete) → each subscriber's byte-bounded
//! [`outbox`], drained by its socket writer in `edge`. Publishing never
//! waits on a connection.

pub mod outbox;
pub mod partitions;
pub mod pipeline;
pub mod registry;
pub mod ring;

pub use outbox::Outbox;
pub use partitions::PartitionTable;
pub use pipeline::{RoomFanout, RoomRecord};
pub use registry::RoomRegistry;
