//! Arbitrary bytes as a `game-messages` record payload through
//! `GameMessage::decode_record`, the one decoder every worker uses.
//!
//! Checks: no panic; the DLQ error line is one line and its kind matches the
//! size rule; an accepted message validates, is accepted with its own room as
//! the key and refused under another key, and survives a serde_json
//! round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_shared::message::{DecodeError, DecodeErrorKind, MAX_RECORD_BYTES};
use parley_shared::GameMessage;

fuzz_target!(|data: &[u8]| {
    let decoded = GameMessage::decode_record(None, Some(data));
    assert_eq!(
        decoded,
        GameMessage::decode(data),
        "decode_record(None, _) != decode"
    );
    let message = match decoded {
        Ok(message) => message,
        Err(e) => return check_error(&e, data),
    };
    assert_eq!(
        message.validate(),
        Ok(()),
        "accepted but invalid: {message:?}"
    );

    let own_key = GameMessage::decode_record(Some(message.room_id.as_bytes()), Some(data));
    assert_eq!(
        own_key.as_ref(),
        Ok(&message),
        "refused under its own room key"
    );
    let other_key = format!("{}\u{0}", message.room_id);
    match GameMessage::decode_record(Some(other_key.as_bytes()), Some(data)) {
        Err(e @ DecodeError::KeyMismatch { .. }) => check_error(&e, data),
        other => panic!("a foreign key was not refused: {other:?}"),
    }

    let json = match message.to_json() {
        Ok(json) => json,
        Err(e) => panic!("an accepted message does not serialize: {e}"),
    };
    assert_eq!(
        GameMessage::decode(&json).as_ref(),
        Ok(&message),
        "round trip changed the message; re-encoded as {}",
        String::from_utf8_lossy(&json)
    );
});

/// The DLQ headers of a refused record: one line, and the right kind.
fn check_error(e: &DecodeError, data: &[u8]) {
    let line = e.to_string();
    assert!(
        !line.contains(['\n', '\r']),
        "DLQ error is not one line: {line:?}"
    );
    let too_large = data.len() > MAX_RECORD_BYTES;
    assert_eq!(e.kind() == DecodeErrorKind::TooLarge, too_large, "{e:?}");
}
