//! Where alerts go: the `moderation-alerts` topic (idempotent producer;
//! the message that opened an incident is committed only once its alert is
//! in Kafka) and, optionally, Alertmanager's API v2 (active alerts re-sent
//! periodically with a rolling `endsAt`, resolved ones sent with `endsAt` =
//! now).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use tokio::sync::mpsc;

use parley_shared::action::ModerationAction;

use crate::incidents::Alert;
use crate::metrics::DetectorMetrics;

/// The Kafka header of an alert record holding its incident's key (read
/// back by [`crate::journal`]).
pub const INCIDENT_HEADER: &str = "parley-incident";

/// The alert topic producer.
#[derive(Clone)]
pub struct KafkaAlerts {
    producer: FutureProducer,
    topic: String,
    actions_topic: String,
}

/// The detector's one idempotent producer, shared by the alert topic and
/// the by-game topic (one connection set and one polling thread).
pub fn producer(
    properties: &BTreeMap<String, String>,
) -> Result<FutureProducer, rdkafka::error::KafkaError> {
    let mut config = parley_shared::config::client_config(properties);
    config
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("client.id", "anomaly-detector");
    config.create()
}

impl KafkaAlerts {
    /// Alerts to `topic` and auto-actions to `actions_topic` through
    /// `producer` (see [`producer`]).
    pub fn new(producer: FutureProducer, topic: &str, actions_topic: &str) -> Self {
        KafkaAlerts {
            producer,
            topic: topic.to_owned(),
            actions_topic: actions_topic.to_owned(),
        }
    }

    /// Sends one auto-action (key = room), waiting for the broker's ack.
    pub async fn send_action(&self, action: &ModerationAction) -> Result<(), String> {
        let payload = action.to_json().map_err(|e| e.to_string())?;
        self.producer
            .send(
                FutureRecord::to(&self.actions_topic)
                    .key(&action.room_id)
                    .payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }

    /// Sends one alert (key = room; its incident key in the
    /// [`INCIDENT_HEADER`] header), waiting for the broker's ack.
    pub async fn send(&self, alert: &Alert) -> Result<(), String> {
        let payload = serde_json::to_string(alert).map_err(|e| e.to_string())?;
        let headers = OwnedHeaders::new().insert(Header {
            key: INCIDENT_HEADER,
            value: Some(alert.key.as_str()),
        });
        self.producer
            .send(
                FutureRecord::to(&self.topic)
                    .key(&alert.room_id)
                    .headers(headers)
                    .payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }
}

/// What the Alertmanager task is told.
#[derive(Debug, Clone)]
pub enum AmEvent {
    /// An incident opened or gained evidence.
    Fire(Alert),
    /// An incident ended.
    Resolve(Alert),
}

/// Starts the Alertmanager task; returns its inbox.
pub fn alertmanager(
    url: String,
    resend: Duration,
    metrics: DetectorMetrics,
) -> mpsc::UnboundedSender<AmEvent> {
    let (tx, mut rx) = mpsc::unbounded_channel::<AmEvent>();
    tokio::spawn(async move {
        let mut active: HashMap<String, Alert> = HashMap::new();
        let mut every = tokio::time::interval(resend);
        let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
        loop {
            let mut batch = Vec::new();
            tokio::select! {
                event = rx.recv() => {
                    let Some(event) = event else { return };
                    let mut events = vec![event];
                    while let Ok(more) = rx.try_recv() {
                        events.push(more);
                    }
                    for event in events {
                        match event {
                            AmEvent::Fire(alert) => {
                                batch.push(am_alert(&alert, false, resend));
                                active.insert(alert.alert_id.clone(), alert);
                            }
                            AmEvent::Resolve(alert) => {
                                active.remove(&alert.alert_id);
                                batch.push(am_alert(&alert, true, resend));
                            }
                        }
                    }
                }
                _ = every.tick() => {
                    batch.extend(active.values().map(|a| am_alert(a, false, resend)));
                }
            }
            if batch.is_empty() {
                continue;
            }
            let endpoint = endpoint.clone();
            let body = serde_json::Value::Array(batch);
            let result = tokio::task::spawn_blocking(move || {
                ureq::post(&endpoint)
                    .config()
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .send_json(&body)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            match result {
                Ok(()) => metrics
                    .sends
                    .with_label_values(&["alertmanager", "ok"])
                    .inc(),
                Err(e) => {
                    // Active alerts go again at the next resend.
                    tracing::warn!(error = %e, "Alertmanager refused or unreachable");
                    metrics
                        .sends
                        .with_label_values(&["alertmanager", "error"])
                        .inc();
                }
            }
        }
    });
    tx
}

/// An Alertmanager API v2 alert: labels identify the incident.
fn am_alert(alert: &Alert, resolved: bool, resend: Duration) -> serde_json::Value {
    let now = chrono_like_now(Duration::ZERO);
    let ends = if resolved {
        now.clone()
    } else {
        chrono_like_now(resend * 4)
    };
    let mut labels = json!({
        "alertname": "ParleyModeration",
        "rule": alert.rule,
        "category": alert.category,
        "severity": alert.severity,
        "game_id": alert.game_id,
        "room_id": alert.room_id,
        "alert_id": alert.alert_id,
    });
    if let Some(user) = &alert.user_id {
        labels["user_id"] = json!(user);
    }
    json!({
        "labels": labels,
        "annotations": {
            "summary": alert.summary,
            "evidence": alert.message_ids.len().to_string(),
            "score": format!("{:.2}", alert.score),
        },
        "startsAt": rfc3339(alert.detected_at),
        "endsAt": ends,
    })
}

/// Now plus `ahead`, RFC 3339 UTC.
fn chrono_like_now(ahead: Duration) -> String {
    rfc3339(parley_shared::metrics::now_ms() + ahead.as_millis() as i64)
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-11-22T02:40:00.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_315_200_123), "2026-11-22T02:40:00.123Z");
    }
}
