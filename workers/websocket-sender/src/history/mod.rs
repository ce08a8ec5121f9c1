//! What a client missed or never saw: [`recovery`] replays a room's records
//! from Kafka when the room buffer no longer covers a reconnect's `since`;
//! [`store`] serves older messages from ClickHouse over HTTP.

pub mod recovery;
pub mod store;

pub use recovery::{KafkaReplay, ReplayRange};
pub use store::{HistoryQuery, HistoryStore, DEFAULT_LIMIT, MAX_LIMIT};
