//! A `moderation-alerts` record as the runtime decodes it: only the room is
//! read; the original JSON goes to moderators untouched.

use parley_shared::runtime::{Decode, DecodeFailure};

/// A valid `moderation-alerts` record.
#[derive(Debug, Clone)]
pub struct AlertRecord {
    /// Room the alert is about.
    pub room_id: String,
    /// The original JSON.
    pub json: String,
}

#[derive(serde::Deserialize)]
struct AlertHead {
    alert_id: String,
    room_id: String,
}

impl Decode for AlertRecord {
    fn decode(_key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Self, DecodeFailure> {
        let payload = payload.ok_or(DecodeFailure {
            kind: "parse",
            reason: "empty payload".into(),
        })?;
        let json = std::str::from_utf8(payload).map_err(|e| DecodeFailure {
            kind: "parse",
            reason: format!("not UTF-8: {e}"),
        })?;
        let head: AlertHead = serde_json::from_str(json).map_err(|e| DecodeFailure {
            kind: "schema",
            reason: format!("not an Alert v1: {e}"),
        })?;
        if head.alert_id.is_empty() {
            return Err(DecodeFailure {
                kind: "schema",
                reason: "empty alert_id".into(),
            });
        }
        Ok(AlertRecord {
            room_id: head.room_id,
            json: json.to_owned(),
        })
    }
}
