//! GameMessage v1: the JSON record game servers publish to `game-messages`.
//!
//! [`GameMessage::decode_record`] is the one door every worker uses: it turns
//! a Kafka key and payload into a validated message, or a [`DecodeError`]
//! whose [`DecodeErrorKind`] is the DLQ `error.kind` and whose `Display` is the
//! one-line DLQ `error` header. It never panics, whatever the bytes.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// The schema version this crate writes and reads natively.
pub const SCHEMA_VERSION: u32 = 1;
/// Largest record payload accepted; larger ones go to the DLQ as `too-large`.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Largest `content`, in UTF-8 bytes.
pub const MAX_CONTENT_BYTES: usize = 4096;
/// Longest `message_id`, in characters.
pub const MAX_MESSAGE_ID_CHARS: usize = 64;
/// Longest `game_id`, in characters.
pub const MAX_GAME_ID_CHARS: usize = 64;
/// Longest `room_id`, in characters.
pub const MAX_ROOM_ID_CHARS: usize = 128;
/// Longest `user_id`, in characters.
pub const MAX_USER_ID_CHARS: usize = 64;

/// One chat event, as docs/contracts.md "GameMessage v1" defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameMessage {
    /// Schema version; 1 now. Higher versions are kept if they parse as v1.
    pub v: u32,
    /// Globally unique id (UUID or ULID); the dedup key everywhere.
    pub message_id: String,
    /// The game this room belongs to.
    pub game_id: String,
    /// The room; equals the Kafka record key.
    pub room_id: String,
    /// The author.
    pub user_id: String,
    /// The author's display name, if the game server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// What kind of event this is.
    pub kind: MessageKind,
    /// The text; may be empty for non-chat kinds.
    pub content: String,
    /// Milliseconds since the Unix epoch, set by the game server.
    pub sent_at: i64,
    /// Who may see it; moderators-only records never reach a viewer.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Visibility::is_all"
    )]
    pub visibility: Visibility,
    /// Free-form client facts, kept as the JSON object text it arrived as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// The `kind` field: four known kinds, and any other name kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A player's chat line.
    Chat,
    /// A message from the game itself.
    System,
    /// A player entered the room.
    Join,
    /// A player left the room.
    Leave,
    /// Any other kind; allowed and stored.
    Other(String),
}

impl MessageKind {
    /// The wire name of this kind.
    pub fn as_str(&self) -> &str {
        match self {
            MessageKind::Chat => "chat",
            MessageKind::System => "system",
            MessageKind::Join => "join",
            MessageKind::Leave => "leave",
            MessageKind::Other(name) => name,
        }
    }
}

impl From<&str> for MessageKind {
    fn from(name: &str) -> Self {
        match name {
            "chat" => MessageKind::Chat,
            "system" => MessageKind::System,
            "join" => MessageKind::Join,
            "leave" => MessageKind::Leave,
            other => MessageKind::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MessageKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl de::Visitor<'_> for KindVisitor {
            type Value = MessageKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message kind string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MessageKind, E> {
                Ok(MessageKind::from(v))
            }
        }
        deserializer.deserialize_str(KindVisitor)
    }
}

/// The `visibility` field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone in the room (the default).
    #[default]
    All,
    /// Moderators and admins only.
    Moderators,
}

impl Visibility {
    /// True for the default, which is left out when serializing.
    pub fn is_all(&self) -> bool {
        matches!(self, Visibility::All)
    }

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Visibility::All => "all",
            Visibility::Moderators => "moderators",
        }
    }
}

/// The `meta` object, kept as the exact JSON text it arrived as.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Meta(Box<RawValue>);

impl Meta {
    /// Builds a `meta` from JSON text; it must be an object.
    pub fn from_json(text: &str) -> Result<Self, DecodeError> {
        let raw = RawValue::from_string(text.to_owned())
            .map_err(|e| DecodeError::Json(one_line(&e.to_string())))?;
        let meta = Meta(raw);
        meta.check()?;
        Ok(meta)
    }

    /// The JSON text, as stored in ClickHouse and Parquet.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    fn check(&self) -> Result<(), DecodeError> {
        if self.0.get().trim_start().starts_with('{') {
            Ok(())
        } else {
            Err(DecodeError::InvalidField {
                field: "meta",
                problem: "must be a JSON object".to_owned(),
            })
        }
    }
}

impl PartialEq for Meta {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for Meta {}

/// What kind of failure a [`DecodeError`] is: the DLQ `error.kind` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    /// Not bytes we can read as JSON text at all.
    Parse,
    /// JSON, but not a valid GameMessage v1.
    Schema,
    /// Over [`MAX_RECORD_BYTES`].
    TooLarge,
}

impl DecodeErrorKind {
    /// Every kind, for metrics with a fixed label set.
    pub const ALL: [DecodeErrorKind; 3] = [Self::Parse, Self::Schema, Self::TooLarge];

    /// The DLQ `error.kind` header value.
    pub fn as_str(&self) -> &'static str {
        match self {
            DecodeErrorKind::Parse => "parse",
            DecodeErrorKind::Schema => "schema",
            DecodeErrorKind::TooLarge => "too-large",
        }
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record is not a valid GameMessage. Never retryable: such records go
/// to the DLQ. `Display` is one human-readable line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is larger than [`MAX_RECORD_BYTES`].
    #[error("record is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Payload size in bytes.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The record has no payload (a tombstone).
    #[error("record has no payload")]
    EmptyPayload,
    /// The payload is not UTF-8.
    #[error("record is not valid UTF-8 (first bad byte at offset {valid_up_to})")]
    NotUtf8 {
        /// Bytes before the first invalid sequence.
        valid_up_to: usize,
    },
    /// The payload is not well-formed JSON.
    #[error("record is not valid JSON: {0}")]
    Json(String),
    /// Well-formed JSON of the wrong shape: a missing field, a wrong type.
    #[error("record is not a GameMessage v1: {0}")]
    Shape(String),
    /// A schema version this crate cannot read as v1.
    #[error("schema version {version} is not supported{detail}")]
    UnsupportedVersion {
        /// The `v` the record carried.
        version: i64,
        /// Why it did not parse as v1, if it was tried.
        detail: String,
    },
    /// A field is present but breaks its rule.
    #[error("field `{field}` {problem}")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The Kafka key is not the message's `room_id`.
    #[error("record key {key:?} does not match room_id {room_id:?}")]
    KeyMismatch {
        /// The record key (lossy UTF-8).
        key: String,
        /// The `room_id` in the payload.
        room_id: String,
    },
}

impl DecodeError {
    /// The DLQ `error.kind` of this error.
    pub fn kind(&self) -> DecodeErrorKind {
        match self {
            DecodeError::TooLarge { .. } => DecodeErrorKind::TooLarge,
            DecodeError::EmptyPayload | DecodeError::NotUtf8 { .. } | DecodeError::Json(_) => {
                DecodeErrorKind::Parse
            }
            DecodeError::Shape(_)
            | DecodeError::UnsupportedVersion { .. }
            | DecodeError::InvalidField { .. }
            | DecodeError::KeyMismatch { .. } => DecodeErrorKind::Schema,
        }
    }
}

impl GameMessage {
    /// Decodes and validates a Kafka record. A present key must equal
    /// `room_id`; a missing key is accepted (the producer chose no partition).
    pub fn decode_record(key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Self, DecodeError> {
        let payload = payload.ok_or(DecodeError::EmptyPayload)?;
        let message = Self::decode(payload)?;
        if let Some(key) = key {
            if key != message.room_id.as_bytes() {
                return Err(DecodeError::KeyMismatch {
                    key: truncate_chars(&String::from_utf8_lossy(key), 128),
                    room_id: truncate_chars(&message.room_id, 128),
                });
            }
        }
        Ok(message)
    }

    /// Decodes and validates a payload without looking at the key.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        if payload.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLarge {
                size: payload.len(),
                limit: MAX_RECORD_BYTES,
            });
        }
        if payload.is_empty() {
            return Err(DecodeError::EmptyPayload);
        }
        let text = std::str::from_utf8(payload).map_err(|e| DecodeError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        let message: GameMessage = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(e) => return Err(classify_json_error(text, &e)),
        };
        message.validate()?;
        Ok(message)
    }

    /// Checks every field rule of GameMessage v1.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.v < SCHEMA_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                version: i64::from(self.v),
                detail: String::new(),
            });
        }
        check_id("message_id", &self.message_id, MAX_MESSAGE_ID_CHARS)?;
        check_id("game_id", &self.game_id, MAX_GAME_ID_CHARS)?;
        check_id("room_id", &self.room_id, MAX_ROOM_ID_CHARS)?;
        check_id("user_id", &self.user_id, MAX_USER_ID_CHARS)?;
        if self.kind.as_str().is_empty() {
            return Err(DecodeError::InvalidField {
                field: "kind",
                problem: "must not be empty".to_owned(),
            });
        }
        if self.kind == MessageKind::Chat && self.content.trim().is_empty() {
            return Err(DecodeError::InvalidField {
                field: "content",
                problem: "must not be empty in a chat message".to_owned(),
            });
        }
        if self.content.len() > MAX_CONTENT_BYTES {
            return Err(DecodeError::InvalidField {
                field: "content",
                problem: format!(
                    "is {} bytes, over the {MAX_CONTENT_BYTES}-byte limit",
                    self.content.len()
                ),
            });
        }
        if self.sent_at < 0 {
            return Err(DecodeError::InvalidField {
                field: "sent_at",
                problem: format!(
                    "must be milliseconds since the Unix epoch, got {}",
                    self.sent_at
                ),
            });
        }
        if let Some(meta) = &self.meta {
            meta.check()?;
        }
        Ok(())
    }

    /// Serializes to the JSON a producer sends.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// True when only moderators and admins may see this record.
    pub fn is_moderators_only(&self) -> bool {
        self.visibility == Visibility::Moderators
    }
}

fn check_id(field: &'static str, value: &str, max_chars: usize) -> Result<(), DecodeError> {
    if value.is_empty() {
        return Err(DecodeError::InvalidField {
            field,
            problem: "must not be empty".to_owned(),
        });
    }
    // A string of at most max_chars bytes has at most max_chars chars.
    if value.len() > max_chars {
        let chars = value.chars().count();
        if chars > max_chars {
            return Err(DecodeError::InvalidField {
                field,
                problem: format!("is {chars} characters, over the {max_chars}-character limit"),
            });
        }
    }
    Ok(())
}

/// Splits serde_json errors into "not JSON" and "JSON of the wrong shape",
/// and tells a future schema version apart from a broken v1 record.
fn classify_json_error(text: &str, error: &serde_json::Error) -> DecodeError {
    use serde_json::error::Category;
    let detail = one_line(&error.to_string());
    if matches!(error.classify(), Category::Io | Category::Eof) {
        return DecodeError::Json(detail);
    }
    // Only on this error path: is the text well-formed JSON at all? serde
    // reports a missing field before trailing garbage, and some wrong types
    // as syntax errors (a number where `visibility` wants a name: "expected
    // value"; a lone surrogate escape or `1e999` where a field wants a
    // string or a number), so the error's category alone cannot tell.
    if serde_json::from_str::<de::IgnoredAny>(text).is_err() {
        return DecodeError::Json(detail);
    }
    match probe_version(text) {
        Some(version) if version != i64::from(SCHEMA_VERSION) => DecodeError::UnsupportedVersion {
            version,
            detail: format!(" and the record does not parse as v1: {detail}"),
        },
        _ => DecodeError::Shape(detail),
    }
}

/// Reads just `v` out of a JSON object, if it is an integer.
fn probe_version(text: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Probe {
        v: Option<serde_json::Value>,
    }
    serde_json::from_str::<Probe>(text).ok()?.v?.as_i64()
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Keeps an error reason on one line, as the DLQ `error` header requires.
pub(crate) fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests;
