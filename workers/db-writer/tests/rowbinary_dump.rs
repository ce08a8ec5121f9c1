//! Writes batches exactly as db-writer encodes them (RowBinary, through
//! [`Row::encode`]) to `$PARLEY_ROWBINARY_DIR`, for tests/chdb/compat_chdb.py
//! to insert into ClickHouse 26.9 with `FORMAT RowBinary`. Without the
//! variable it only checks the batches encode.

use db_writer::row::Row;
use parley_shared::action::ModerationAction;
use parley_shared::GameMessage;

/// Messages covering every column shape: optional name and meta, moderators'
/// visibility, multi-byte UTF-8, content longer than 127 bytes (a two-byte
/// length).
const MESSAGES: &[&str] = &[
    r#"{"v":1,"message_id":"rb-1","game_id":"g","room_id":"r","user_id":"u1","user_name":"Ünï ✓","kind":"chat","content":"hello","sent_at":1700000000000,"meta":{"platform":"pc"}}"#,
    r#"{"v":1,"message_id":"rb-2","game_id":"g","room_id":"r","user_id":"u2","kind":"join","content":"","sent_at":1700000000001}"#,
    r#"{"v":1,"message_id":"rb-3","game_id":"g","room_id":"r","user_id":"u3","kind":"chat","content":"CONTENT_300","sent_at":1700000000002,"visibility":"moderators"}"#,
];

/// Actions with and without their optional fields.
const ACTIONS: &[&str] = &[
    r#"{"v":1,"action_id":"a-1","action":"delete_message","room_id":"r","message_id":"rb-2","reason":"spam","actor":"mod1","created_at":1700000000100}"#,
    r#"{"v":1,"action_id":"a-2","action":"mute","room_id":"r","user_id":"u1","until":1700000900000,"reason":"flood","actor":"anomaly-detector","alert_id":"al-1","created_at":1700000000200}"#,
];

fn batch<T: Row>(records: &[&str]) -> Vec<u8> {
    let mut buf = Vec::new();
    for (offset, json) in records.iter().enumerate() {
        let json = json.replace("CONTENT_300", &"é".repeat(150));
        let record = T::decode(Some(b"r"), Some(json.as_bytes()))
            .unwrap_or_else(|e| panic!("{json}: {e:?}"));
        record.encode(&mut buf, 0, offset as i64, 1_700_000_000);
    }
    buf
}

#[test]
fn batches_as_db_writer_encodes_them() {
    let messages = batch::<GameMessage>(MESSAGES);
    let actions = batch::<ModerationAction>(ACTIONS);
    assert!(!messages.is_empty() && !actions.is_empty());
    if let Some(dir) = std::env::var_os("PARLEY_ROWBINARY_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("dump dir");
        std::fs::write(dir.join("messages.rowbinary"), &messages).expect("write");
        std::fs::write(dir.join("actions.rowbinary"), &actions).expect("write");
    }
}
