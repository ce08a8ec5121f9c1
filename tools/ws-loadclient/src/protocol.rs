//! The wire protocols the load client speaks: Parley's (`GET /ws?token=`,
//! `subscribe` ops) and Centrifugo's JSON client protocol in both its
//! current form (v2: `{"id":1,"connect":{…}}`, pushes under `push.pub`) and
//! the legacy one (v1: `{"id":1,"method":1,"params":{…}}`, pushes as id-less
//! replies) that older Centrifuge-based servers speak, including each
//! one's client-side publish (Parley's `publish` op and `published` ack;
//! Centrifugo's `publish` command and its reply). Pure: frames in, events
//! out.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::json;

/// Which server protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Parley websocket-sender: `/ws?token=`, `{"op":"subscribe"}`.
    Parley,
    /// Centrifugo v5/v6 JSON protocol (v2) at `/connection/websocket`.
    Centrifugo,
    /// Legacy Centrifuge JSON protocol (v1), e.g. Centrifuge library ≤ 0.15.
    CentrifugoV1,
}

/// Centrifugo channel namespace the benchmark publishes rooms into.
pub const ROOM_NAMESPACE: &str = "room:";

/// What one server frame (or one line of a batched Centrifugo frame) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A chat message of a room.
    Message {
        /// Room id (Centrifugo: the channel without the namespace).
        room: Cow<'a, str>,
        /// The message id.
        message_id: Cow<'a, str>,
        /// `sent_at` of the message, ms since the epoch.
        sent_at: i64,
        /// Kafka offset from a Parley `pos` ("partition:offset"), if any.
        offset: Option<u64>,
        /// The publishing load client's send time (µs since the epoch), if
        /// the message carries one ([`BENCH_SENT_US`] in its `meta`).
        sent_us: Option<i64>,
    },
    /// A publish was acknowledged: Parley's `published` (matched by
    /// `client_msg_id`), Centrifugo's publish reply (matched by command id).
    Published {
        /// Parley: the publish's `client_msg_id`.
        client_msg_id: Option<Cow<'a, str>>,
        /// Centrifugo: the id of the publish command.
        id: Option<u64>,
    },
    /// A publish was refused (Parley: an `error` naming the
    /// `client_msg_id`; Centrifugo: an error reply to a publish command id,
    /// i.e. at or above [`PUBLISH_ID_BASE`]).
    PublishRefused {
        /// Parley: the publish's `client_msg_id`.
        client_msg_id: Option<Cow<'a, str>>,
        /// Centrifugo: the id of the publish command.
        id: Option<u64>,
        /// The error code (Parley 4429 = over a rate).
        code: u64,
    },
    /// A subscription was confirmed (Centrifugo: the reply of that id).
    Subscribed {
        /// Room id for Parley, `None` for Centrifugo (matched by reply id).
        room: Option<Cow<'a, str>>,
        /// Centrifugo command id the reply answers.
        id: Option<u64>,
    },
    /// Centrifugo's connect reply.
    Connected,
    /// An error frame or error reply.
    Error(String),
    /// Centrifugo v2 server ping (`{}`): must be answered with `{}`.
    Ping,
    /// Anything else (pongs, alerts, joins…).
    Other,
}

/// The URL path of the protocol's WebSocket endpoint, with the token where
/// the protocol carries it in the URL.
pub fn ws_path(protocol: Protocol, token: &str) -> String {
    match protocol {
        Protocol::Parley => format!("/ws?token={token}"),
        Protocol::Centrifugo | Protocol::CentrifugoV1 => "/connection/websocket".to_owned(),
    }
}

/// The frame that authenticates after the handshake, if the protocol has one.
pub fn connect_frame(protocol: Protocol, token: &str) -> Option<String> {
    match protocol {
        Protocol::Parley => None,
        Protocol::Centrifugo => Some(json!({"id": 1, "connect": {"token": token}}).to_string()),
        Protocol::CentrifugoV1 => Some(json!({"id": 1, "params": {"token": token}}).to_string()),
    }
}

/// The frame that subscribes to `room`; `id` numbers Centrifugo commands.
pub fn subscribe_frame(protocol: Protocol, room: &str, id: u64) -> String {
    let channel = format!("{ROOM_NAMESPACE}{room}");
    match protocol {
        Protocol::Parley => json!({"op": "subscribe", "room_id": room}).to_string(),
        Protocol::Centrifugo => json!({"id": id, "subscribe": {"channel": channel}}).to_string(),
        Protocol::CentrifugoV1 => {
            json!({"id": id, "method": 1, "params": {"channel": channel}}).to_string()
        }
    }
}

/// Centrifugo command ids of publishes start here (connect is 1,
/// subscribes follow it), so an error reply says which kind it answers.
pub const PUBLISH_ID_BASE: u64 = 1_000_000;

/// The `meta` field (Parley) or data field (Centrifugo) carrying the
/// publishing client's send time in µs since the epoch.
pub const BENCH_SENT_US: &str = "bench_sent_us";

/// The frame that publishes `content` to `room` with the client's send
/// time `sent_us` (µs since the epoch) in `meta`. Parley: the `publish`
/// op, keyed by `client_msg_id`. Centrifugo (v2): a `publish` command of
/// id `id` whose data is a GameMessage-shaped object (`message_id` =
/// `client_msg_id`, `sent_at` in ms), so subscribers parse it like any
/// message. The legacy v1 protocol is not used for publishing.
pub fn publish_frame(
    protocol: Protocol,
    room: &str,
    content: &str,
    client_msg_id: &str,
    id: u64,
    sent_us: i64,
) -> String {
    let meta = json!({ BENCH_SENT_US: sent_us });
    match protocol {
        Protocol::Parley => json!({
            "op": "publish", "room_id": room, "content": content,
            "client_msg_id": client_msg_id, "meta": meta,
        })
        .to_string(),
        Protocol::Centrifugo | Protocol::CentrifugoV1 => json!({
            "id": id,
            "publish": {
                "channel": format!("{ROOM_NAMESPACE}{room}"),
                "data": {
                    "message_id": client_msg_id, "room_id": room, "content": content,
                    "sent_at": sent_us / 1000, "meta": meta,
                },
            },
        })
        .to_string(),
    }
}

/// The answer to a Centrifugo v2 server ping.
pub const CENTRIFUGO_PONG: &str = "{}";

#[derive(Deserialize)]
struct GameMessageFields<'a> {
    #[serde(borrow)]
    message_id: Cow<'a, str>,
    sent_at: i64,
    /// Kept raw: read only when it names [`BENCH_SENT_US`] (replayed
    /// records carry other meta that the run mode never needs).
    #[serde(borrow, default)]
    meta: Option<&'a serde_json::value::RawValue>,
}

impl GameMessageFields<'_> {
    fn sent_us(&self) -> Option<i64> {
        #[derive(Deserialize)]
        struct BenchMeta {
            bench_sent_us: Option<i64>,
        }
        let raw = self.meta?.get();
        if !raw.contains(BENCH_SENT_US) {
            return None;
        }
        serde_json::from_str::<BenchMeta>(raw).ok()?.bench_sent_us
    }
}

#[derive(Deserialize)]
struct ParleyFrame<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    room_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pos: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<GameMessageFields<'a>>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client_msg_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CentrifugoError<'a> {
    code: u64,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Publication<'a> {
    #[serde(borrow)]
    data: GameMessageFields<'a>,
}

#[derive(Deserialize)]
struct PushV2<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow, default)]
    r#pub: Option<Publication<'a>>,
}

#[derive(Deserialize)]
struct ReplyV2<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(borrow, default)]
    error: Option<CentrifugoError<'a>>,
    #[serde(borrow, default)]
    push: Option<PushV2<'a>>,
    #[serde(default)]
    connect: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    subscribe: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    publish: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct PushV1<'a> {
    #[serde(default, rename = "type")]
    kind: u64,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    /// Parsed as a publication only for pushes of type 0.
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct ReplyV1<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(borrow, default)]
    error: Option<CentrifugoError<'a>>,
    #[serde(borrow, default)]
    result: Option<PushV1<'a>>,
}

/// Parses a Parley frame.
pub fn parse_parley(text: &str) -> Result<Event<'_>, serde_json::Error> {
    let frame: ParleyFrame<'_> = serde_json::from_str(text)?;
    Ok(match frame.op.as_ref() {
        "message" => match (frame.room_id, frame.message) {
            (Some(room), Some(message)) => Event::Message {
                room,
                sent_us: message.sent_us(),
                message_id: message.message_id,
                sent_at: message.sent_at,
                offset: frame.pos.as_deref().and_then(pos_offset),
            },
            _ => Event::Error(format!("message frame without room or message: {text}")),
        },
        "subscribed" => Event::Subscribed {
            room: frame.room_id,
            id: None,
        },
        "published" => Event::Published {
            client_msg_id: frame.client_msg_id,
            id: None,
        },
        "error" if frame.client_msg_id.is_some() => Event::PublishRefused {
            client_msg_id: frame.client_msg_id,
            id: None,
            code: frame
                .code
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
        },
        "error" => Event::Error(format!(
            "error {}: {}",
            frame.code.unwrap_or_default(),
            frame.reason.unwrap_or_default()
        )),
        _ => Event::Other,
    })
}

/// The offset of a Parley `pos` of the form `"<partition>:<offset>"`.
pub fn pos_offset(pos: &str) -> Option<u64> {
    pos.rsplit_once(':')
        .and_then(|(_, offset)| offset.parse().ok())
}

/// Parses one line of a Centrifugo v2 frame.
pub fn parse_centrifugo_v2(line: &str) -> Result<Event<'_>, serde_json::Error> {
    let reply: ReplyV2<'_> = serde_json::from_str(line)?;
    if let Some(error) = reply.error {
        if let Some(id) = reply.id.filter(|&id| id >= PUBLISH_ID_BASE) {
            return Ok(Event::PublishRefused {
                client_msg_id: None,
                id: Some(id),
                code: error.code,
            });
        }
        return Ok(Event::Error(format!(
            "error {}: {}",
            error.code, error.message
        )));
    }
    if let Some(push) = reply.push {
        return Ok(match push.r#pub {
            Some(publication) => centrifugo_message(push.channel, publication),
            None => Event::Other,
        });
    }
    Ok(match reply.id {
        Some(_) if reply.connect.is_some() => Event::Connected,
        Some(id) if reply.subscribe.is_some() => Event::Subscribed {
            room: None,
            id: Some(id),
        },
        Some(id) if reply.publish.is_some() => Event::Published {
            client_msg_id: None,
            id: Some(id),
        },
        None if reply.connect.is_none() && reply.subscribe.is_none() => Event::Ping,
        _ => Event::Other,
    })
}

/// Parses one line of a legacy Centrifuge v1 frame; `connect_id` is the id
/// of the connect command (its reply has no marker of its own).
pub fn parse_centrifugo_v1(line: &str, connect_id: u64) -> Result<Event<'_>, serde_json::Error> {
    let reply: ReplyV1<'_> = serde_json::from_str(line)?;
    if let Some(error) = reply.error {
        return Ok(Event::Error(format!(
            "error {}: {}",
            error.code, error.message
        )));
    }
    Ok(match (reply.id, reply.result) {
        (Some(id), _) if id == connect_id => Event::Connected,
        (Some(id), _) => Event::Subscribed {
            room: None,
            id: Some(id),
        },
        // Push type 0 is a publication.
        (
            None,
            Some(PushV1 {
                kind: 0,
                channel: Some(channel),
                data: Some(data),
            }),
        ) => centrifugo_message(channel, serde_json::from_str(data.get())?),
        _ => Event::Other,
    })
}

fn centrifugo_message<'a>(channel: Cow<'a, str>, publication: Publication<'a>) -> Event<'a> {
    let room = match channel {
        Cow::Borrowed(c) => Cow::Borrowed(c.strip_prefix(ROOM_NAMESPACE).unwrap_or(c)),
        Cow::Owned(c) => Cow::Owned(c.strip_prefix(ROOM_NAMESPACE).unwrap_or(&c).to_owned()),
    };
    Event::Message {
        room,
        sent_us: publication.data.sent_us(),
        message_id: publication.data.message_id,
        sent_at: publication.data.sent_at,
        offset: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parley_frames() {
        let msg = r#"{"op":"message","room_id":"g:eu-1","pos":"3:42","message":{"v":1,"message_id":"m1","sent_at":1700,"content":"hi \"x\""}}"#;
        assert_eq!(
            parse_parley(msg).expect("parse"),
            Event::Message {
                room: "g:eu-1".into(),
                message_id: "m1".into(),
                sent_at: 1700,
                offset: Some(42),
                sent_us: None,
            }
        );
        let sub = r#"{"op":"subscribed","room_id":"g:eu-1","recovered":false,"pos":"3:0"}"#;
        assert_eq!(
            parse_parley(sub).expect("parse"),
            Event::Subscribed {
                room: Some("g:eu-1".into()),
                id: None
            }
        );
        let err = r#"{"op":"error","code":4403,"reason":"room not allowed"}"#;
        assert!(matches!(parse_parley(err), Ok(Event::Error(e)) if e.contains("4403")));
        assert_eq!(
            parse_parley(r#"{"op":"pong"}"#).expect("parse"),
            Event::Other
        );
        assert!(parse_parley("not json").is_err());
        assert_eq!(pos_offset("11:9001"), Some(9001));
        assert_eq!(pos_offset("junk"), None);
    }

    #[test]
    fn centrifugo_v2_frames() {
        assert_eq!(
            parse_centrifugo_v2(r#"{"id":1,"connect":{"client":"c","version":"6"}}"#)
                .expect("parse"),
            Event::Connected
        );
        assert_eq!(
            parse_centrifugo_v2(r#"{"id":7,"subscribe":{}}"#).expect("parse"),
            Event::Subscribed {
                room: None,
                id: Some(7)
            }
        );
        let push = r#"{"push":{"channel":"room:g:eu-1","pub":{"data":{"message_id":"m2","sent_at":5},"offset":3}}}"#;
        assert_eq!(
            parse_centrifugo_v2(push).expect("parse"),
            Event::Message {
                room: "g:eu-1".into(),
                message_id: "m2".into(),
                sent_at: 5,
                offset: None,
                sent_us: None,
            }
        );
        assert_eq!(parse_centrifugo_v2("{}").expect("parse"), Event::Ping);
        assert!(matches!(
            parse_centrifugo_v2(r#"{"id":2,"error":{"code":103,"message":"permission denied"}}"#),
            Ok(Event::Error(_))
        ));
    }

    #[test]
    fn centrifugo_v1_frames() {
        assert_eq!(
            parse_centrifugo_v1(r#"{"id":1,"result":{"client":"c","version":"0.15"}}"#, 1)
                .expect("parse"),
            Event::Connected
        );
        assert_eq!(
            parse_centrifugo_v1(r#"{"id":2,"result":{}}"#, 1).expect("parse"),
            Event::Subscribed {
                room: None,
                id: Some(2)
            }
        );
        let push = r#"{"result":{"channel":"room:g:eu-1","data":{"data":{"message_id":"m3","sent_at":9}}}}"#;
        assert_eq!(
            parse_centrifugo_v1(push, 1).expect("parse"),
            Event::Message {
                room: "g:eu-1".into(),
                message_id: "m3".into(),
                sent_at: 9,
                offset: None,
                sent_us: None,
            }
        );
        let join = r#"{"result":{"type":2,"channel":"room:x","data":{}}}"#;
        assert_eq!(parse_centrifugo_v1(join, 1).expect("parse"), Event::Other);
    }

    #[test]
    fn outgoing_frames() {
        assert_eq!(ws_path(Protocol::Parley, "t"), "/ws?token=t");
        assert_eq!(connect_frame(Protocol::Parley, "t"), None);
        assert_eq!(
            subscribe_frame(Protocol::Parley, "r", 2),
            r#"{"op":"subscribe","room_id":"r"}"#
        );
        let v2 = subscribe_frame(Protocol::Centrifugo, "r", 2);
        assert!(v2.contains(r#""channel":"room:r""#) && v2.contains(r#""subscribe""#));
        let v1 = subscribe_frame(Protocol::CentrifugoV1, "r", 2);
        assert!(v1.contains(r#""method":1"#));
    }

    #[test]
    fn parley_publish_round_trip() {
        let frame = publish_frame(Protocol::Parley, "r1", "hi", "c7-1", 0, 1_700_000_123_456);
        let v: serde_json::Value = serde_json::from_str(&frame).expect("json");
        assert_eq!(v["op"], "publish");
        assert_eq!(v["room_id"], "r1");
        assert_eq!(v["client_msg_id"], "c7-1");
        assert_eq!(v["meta"][BENCH_SENT_US], 1_700_000_123_456_i64);
        let ack = r#"{"op":"published","client_msg_id":"c7-1","message_id":"m","pos":"3:9"}"#;
        assert_eq!(
            parse_parley(ack).expect("parse"),
            Event::Published {
                client_msg_id: Some("c7-1".into()),
                id: None
            }
        );
        let refused = r#"{"op":"error","code":4429,"reason":"rate","client_msg_id":"c7-2","retry_after_ms":40}"#;
        assert_eq!(
            parse_parley(refused).expect("parse"),
            Event::PublishRefused {
                client_msg_id: Some("c7-2".into()),
                id: None,
                code: 4429
            }
        );
        // The message as the server builds it: the meta comes back untouched.
        let msg = r#"{"op":"message","room_id":"r1","pos":"3:9","message":{"v":1,"message_id":"m","sent_at":1700000123460,"meta":{"bench_sent_us":1700000123456}}}"#;
        assert!(matches!(
            parse_parley(msg).expect("parse"),
            Event::Message {
                sent_us: Some(1_700_000_123_456),
                offset: Some(9),
                ..
            }
        ));
        let other_meta = r#"{"op":"message","room_id":"r1","pos":"3:9","message":{"v":1,"message_id":"m","sent_at":1,"meta":{"platform":"ios"}}}"#;
        assert!(matches!(
            parse_parley(other_meta).expect("parse"),
            Event::Message { sent_us: None, .. }
        ));
    }

    #[test]
    fn centrifugo_publish_round_trip() {
        let id = PUBLISH_ID_BASE + 4;
        let frame = publish_frame(
            Protocol::Centrifugo,
            "r1",
            "hi",
            "c7-1",
            id,
            1_700_000_123_456,
        );
        let v: serde_json::Value = serde_json::from_str(&frame).expect("json");
        assert_eq!(v["id"], id);
        assert_eq!(v["publish"]["channel"], "room:r1");
        assert_eq!(v["publish"]["data"]["message_id"], "c7-1");
        assert_eq!(v["publish"]["data"]["sent_at"], 1_700_000_123_i64);
        assert_eq!(
            parse_centrifugo_v2(&format!(r#"{{"id":{id},"publish":{{}}}}"#)).expect("parse"),
            Event::Published {
                client_msg_id: None,
                id: Some(id)
            }
        );
        assert_eq!(
            parse_centrifugo_v2(&format!(
                r#"{{"id":{id},"error":{{"code":103,"message":"permission denied"}}}}"#
            ))
            .expect("parse"),
            Event::PublishRefused {
                client_msg_id: None,
                id: Some(id),
                code: 103
            }
        );
        // What a subscriber of the channel receives: the data as published.
        let data = &v["publish"]["data"];
        let push = format!(r#"{{"push":{{"channel":"room:r1","pub":{{"data":{data}}}}}}}"#);
        assert_eq!(
            parse_centrifugo_v2(&push).expect("parse"),
            Event::Message {
                room: "r1".into(),
                message_id: "c7-1".into(),
                sent_at: 1_700_000_123,
                offset: None,
                sent_us: Some(1_700_000_123_456),
            }
        );
    }
}
