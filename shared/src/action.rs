//! The Action v1 schema of the `moderation-actions` topic (docs/contracts.md,
//! "Moderation actions"): what a moderator, an operator or the
//! anomaly-detector did to a room's messages or users, keyed by `room_id`.
//!
//! An [`ActionRequest`] is what a client sends (WebSocket `moderate`, HTTP
//! `POST /v1/moderation/actions`, `parley-admin moderate`); the edge turns it
//! into a [`ModerationAction`] with [`ActionRequest::into_action`], which
//! sets the `actor` from the token (never from the request), a fresh
//! `action_id` and `created_at`. Every reader validates with
//! [`ModerationAction::decode_record`]; a record that fails goes to the DLQ.

use serde::{Deserialize, Serialize};

use crate::message::{MAX_ROOM_ID_CHARS, MAX_USER_ID_CHARS};

/// The Action schema version this crate writes.
pub const ACTION_SCHEMA_VERSION: u32 = 1;
/// The longest `reason` accepted, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// The longest `action_id`, `message_id`, `actor` or `alert_id`, in characters.
pub const MAX_ACTION_ID_CHARS: usize = 128;
/// The largest Action record accepted, in bytes.
pub const MAX_ACTION_RECORD_BYTES: usize = 8 * 1024;
/// The `actor` of actions the anomaly-detector takes by itself.
pub const DETECTOR_ACTOR: &str = "anomaly-detector";
/// The prefix of an operator's `actor` (`parley-admin moderate`:
/// `operator:<login>`).
pub const OPERATOR_ACTOR_PREFIX: &str = "operator:";

/// Who took an action, as a small fixed set (a metric label; the `actor`
/// itself is a user id and never labels a series).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorClass {
    /// A moderator or admin, through websocket-sender (`actor` = token `sub`).
    Moderator,
    /// The anomaly-detector's automatic actions ([`DETECTOR_ACTOR`]).
    Detector,
    /// An operator through `parley-admin moderate` ([`OPERATOR_ACTOR_PREFIX`]).
    Operator,
}

impl ActorClass {
    /// Every class, for metrics with a fixed label set.
    pub const ALL: [ActorClass; 3] = [
        ActorClass::Moderator,
        ActorClass::Detector,
        ActorClass::Operator,
    ];

    /// The class of an `actor`: `anomaly-detector` → detector,
    /// `operator:…` → operator, anything else → moderator.
    pub fn of(actor: &str) -> ActorClass {
        if actor == DETECTOR_ACTOR {
            ActorClass::Detector
        } else if actor.starts_with(OPERATOR_ACTOR_PREFIX) {
            ActorClass::Operator
        } else {
            ActorClass::Moderator
        }
    }

    /// The label value (`moderator`, `detector`, `operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorClass::Moderator => "moderator",
            ActorClass::Detector => "detector",
            ActorClass::Operator => "operator",
        }
    }
}

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Retract one message (`message_id`) from the room everywhere.
    DeleteMessage,
    /// Refuse the user's publishes to the room until `until` (or lifted).
    Mute,
    /// Lift a mute.
    Unmute,
    /// Mute, end the user's subscription to the room and refuse new ones.
    Ban,
    /// Lift a ban.
    Unban,
}

impl ActionKind {
    /// Every kind, for metrics with a fixed label set.
    pub const ALL: [ActionKind; 5] = [
        ActionKind::DeleteMessage,
        ActionKind::Mute,
        ActionKind::Unmute,
        ActionKind::Ban,
        ActionKind::Unban,
    ];

    /// The wire name (`delete_message`, `mute`…).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::DeleteMessage => "delete_message",
            ActionKind::Mute => "mute",
            ActionKind::Unmute => "unmute",
            ActionKind::Ban => "ban",
            ActionKind::Unban => "unban",
        }
    }

    /// Whether the action names a user (every kind but `delete_message`).
    pub fn targets_user(self) -> bool {
        self != ActionKind::DeleteMessage
    }

    /// Whether the action may carry an expiry (`mute`, `ban`).
    pub fn may_expire(self) -> bool {
        matches!(self, ActionKind::Mute | ActionKind::Ban)
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ActionKind {
    type Err = ActionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ActionError::Invalid {
                field: "action",
                problem: format!("{s:?} is not one of delete_message, mute, unmute, ban, unban"),
            })
    }
}

/// One Action v1 record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationAction {
    /// Schema version (1).
    pub v: u32,
    /// Unique id; readers deduplicate by it.
    pub action_id: String,
    /// What it does.
    pub action: ActionKind,
    /// The room acted in.
    pub room_id: String,
    /// The user muted, banned or lifted (not for `delete_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The message retracted (`delete_message` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Expiry in ms since the epoch (`mute`, `ban`); absent: until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Why, in the actor's words (may be empty).
    #[serde(default)]
    pub reason: String,
    /// Who acted: the moderator's token `sub`, or `anomaly-detector`.
    pub actor: String,
    /// The alert acted on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// When the action was taken, ms since the epoch.
    pub created_at: i64,
}

/// Why an action request or record is refused. `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("not an Action v1: {0}")]
    Shape(String),
    /// The record is over [`MAX_ACTION_RECORD_BYTES`].
    #[error("action record is {0} bytes, over the {MAX_ACTION_RECORD_BYTES}-byte limit")]
    TooLarge(usize),
    /// A schema version this crate cannot read.
    #[error("action schema version {0} is not supported")]
    Version(u32),
    /// A field is missing or wrong for this kind of action.
    #[error("{field} {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl ActionError {
    /// The DLQ `error.kind` of a record refused for this reason.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionError::Shape(_) => "parse",
            ActionError::TooLarge(_) => "too-large",
            ActionError::Version(_) | ActionError::Invalid { .. } => "schema",
        }
    }

    fn invalid(field: &'static str, problem: impl Into<String>) -> ActionError {
        ActionError::Invalid {
            field,
            problem: problem.into(),
        }
    }
}

impl ModerationAction {
    /// Decodes and validates one Kafka record of `moderation-actions`.
    pub fn decode_record(payload: Option<&[u8]>) -> Result<ModerationAction, ActionError> {
        let payload = payload.ok_or_else(|| ActionError::Shape("record has no payload".into()))?;
        if payload.len() > MAX_ACTION_RECORD_BYTES {
            return Err(ActionError::TooLarge(payload.len()));
        }
        let action: ModerationAction = serde_json::from_slice(payload)
            .map_err(|e| ActionError::Shape(crate::message::one_line(&e.to_string())))?;
        action.validate()?;
        Ok(action)
    }

    /// Checks the fields every reader relies on.
    pub fn validate(&self) -> Result<(), ActionError> {
        if self.v != ACTION_SCHEMA_VERSION {
            return Err(ActionError::Version(self.v));
        }
        check_id("action_id", &self.action_id, MAX_ACTION_ID_CHARS)?;
        check_id("actor", &self.actor, MAX_ACTION_ID_CHARS)?;
        if let Some(alert) = &self.alert_id {
            check_id("alert_id", alert, MAX_ACTION_ID_CHARS)?;
        }
        if self.created_at < 0 {
            return Err(ActionError::invalid(
                "created_at",
                "must be milliseconds since the Unix epoch",
            ));
        }
        check_target(
            self.action,
            &self.room_id,
            self.user_id.as_deref(),
            self.message_id.as_deref(),
            self.until,
            &self.reason,
        )
    }

    /// Serializes to the JSON a producer sends.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Who took it, as a [`ActorClass`].
    pub fn actor_class(&self) -> ActorClass {
        ActorClass::of(&self.actor)
    }

    /// Whether a mute or ban is still in force at `now_ms`.
    pub fn in_force_at(&self, now_ms: i64) -> bool {
        self.until.is_none_or(|until| until > now_ms)
    }
}

/// What a client sends to act: the Action fields a moderator chooses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// What to do.
    pub action: ActionKind,
    /// The room.
    pub room_id: String,
    /// The user (mute, unmute, ban, unban).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The message (delete_message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Expiry, ms since the epoch (mute, ban).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// The alert acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
}

impl ActionRequest {
    /// The action `actor` takes at `now_ms` under `action_id`, if the
    /// request is valid. `until` must be in the future.
    pub fn into_action(
        self,
        actor: &str,
        action_id: String,
        now_ms: i64,
    ) -> Result<ModerationAction, ActionError> {
        if let Some(until) = self.until {
            if until <= now_ms {
                return Err(ActionError::invalid(
                    "until",
                    format!("is {until}, not in the future (now is {now_ms})"),
                ));
            }
        }
        let action = ModerationAction {
            v: ACTION_SCHEMA_VERSION,
            action_id,
            action: self.action,
            room_id: self.room_id,
            user_id: self.user_id,
            message_id: self.message_id,
            until: self.until,
            reason: self.reason,
            actor: actor.to_owned(),
            alert_id: self.alert_id,
            created_at: now_ms,
        };
        action.validate()?;
        Ok(action)
    }
}

fn check_target(
    kind: ActionKind,
    room: &str,
    user: Option<&str>,
    message: Option<&str>,
    until: Option<i64>,
    reason: &str,
) -> Result<(), ActionError> {
    check_id("room_id", room, MAX_ROOM_ID_CHARS)?;
    match (kind.targets_user(), user, message) {
        (true, None, _) => {
            return Err(ActionError::invalid(
                "user_id",
                format!("is required by {kind}"),
            ))
        }
        (true, Some(user), None) => check_id("user_id", user, MAX_USER_ID_CHARS)?,
        (true, Some(_), Some(_)) => {
            return Err(ActionError::invalid(
                "message_id",
                format!("is only for delete_message, not {kind}"),
            ))
        }
        (false, _, None) => {
            return Err(ActionError::invalid(
                "message_id",
                "is required by delete_message",
            ))
        }
        (false, Some(_), Some(_)) => {
            return Err(ActionError::invalid(
                "user_id",
                "is not for delete_message (the message names its author)",
            ))
        }
        (false, None, Some(message)) => check_id("message_id", message, MAX_ACTION_ID_CHARS)?,
    }
    match until {
        Some(_) if !kind.may_expire() => {
            return Err(ActionError::invalid(
                "until",
                format!("is only for mute and ban, not {kind}"),
            ))
        }
        Some(until) if until < 0 => {
            return Err(ActionError::invalid(
                "until",
                "must be milliseconds since the Unix epoch",
            ))
        }
        _ => {}
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(ActionError::invalid(
            "reason",
            format!(
                "is {} bytes, over the {MAX_REASON_BYTES}-byte limit",
                reason.len()
            ),
        ));
    }
    Ok(())
}

fn check_id(field: &'static str, value: &str, max_chars: usize) -> Result<(), ActionError> {
    if value.trim().is_empty() {
        return Err(ActionError::invalid(field, "must not be empty"));
    }
    if value.len() > max_chars && value.chars().count() > max_chars {
        return Err(ActionError::invalid(
            field,
            format!("is over the {max_chars}-character limit"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "action/tests.rs"]
mod tests;
