//! Action v1 → one RowBinary row of `parley.moderation_actions`
//! (deploy/clickhouse/002_moderation_actions.sql): every Action field, the
//! optional ones as `Nullable`, then the Kafka position and `ingested_at`,
//! as the messages table has them.

use parley_shared::action::ModerationAction;

use crate::row::{put_nullable_str, put_str, Row};

/// The actions table's columns, in the order rows are encoded.
pub const ACTION_COLUMNS: &str = "action_id, v, action, room_id, user_id, message_id, until, \
     reason, actor, alert_id, created_at, kafka_partition, kafka_offset, ingested_at";

impl Row for ModerationAction {
    const COLUMNS: &'static str = ACTION_COLUMNS;

    fn encode(&self, buf: &mut Vec<u8>, partition: i32, offset: i64, ingested_at: u32) {
        put_str(buf, &self.action_id);
        buf.extend_from_slice(&self.v.to_le_bytes());
        put_str(buf, self.action.as_str());
        put_str(buf, &self.room_id);
        put_nullable_str(buf, self.user_id.as_deref());
        put_nullable_str(buf, self.message_id.as_deref());
        match self.until {
            Some(until) => {
                buf.push(0);
                buf.extend_from_slice(&until.to_le_bytes());
            }
            None => buf.push(1),
        }
        put_str(buf, &self.reason);
        put_str(buf, &self.actor);
        put_nullable_str(buf, self.alert_id.as_deref());
        buf.extend_from_slice(&self.created_at.to_le_bytes());
        buf.extend_from_slice(&partition.to_le_bytes());
        buf.extend_from_slice(&offset.to_le_bytes());
        buf.extend_from_slice(&ingested_at.to_le_bytes());
    }

    fn event_ms(&self) -> i64 {
        self.created_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(json: &str) -> ModerationAction {
        ModerationAction::decode_record(Some(json.as_bytes())).expect("a valid action")
    }

    #[test]
    fn a_deletion_encodes_every_column_in_order() {
        let deletion = action(
            r#"{"v":1,"action_id":"a","action":"delete_message","room_id":"r","message_id":"m","actor":"mod","created_at":9}"#,
        );
        let mut buf = Vec::new();
        deletion.encode(&mut buf, 2, 40, 100);
        let mut expected = vec![1, b'a', 1, 0, 0, 0];
        expected.extend([14]);
        expected.extend(b"delete_message");
        expected.extend([1, b'r']);
        expected.extend([1]); // user_id NULL
        expected.extend([0, 1, b'm']); // message_id
        expected.extend([1]); // until NULL
        expected.extend([0]); // reason ""
        expected.extend([3, b'm', b'o', b'd']);
        expected.extend([1]); // alert_id NULL
        expected.extend(9i64.to_le_bytes());
        expected.extend(2i32.to_le_bytes());
        expected.extend(40i64.to_le_bytes());
        expected.extend(100u32.to_le_bytes());
        assert_eq!(buf, expected);
        assert_eq!(deletion.event_ms(), 9);
    }

    #[test]
    fn a_mute_carries_its_user_expiry_and_alert() {
        let mute = action(
            r#"{"v":1,"action_id":"a","action":"mute","room_id":"r","user_id":"u","until":7,"reason":"spam","actor":"anomaly-detector","alert_id":"x","created_at":5}"#,
        );
        let mut buf = Vec::new();
        mute.encode(&mut buf, 0, 0, 0);
        let mut head = vec![1, b'a', 1, 0, 0, 0, 4, b'm', b'u', b't', b'e', 1, b'r'];
        head.extend([0, 1, b'u']); // user_id
        head.extend([1]); // message_id NULL
        head.push(0);
        head.extend(7i64.to_le_bytes());
        head.extend([4, b's', b'p', b'a', b'm']);
        assert_eq!(&buf[..head.len()], &head[..]);
        let rest = &buf[head.len()..];
        assert_eq!(rest[0] as usize, "anomaly-detector".len());
        assert_eq!(&rest[17..20], &[0, 1, b'x'], "alert_id");
    }
}
