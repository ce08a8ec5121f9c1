//! The WebSocket protocol of docs/contracts.md: client operations, server
//! frames (encoded once, shared by every subscriber) and `pos`.
//!
//! `pos` is `<partition>:<offset>` of the room's partition in
//! `game-messages`: a room's records live in one partition (key = room), so
//! a Kafka offset orders them and says exactly what a client has seen. The
//! string is opaque to clients.

use axum::extract::ws::Utf8Bytes;
use parley_shared::action::ActionRequest;
use parley_shared::publish::{PublishRequest, Refusal};
use serde::Deserialize;

/// Close and error codes.
pub mod code {
    /// A frame the server cannot understand.
    pub const BAD_REQUEST: u16 = 4400;
    /// The token expired while connected.
    pub const TOKEN_EXPIRED: u16 = 4401;
    /// The token does not allow this room or operation.
    pub const FORBIDDEN: u16 = 4403;
    /// Too many subscriptions on one connection.
    pub const TOO_MANY: u16 = 4429;
    /// A recovery from Kafka failed midway; reconnect with `since`.
    pub const RECOVERY_FAILED: u16 = 4500;
    /// The client reads too slowly.
    pub const SLOW: u16 = 4008;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client closed without a code (never sent in a close frame).
    pub const NO_STATUS: u16 = 1005;
    /// The connection broke without a close frame (never sent either).
    pub const ABNORMAL: u16 = 1006;

    /// The metric label of a close code: the code itself when it is one of
    /// RFC 6455's (1000–1015) or this server's, else `other` (a client
    /// picks its own code, and labels must stay a bounded set).
    pub fn label(code: u16) -> String {
        let ours = [
            BAD_REQUEST,
            TOKEN_EXPIRED,
            FORBIDDEN,
            TOO_MANY,
            RECOVERY_FAILED,
            SLOW,
        ];
        if (1000..=1015).contains(&code) || ours.contains(&code) {
            code.to_string()
        } else {
            "other".to_owned()
        }
    }
}

/// A position in a room's stream: the Kafka partition and offset of the last
/// record the client has seen (or is in sync with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Partition of the room.
    pub partition: i32,
    /// Last offset seen; `-1` before the first record.
    pub offset: i64,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.partition, self.offset)
    }
}

impl std::str::FromStr for Pos {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid pos {s:?}");
        let (p, o) = s.split_once(':').ok_or_else(bad)?;
        let partition: i32 = p.parse().map_err(|_| bad())?;
        let offset: i64 = o.parse().map_err(|_| bad())?;
        if partition < 0 || offset < -1 {
            return Err(bad());
        }
        Ok(Pos { partition, offset })
    }
}

/// A client → server frame.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientOp {
    /// Join a room, optionally replaying what was missed after `since`.
    Subscribe {
        /// Room.
        room_id: String,
        /// Last `pos` seen.
        #[serde(default)]
        since: Option<String>,
    },
    /// Leave a room.
    Unsubscribe {
        /// Room.
        room_id: String,
    },
    /// Receive moderation alerts (moderators and admins).
    SubscribeAlerts,
    /// Application-level ping.
    Ping,
    /// Publish a message to a room (docs/contracts.md, "Publishing");
    /// parsed by [`ClientOp::parse`] itself.
    #[serde(skip)]
    Publish(Box<PublishRequest>),
    /// `{"op":"moderate","action":…}` (moderators and admins).
    #[serde(skip)]
    Moderate(Box<ActionRequest>),
}

/// Longest refusal reason sent back for a frame, in bytes.
pub const MAX_REASON_BYTES: usize = 200;

impl ClientOp {
    /// Parses one text frame; the error is a reason of at most [`MAX_REASON_BYTES`].
    pub fn parse(text: &str) -> Result<ClientOp, String> {
        #[derive(Deserialize)]
        struct Op<'a> {
            #[serde(borrow)]
            op: std::borrow::Cow<'a, str>,
        }
        let op: Op<'_> = serde_json::from_str(text).map_err(|e| short_reason(&e))?;
        // `publish` is read straight into its struct: `meta` keeps its exact
        // text, which an internally tagged enum cannot do.
        if op.op == "moderate" {
            return crate::moderation::Acting::parse(text)
                .map(|request| ClientOp::Moderate(Box::new(request)))
                .map_err(|refusal| refusal.to_string());
        }
        if op.op == "publish" {
            return serde_json::from_str::<PublishRequest>(text)
                .map(|request| ClientOp::Publish(Box::new(request)))
                .map_err(|e| short_reason(&e));
        }
        serde_json::from_str(text).map_err(|e| short_reason(&e))
    }

    /// The `client_msg_id` of a frame that could not be parsed, if it has
    /// one, so the refusal names the publish it answers.
    pub fn client_msg_id_of(text: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Key {
            #[serde(default)]
            client_msg_id: Option<serde_json::Value>,
        }
        let key = serde_json::from_str::<Key>(text).ok()?.client_msg_id?;
        let key = key.as_str()?;
        Some(key.chars().take(64).collect())
    }
}

/// A parse error as a reason: the client's text it quotes is cut at
/// [`MAX_REASON_BYTES`], on a character boundary.
fn short_reason(error: &serde_json::Error) -> String {
    let mut reason = error.to_string();
    let mut end = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.truncate(end);
    reason
}

/// The `message` frame for a record: its original JSON is embedded as is,
/// so a frame costs one copy, made once for every subscriber.
pub fn message_frame(room_id: &str, pos: Pos, message_json: &[u8]) -> Option<Utf8Bytes> {
    let room = serde_json::to_string(room_id).ok()?;
    let message = std::str::from_utf8(message_json).ok()?;
    let mut out = String::with_capacity(message.len() + room.len() + 64);
    out.push_str(r#"{"op":"message","room_id":"#);
    out.push_str(&room);
    out.push_str(r#","pos":""#);
    out.push_str(&pos.to_string());
    out.push_str(r#"","message":"#);
    out.push_str(message.trim());
    out.push('}');
    Some(Utf8Bytes::from(out))
}

/// The `alert` frame for an alert's original JSON.
pub fn alert_frame(alert_json: &str) -> Utf8Bytes {
    Utf8Bytes::from(format!(r#"{{"op":"alert","alert":{}}}"#, alert_json.trim()))
}

/// The `subscribed` frame.
pub fn subscribed_frame(room_id: &str, recovered: bool, pos: Pos) -> Utf8Bytes {
    Utf8Bytes::from(
        serde_json::json!({
            "op": "subscribed",
            "room_id": room_id,
            "recovered": recovered,
            "pos": pos.to_string(),
        })
        .to_string(),
    )
}

/// The answer to `subscribe_alerts`.
pub fn subscribed_alerts_frame() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"op":"subscribed_alerts"}"#)
}

/// The `unsubscribed` acknowledgement.
pub fn unsubscribed_frame(room_id: &str) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::json!({"op": "unsubscribed", "room_id": room_id}).to_string())
}

/// An `error` frame.
pub fn error_frame(code: u16, reason: &str, room_id: Option<&str>) -> Utf8Bytes {
    let mut frame = serde_json::json!({"op": "error", "code": code, "reason": reason});
    if let Some(room) = room_id {
        frame["room_id"] = serde_json::Value::from(room);
    }
    Utf8Bytes::from(frame.to_string())
}

/// The `published` answer: Kafka acknowledged the record at `pos`.
pub fn published_frame(client_msg_id: &str, message_id: &str, pos: Pos) -> Utf8Bytes {
    Utf8Bytes::from(
        serde_json::json!({
            "op": "published",
            "client_msg_id": client_msg_id,
            "message_id": message_id,
            "pos": pos.to_string(),
        })
        .to_string(),
    )
}

/// The `error` answer to a refused publish; the connection stays open.
pub fn publish_error_frame(
    refusal: &Refusal,
    client_msg_id: &str,
    room_id: Option<&str>,
) -> Utf8Bytes {
    let mut frame = serde_json::json!({
        "op": "error",
        "code": refusal.code(),
        "reason": refusal.to_string(),
        "client_msg_id": client_msg_id,
    });
    if let Some(room) = room_id {
        frame["room_id"] = serde_json::Value::from(room);
    }
    if let Some(ms) = refusal.retry_after_ms() {
        frame["retry_after_ms"] = serde_json::Value::from(ms);
    }
    Utf8Bytes::from(frame.to_string())
}

/// `{"op":"retract","room_id","message_id"}`: a deleted message.
pub fn retract_frame(room_id: &str, message_id: &str) -> Utf8Bytes {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    Utf8Bytes::from(format!(
        r#"{{"op":"retract","room_id":{},"message_id":{}}}"#,
        quote(room_id),
        quote(message_id)
    ))
}

/// `{"op":"moderated","action_id"}`: an action Kafka acknowledged.
pub fn moderated_frame(action_id: &str) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::json!({"op": "moderated", "action_id": action_id}).to_string())
}

/// The `pong` frame.
pub fn pong_frame() -> Utf8Bytes {
    Utf8Bytes::from_static(r#"{"op":"pong"}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn close_code_labels_are_a_bounded_set() {
        assert_eq!(code::label(1000), "1000");
        assert_eq!(code::label(code::NO_STATUS), "1005");
        assert_eq!(code::label(code::SLOW), "4008");
        assert_eq!(code::label(code::TOO_MANY), "4429");
        assert_eq!(code::label(3000), "other");
        assert_eq!(code::label(4999), "other");
    }

    #[test]
    fn client_ops_parse_as_specified() {
        assert_eq!(
            ClientOp::parse(r#"{"op":"subscribe","room_id":"r1","since":"3:42"}"#),
            Ok(ClientOp::Subscribe {
                room_id: "r1".into(),
                since: Some("3:42".into())
            })
        );
        assert_eq!(
            ClientOp::parse(r#"{"op":"subscribe","room_id":"r1"}"#),
            Ok(ClientOp::Subscribe {
                room_id: "r1".into(),
                since: None
            })
        );
        assert_eq!(
            ClientOp::parse(r#"{"op":"subscribe_alerts"}"#),
            Ok(ClientOp::SubscribeAlerts)
        );
        assert_eq!(ClientOp::parse(r#"{"op":"ping"}"#), Ok(ClientOp::Ping));
        let Ok(ClientOp::Publish(publish)) = ClientOp::parse(
            r#"{"op":"publish","room_id":"r1","content":"hi","client_msg_id":"k1","extra":1}"#,
        ) else {
            panic!("publish parses")
        };
        assert_eq!(publish.room_id.as_deref(), Some("r1"));
        assert_eq!(
            (publish.content.as_str(), publish.client_msg_id.as_str()),
            ("hi", "k1")
        );
        assert!(ClientOp::parse(r#"{"op":"launch"}"#).is_err());
        assert!(ClientOp::parse(r#"{"op":"subscribe"}"#).is_err());
        assert!(ClientOp::parse("not json").is_err());
    }

    #[test]
    fn a_long_unknown_op_is_refused_not_panicked_on() {
        // Found by `fuzz/` (client_frame): the reason quotes the op, and the
        // cut at 200 bytes fell inside a character.
        let frame = format!(r#"{{"op":"{}"}}"#, "é".repeat(150));
        let reason = ClientOp::parse(&frame).expect_err("unknown op");
        assert!(reason.starts_with("unknown variant"), "{reason}");
        assert!(reason.len() <= MAX_REASON_BYTES && reason.len() >= MAX_REASON_BYTES - 3);
    }

    #[test]
    fn message_frames_embed_the_record_and_are_valid_json() {
        let frame = message_frame(
            "room \"1\"",
            Pos {
                partition: 2,
                offset: 9,
            },
            br#" {"v":1,"content":"hi"} "#,
        )
        .expect("frame");
        let v: serde_json::Value = serde_json::from_str(frame.as_str()).expect("json");
        assert_eq!(v["op"], "message");
        assert_eq!(v["room_id"], "room \"1\"");
        assert_eq!(v["pos"], "2:9");
        assert_eq!(v["message"]["content"], "hi");
        let v: serde_json::Value =
            serde_json::from_str(alert_frame(r#"{"alert_id":"a"}"#).as_str()).expect("json");
        assert_eq!(v["alert"]["alert_id"], "a");
    }

    proptest! {
        #[test]
        fn pos_round_trips(partition in 0i32..10_000, offset in -1i64..i64::MAX) {
            let pos = Pos { partition, offset };
            prop_assert_eq!(pos.to_string().parse::<Pos>(), Ok(pos));
        }

        #[test]
        fn arbitrary_pos_text_never_panics(text in ".{0,40}") {
            let _ = text.parse::<Pos>();
        }

        #[test]
        fn any_op_name_parses_or_gets_a_short_reason(op in "\\PC{0,150}") {
            let frame = serde_json::json!({ "op": op, "room_id": "r" }).to_string();
            if let Err(reason) = ClientOp::parse(&frame) {
                prop_assert!(reason.len() <= MAX_REASON_BYTES);
            }
        }
    }
}
