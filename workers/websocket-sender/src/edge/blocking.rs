//! Block before delivery: every publish is checked against the content
//! rules with `action = "block"` of the rule file (`--rules`, the file
//! anomaly-detector reads), with the same normalizer and matcher
//! (`parley_moderation::Blocklist`). A blocked publish is refused with
//! 4422, nothing is produced, and an Alert v1 naming the rule goes to
//! `moderation-alerts` for moderators. SIGHUP reloads the file; a bad file
//! keeps the rules in force.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use parley_moderation::{Author, Blocklist, CheckScratch, RulesError};
use parley_shared::alert::Alert;
use parley_shared::metrics::now_ms;
use parley_shared::publish::{MessageProducer, Refusal};
use parley_shared::GameMessage;

thread_local! {
    /// One check's buffers per thread: a check allocates nothing once grown.
    static SCRATCH: RefCell<CheckScratch> = RefCell::new(CheckScratch::default());
}

/// The block rules in force and where refusals are alerted.
pub struct Blocking {
    rules: RwLock<Arc<Blocklist>>,
    path: Option<PathBuf>,
    alerts: Option<MessageProducer>,
}

impl Blocking {
    /// The block rules of `path` (none without a file); alerts about
    /// refusals go through `alerts`.
    pub fn load(
        path: Option<PathBuf>,
        alerts: Option<MessageProducer>,
    ) -> Result<Self, RulesError> {
        let rules = match &path {
            Some(path) => Blocklist::load(path)?,
            None => Blocklist::from_rules(&[])?,
        };
        if let Some(path) = &path {
            let names: Vec<&str> = rules.rule_names().collect();
            tracing::info!(path = %path.display(), rules = ?names, "block rules loaded");
        }
        Ok(Blocking {
            rules: RwLock::new(Arc::new(rules)),
            path,
            alerts,
        })
    }

    /// Reads the rule file again; on a mistake the old rules stay.
    pub fn reload(&self) {
        let Some(path) = &self.path else { return };
        match Blocklist::load(path) {
            Ok(rules) => {
                tracing::info!(path = %path.display(), rules = rules.len(), "block rules reloaded");
                *self.rules.write() = Arc::new(rules);
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "block rules not reloaded; the old ones stay")
            }
        }
    }

    /// Number of block rules in force.
    pub fn len(&self) -> usize {
        self.rules.read().len()
    }

    /// Whether no block rule is in force.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The refusal for `message` by an author with `role`, if a block rule
    /// matches; the alert about it is queued.
    pub fn check(&self, message: &GameMessage, role: &str) -> Option<Refusal> {
        let rules = Arc::clone(&self.rules.read());
        if rules.is_empty() {
            return None;
        }
        let author = Author {
            user: &message.user_id,
            room: &message.room_id,
            role: Some(role),
        };
        let (rule, category, severity) = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            rules
                .check(&message.content, author, &mut scratch)
                .map(|b| (b.rule.to_owned(), b.category, b.severity))
        })?;
        self.alert(message, &rule, category.as_str(), severity.as_str());
        Some(Refusal::Blocked(format!(
            "blocked by the moderation rule {rule:?} ({category}); nothing was published",
            category = category.as_str()
        )))
    }

    /// Queues the Alert v1 of a blocked publish (its id follows the message
    /// id, so a retried publish alerts under the same id).
    fn alert(
        &self,
        message: &GameMessage,
        rule: &str,
        category: &'static str,
        severity: &'static str,
    ) {
        let Some(producer) = &self.alerts else { return };
        let now = now_ms();
        let alert = Alert {
            v: 1,
            alert_id: uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("blocked:{}", message.message_id).as_bytes(),
            )
            .to_string(),
            rule: rule.to_owned(),
            category,
            severity,
            game_id: message.game_id.clone(),
            room_id: message.room_id.clone(),
            user_id: Some(message.user_id.clone()),
            message_ids: vec![message.message_id.clone()],
            window_start: message.sent_at,
            window_end: message.sent_at,
            detected_at: now,
            score: 1.0,
            summary: format!(
                "{} tried to post {category} content in {}; blocked by {rule}, not delivered",
                message.user_id, message.room_id
            ),
            key: String::new(),
        };
        match producer.enqueue(&alert) {
            Ok(delivery) => {
                tokio::spawn(async move {
                    if let Err(e) = delivery.wait().await {
                        tracing::warn!(error = %e, alert_id = %alert.alert_id, "alert about a blocked publish not acknowledged");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot queue the alert about a blocked publish"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
[[rule]]
name = "threats"
kind = "content"
category = "toxicity"
severity = "critical"
action = "block"
keywords = ["kys"]
exempt = { roles = ["moderator", "admin"] }
"#;

    fn blocking() -> Blocking {
        let dir = std::env::temp_dir().join(format!("parley-block-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("rules.toml");
        std::fs::write(&path, RULES).expect("write");
        Blocking::load(Some(path), None).expect("rules")
    }

    fn message(content: &str) -> GameMessage {
        serde_json::from_value(serde_json::json!({
            "v": 1, "message_id": "m", "game_id": "g", "room_id": "r", "user_id": "u",
            "kind": "chat", "content": content, "sent_at": 1
        }))
        .expect("message")
    }

    #[test]
    fn a_block_rule_refuses_with_4422_and_exempt_roles_pass() {
        let b = blocking();
        assert_eq!(b.len(), 1);
        let refusal = b
            .check(&message("just kys already"), "viewer")
            .expect("blocked");
        assert_eq!(refusal.code(), 4422);
        assert!(refusal.to_string().contains("threats"), "{refusal}");
        assert!(b.check(&message("gg wp"), "viewer").is_none());
        assert!(b.check(&message("kys"), "moderator").is_none());
    }

    #[test]
    fn without_a_rule_file_nothing_is_blocked() {
        let b = Blocking::load(None, None).expect("no rules");
        assert!(b.is_empty());
        assert!(b.check(&message("kys"), "viewer").is_none());
    }
}
