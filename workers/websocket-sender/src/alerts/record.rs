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

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(payload: Option<&[u8]>) -> Result<AlertRecord, DecodeFailure> {
        <AlertRecord as Decode>::decode(None, payload)
    }

    #[test]
    fn an_alert_keeps_its_room_and_its_json_untouched() {
        let json = r#"{"v":1,"alert_id":"a-1","room_id":"r1","rule":"flood"}"#;
        let record = decode(Some(json.as_bytes())).expect("an alert");
        assert_eq!(record.room_id, "r1");
        assert_eq!(record.json, json);
    }

    #[test]
    fn what_is_not_an_alert_is_refused_with_its_kind() {
        let kind = |payload: Option<&[u8]>| decode(payload).map(|_| ()).map_err(|e| e.kind);
        assert_eq!(kind(None), Err("parse"));
        assert_eq!(kind(Some(b"\xff\xfe")), Err("parse"));
        assert_eq!(kind(Some(b"{\"room_id\":\"r1\"}")), Err("schema"));
        assert_eq!(
            kind(Some(br#"{"alert_id":"","room_id":"r1"}"#)),
            Err("schema")
        );
    }
}
