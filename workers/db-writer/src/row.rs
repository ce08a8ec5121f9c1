//! GameMessage → ClickHouse row: a pure mapping, borrowed (no copies).

use clickhouse::Row;
use parley_shared::GameMessage;
use serde::Serialize;

/// A message held for insertion, with its offset.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// The decoded message.
    pub message: GameMessage,
    /// Its Kafka offset.
    pub offset: i64,
}

/// One row of `parley.messages`, in column order of the table.
#[derive(Debug, Row, Serialize)]
pub struct MessageRow<'a> {
    /// Dedup key.
    pub message_id: &'a str,
    /// Schema version.
    pub v: u32,
    /// Game.
    pub game_id: &'a str,
    /// Room.
    pub room_id: &'a str,
    /// Author.
    pub user_id: &'a str,
    /// Display name.
    pub user_name: Option<&'a str>,
    /// Event kind.
    pub kind: &'a str,
    /// Text.
    pub content: &'a str,
    /// Milliseconds since the epoch.
    pub sent_at: i64,
    /// `all` or `moderators`.
    pub visibility: &'a str,
    /// `meta` JSON text, empty when absent.
    pub meta: &'a str,
    /// Source partition.
    pub kafka_partition: i32,
    /// Source offset.
    pub kafka_offset: i64,
    /// Insert time, seconds since the epoch (DateTime).
    pub ingested_at: u32,
}

impl<'a> MessageRow<'a> {
    /// Builds the row for a stored message.
    pub fn new(stored: &'a StoredMessage, partition: i32, ingested_at: u32) -> Self {
        let m = &stored.message;
        MessageRow {
            message_id: &m.message_id,
            v: m.v,
            game_id: &m.game_id,
            room_id: &m.room_id,
            user_id: &m.user_id,
            user_name: m.user_name.as_deref(),
            kind: m.kind.as_str(),
            content: &m.content,
            sent_at: m.sent_at,
            visibility: m.visibility.as_str(),
            meta: m.meta.as_ref().map_or("", |meta| meta.as_json()),
            kafka_partition: partition,
            kafka_offset: stored.offset,
            ingested_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_map_to_empty_or_null() {
        let message = GameMessage::decode(
            br#"{"v":1,"message_id":"m","game_id":"g","room_id":"r","user_id":"u","kind":"join","content":"","sent_at":7}"#,
        )
        .expect("valid");
        let stored = StoredMessage {
            message,
            offset: 42,
        };
        let row = MessageRow::new(&stored, 3, 100);
        assert_eq!((row.user_name, row.meta, row.visibility), (None, "", "all"));
        assert_eq!(
            (row.kafka_partition, row.kafka_offset, row.kind),
            (3, 42, "join")
        );
    }
}
