//! A record → one RowBinary row, encoded once at submit time into the
//! partition's batch buffer: [`Row`] is what the pipeline needs of a record
//! type; GameMessage → `parley.messages` is here, Action v1 →
//! `parley.moderation_actions` in [`crate::action_row`]. Holding encoded
//! rows (about 300 bytes each, one allocation per batch) instead of decoded
//! structs keeps memory flat and lets a retry resend the same bytes. The
//! `clickhouse` crate does not expose its row serializer for this, so the
//! few RowBinary rules needed are here, proven against the real server by
//! the integration tests.

use parley_shared::runtime::Decode;
use parley_shared::GameMessage;

/// A record type db-writer stores: one RowBinary row of its table.
pub trait Row: Decode {
    /// The table's columns, in the order [`Row::encode`] writes them.
    const COLUMNS: &'static str;

    /// Appends the record as one row, with its Kafka position and the
    /// insert time (seconds since the epoch).
    fn encode(&self, buf: &mut Vec<u8>, partition: i32, offset: i64, ingested_at: u32);

    /// The record's own time in ms since the epoch (`sent_at`,
    /// `created_at`), for the end-to-end latency metric.
    fn event_ms(&self) -> i64;
}

impl Row for GameMessage {
    const COLUMNS: &'static str = COLUMNS;

    fn encode(&self, buf: &mut Vec<u8>, partition: i32, offset: i64, ingested_at: u32) {
        encode(buf, self, partition, offset, ingested_at);
    }

    fn event_ms(&self) -> i64 {
        self.sent_at
    }
}

/// The messages table's columns, in the order rows are encoded.
pub const COLUMNS: &str = "message_id, v, game_id, room_id, user_id, user_name, kind, content, \
     sent_at, visibility, meta, kafka_partition, kafka_offset, ingested_at";

/// Where one encoded row sits in its batch buffer, with what acks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowMeta {
    /// Kafka partition.
    pub partition: i32,
    /// Assignment epoch of the partition when the row was read.
    pub epoch: u64,
    /// Kafka offset.
    pub offset: i64,
    /// The record's own time (`sent_at`, an action's `created_at`), for
    /// the end-to-end latency metric.
    pub sent_at: i64,
    /// First byte of the row in the buffer.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Appends `message` as one RowBinary row (see [`COLUMNS`]) to `buf`.
pub fn encode(
    buf: &mut Vec<u8>,
    message: &GameMessage,
    partition: i32,
    offset: i64,
    ingested_at: u32,
) {
    put_str(buf, &message.message_id);
    buf.extend_from_slice(&message.v.to_le_bytes());
    put_str(buf, &message.game_id);
    put_str(buf, &message.room_id);
    put_str(buf, &message.user_id);
    put_nullable_str(buf, message.user_name.as_deref());
    put_str(buf, message.kind.as_str());
    put_str(buf, &message.content);
    buf.extend_from_slice(&message.sent_at.to_le_bytes());
    put_str(buf, message.visibility.as_str());
    put_str(buf, message.meta.as_ref().map_or("", |m| m.as_json()));
    buf.extend_from_slice(&partition.to_le_bytes());
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&ingested_at.to_le_bytes());
}

/// RowBinary `Nullable(String)`: 1 for NULL, else 0 and the string.
pub(crate) fn put_nullable_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            buf.push(0);
            put_str(buf, s);
        }
        None => buf.push(1),
    }
}

/// RowBinary `String`: LEB128 length, then the bytes.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    let mut n = s.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf.push(byte);
            break;
        }
        buf.push(byte | 0x80);
    }
    buf.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_get_leb128_lengths() {
        let mut buf = Vec::new();
        put_str(&mut buf, "ab");
        assert_eq!(buf, [2, b'a', b'b']);
        buf.clear();
        put_str(&mut buf, &"x".repeat(300));
        assert_eq!(&buf[..2], &[0xAC, 0x02]);
        assert_eq!(buf.len(), 302);
    }

    #[test]
    fn a_row_encodes_every_column_in_order() {
        let message = GameMessage::decode(
            br#"{"v":1,"message_id":"m","game_id":"g","room_id":"r","user_id":"u","kind":"join","content":"","sent_at":7}"#,
        )
        .expect("valid");
        let mut buf = Vec::new();
        encode(&mut buf, &message, 3, 42, 100);
        let mut expected = vec![1, b'm', 1, 0, 0, 0, 1, b'g', 1, b'r', 1, b'u', 1];
        expected.extend([4, b'j', b'o', b'i', b'n', 0]);
        expected.extend(7i64.to_le_bytes());
        expected.extend([3, b'a', b'l', b'l', 0]);
        expected.extend(3i32.to_le_bytes());
        expected.extend(42i64.to_le_bytes());
        expected.extend(100u32.to_le_bytes());
        assert_eq!(buf, expected);
    }
}
