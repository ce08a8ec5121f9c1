//! Moderators acting through this instance: the WebSocket `moderate` op,
//! `POST /v1/moderation/actions` (docs/contracts.md, "Moderation actions").
//! A request is checked against the token (moderator or admin, room
//! allowed), made an Action v1 whose `actor` is the token's `sub`,
//! produced to `moderation-actions` with `acks=all`, and answered with its
//! `action_id` only after the brokers acknowledged it.

use std::collections::BTreeMap;
use std::time::Duration;

use parley_shared::action::{ActionError, ActionRequest, ModerationAction};
use parley_shared::metrics::now_ms;
use parley_shared::publish::{MessageProducer, Refusal};
use rdkafka::error::KafkaError;

use crate::auth::Grant;
use crate::metrics::ModerationMetrics;

/// The most a request may ask for in one JSON text.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The action path of one process.
pub struct Acting {
    producer: MessageProducer,
    timeout: Duration,
    metrics: ModerationMetrics,
}

impl Acting {
    /// A producer for the actions `topic`; an action not acknowledged
    /// within `timeout` is refused with 4503 (retry).
    pub fn new(
        properties: &BTreeMap<String, String>,
        topic: &str,
        client_id: &str,
        timeout: Duration,
        metrics: ModerationMetrics,
    ) -> Result<Self, KafkaError> {
        Ok(Acting {
            producer: MessageProducer::new(properties, topic, client_id, timeout)?,
            timeout,
            metrics,
        })
    }

    /// Reads a request from the JSON of a `moderate` frame or an HTTP body
    /// (`op` is allowed and ignored; `actor` is refused: it is the token's).
    pub fn parse(text: &str) -> Result<ActionRequest, Refusal> {
        if text.len() > MAX_REQUEST_BYTES {
            return Err(Refusal::TooLarge(format!(
                "an action request is at most {MAX_REQUEST_BYTES} bytes"
            )));
        }
        let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| Refusal::Invalid(format!("invalid action request: {e}")))?;
        fields.remove("op");
        if fields.contains_key("actor") {
            return Err(Refusal::Invalid(
                "actor is not a request field: the action is taken as the token's user".into(),
            ));
        }
        serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| Refusal::Invalid(format!("invalid action request: {e}")))
    }

    /// Takes `request` as `grant`'s holder: the `action_id` once Kafka
    /// acknowledged the action.
    pub async fn act(&self, grant: &Grant, request: ActionRequest) -> Result<String, Refusal> {
        let kind = request.action;
        let result = self.produce(grant, request).await;
        let label = match &result {
            Ok(_) => "ok",
            Err(refusal) => refusal.label(),
        };
        self.metrics
            .taken
            .with_label_values(&[kind.as_str(), label])
            .inc();
        result
    }

    async fn produce(&self, grant: &Grant, request: ActionRequest) -> Result<String, Refusal> {
        if !grant.sees_moderators() {
            return Err(Refusal::Forbidden(
                "moderation actions are for moderators and admins".into(),
            ));
        }
        if !grant.allows_room(&request.room_id) {
            return Err(Refusal::Forbidden("room not allowed by token".into()));
        }
        let action = build(grant, request)?;
        let delivery = self
            .producer
            .enqueue(&action)
            .map_err(|e| unavailable(&e.to_string()))?;
        match tokio::time::timeout(self.timeout, delivery.wait()).await {
            Ok(Ok(_)) => {
                tracing::info!(action_id = %action.action_id, action = %action.action, room_id = %action.room_id, actor = %action.actor, "moderation action taken");
                Ok(action.action_id)
            }
            Ok(Err(e)) => Err(unavailable(&e.to_string())),
            Err(_) => Err(unavailable("no acknowledgement in time")),
        }
    }

    /// Waits up to `timeout` for queued actions (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "moderation actions still queued at shutdown");
        }
    }
}

/// The Action v1 of `request` by `grant`'s holder, now, with a fresh id.
fn build(grant: &Grant, request: ActionRequest) -> Result<ModerationAction, Refusal> {
    request
        .into_action(&grant.user, uuid::Uuid::new_v4().to_string(), now_ms())
        .map_err(|e: ActionError| Refusal::Invalid(e.to_string()))
}

fn unavailable(why: &str) -> Refusal {
    tracing::warn!(reason = why, "moderation action not acknowledged by Kafka");
    Refusal::Unavailable("Kafka did not acknowledge the action; nothing was done, retry".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_from_a_frame_or_a_body_and_never_name_the_actor() {
        let request = Acting::parse(
            r#"{"op":"moderate","action":"delete_message","room_id":"r","message_id":"m"}"#,
        )
        .expect("a frame");
        assert_eq!(request.message_id.as_deref(), Some("m"));
        let refused = Acting::parse(r#"{"action":"ban","room_id":"r","user_id":"u","actor":"x"}"#)
            .expect_err("actor");
        assert_eq!(refused.code(), 4400);
        let refused = Acting::parse(r#"{"action":"kick","room_id":"r"}"#).expect_err("kind");
        assert!(refused.to_string().contains("kick"), "{refused}");
        let refused = Acting::parse(r#"{"action":"ban","room_id":"r","user_id":"u","colour":1}"#)
            .expect_err("unknown field");
        assert!(refused.to_string().contains("colour"), "{refused}");
        let big = format!(
            r#"{{"action":"ban","room_id":"r","user_id":"u","reason":"{}"}}"#,
            "x".repeat(MAX_REQUEST_BYTES)
        );
        assert_eq!(
            Acting::parse(&big).expect_err("too big").label(),
            "too_large"
        );
    }
}
