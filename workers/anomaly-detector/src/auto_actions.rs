//! Auto-actions: a rule's `on_alert` policy turned into Action v1 records
//! (`actor = "anomaly-detector"`, the `alert_id` acted on) for every new
//! incident it alerts. Ids follow the alert id, so an incident re-detected
//! after a restart (same `alert_id`) repeats the same `action_id`s, which
//! every reader deduplicates.

use parley_moderation::rules::AutoAction;
use parley_shared::action::{ActionKind, ModerationAction, ACTION_SCHEMA_VERSION, DETECTOR_ACTOR};

use crate::incidents::Alert;

/// Namespace of auto-action ids (UUIDv5 of the alert id and the action).
const ACTION_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x7a1c_52e4_1d3b_4f0e_9c55_0d2f_6b8e_a901);

/// The actions `policy` takes after `alert`, at `now_ms`.
pub fn actions_for(alert: &Alert, policy: AutoAction, now_ms: i64) -> Vec<ModerationAction> {
    let action =
        |kind: ActionKind, user: Option<String>, message: Option<String>, until: Option<i64>| {
            let target = message.as_deref().or(user.as_deref()).unwrap_or_default();
            let name = format!("{}\0{}\0{target}", alert.alert_id, kind.as_str());
            ModerationAction {
                v: ACTION_SCHEMA_VERSION,
                action_id: uuid::Uuid::new_v5(&ACTION_NAMESPACE, name.as_bytes()).to_string(),
                action: kind,
                room_id: alert.room_id.clone(),
                user_id: user,
                message_id: message,
                until,
                reason: format!("rule {}: {}", alert.rule, alert.summary),
                actor: DETECTOR_ACTOR.to_owned(),
                alert_id: Some(alert.alert_id.clone()),
                created_at: now_ms,
            }
        };
    let until = |duration: Option<std::time::Duration>| {
        duration.map(|d| {
            alert
                .detected_at
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        })
    };
    match policy {
        AutoAction::Mute { duration } | AutoAction::Ban { duration } => {
            let Some(user) = alert.user_id.clone() else {
                return Vec::new();
            };
            let kind = if matches!(policy, AutoAction::Mute { .. }) {
                ActionKind::Mute
            } else {
                ActionKind::Ban
            };
            vec![action(kind, Some(user), None, until(duration))]
        }
        AutoAction::Delete => alert
            .message_ids
            .iter()
            .map(|id| action(ActionKind::DeleteMessage, None, Some(id.clone()), None))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn alert() -> Alert {
        Alert {
            v: 1,
            alert_id: "al-1".into(),
            rule: "flood".into(),
            category: "flood",
            severity: "warning",
            game_id: "g".into(),
            room_id: "r".into(),
            user_id: Some("u".into()),
            message_ids: vec!["m1".into(), "m2".into()],
            window_start: 1,
            window_end: 2,
            detected_at: 1_000,
            score: 1.0,
            summary: "u sent 12 messages".into(),
            key: String::new(),
        }
    }

    #[test]
    fn a_mute_names_the_user_for_the_policy_duration_as_the_detector() {
        let actions = actions_for(
            &alert(),
            AutoAction::Mute {
                duration: Some(Duration::from_secs(600)),
            },
            5,
        );
        assert_eq!(actions.len(), 1);
        let mute = &actions[0];
        assert_eq!(mute.action, ActionKind::Mute);
        assert_eq!(mute.user_id.as_deref(), Some("u"));
        assert_eq!(mute.until, Some(601_000));
        assert_eq!(mute.actor, "anomaly-detector");
        assert_eq!(mute.alert_id.as_deref(), Some("al-1"));
        assert!(mute.validate().is_ok());
        // The same alert again (a re-detection) gives the same id.
        let again = actions_for(
            &alert(),
            AutoAction::Mute {
                duration: Some(Duration::from_secs(600)),
            },
            9,
        );
        assert_eq!(again[0].action_id, mute.action_id);
    }

    #[test]
    fn delete_retracts_every_piece_of_evidence_and_a_ban_without_user_is_nothing() {
        let deletes = actions_for(&alert(), AutoAction::Delete, 5);
        let ids: Vec<_> = deletes.iter().map(|a| a.message_id.as_deref()).collect();
        assert_eq!(ids, [Some("m1"), Some("m2")]);
        assert_ne!(deletes[0].action_id, deletes[1].action_id);
        assert!(deletes.iter().all(|a| a.validate().is_ok()));
        let room_wide = Alert {
            user_id: None,
            ..alert()
        };
        assert!(actions_for(&room_wide, AutoAction::Ban { duration: None }, 5).is_empty());
    }
}
