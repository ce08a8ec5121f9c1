//! The Alert v1 schema of `moderation-alerts` (docs/contracts.md, "Alert
//! v1"): what anomaly-detector raises per incident, and what
//! websocket-sender raises when it blocks a publish.

use serde::Serialize;

/// Alert v1 (docs/contracts.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Schema version.
    pub v: u32,
    /// Stable id of the incident.
    pub alert_id: String,
    /// Rule name.
    pub rule: String,
    /// Category.
    pub category: &'static str,
    /// Severity.
    pub severity: &'static str,
    /// Game.
    pub game_id: String,
    /// Room (of the message that opened the incident).
    pub room_id: String,
    /// User, absent for room-wide alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Evidence, at most 50.
    pub message_ids: Vec<String>,
    /// Earliest evidence time (ms).
    pub window_start: i64,
    /// Latest evidence time (ms).
    pub window_end: i64,
    /// When detected (ms).
    pub detected_at: i64,
    /// How far past the threshold.
    pub score: f64,
    /// One human sentence.
    pub summary: String,
    /// The incident's key (rule, scope, subject): anomaly-detector sends it
    /// as a Kafka header, not in the JSON (empty for other producers).
    #[serde(skip)]
    pub key: String,
}

impl crate::publish::KeyedRecord for Alert {
    fn key(&self) -> &[u8] {
        self.room_id.as_bytes()
    }
    fn payload(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}
