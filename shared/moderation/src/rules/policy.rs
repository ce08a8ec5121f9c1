//! What a rule does besides alerting: `action = "block"` (content rules
//! only: the message is stopped before it is published) and the auto-action
//! policy `on_alert` (mute or ban the author, or delete the evidence, once
//! the rule alerts). This module parses and validates them; carrying them
//! out is the workers' part.

use std::time::Duration;

use serde::Deserialize;

/// `action`: what a match of the rule does where messages are published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Alert moderators after delivery (the default).
    #[default]
    Alert,
    /// Refuse the message before it is published (and alert as well).
    Block,
}

/// `on_alert = { action = …, for = … }` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnAlertDef {
    /// `mute`, `ban` or `delete`.
    pub action: AutoActionKind,
    /// How long a mute or ban lasts; absent means until lifted.
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub duration: Option<Duration>,
}

/// The `action` of an `on_alert` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoActionKind {
    /// Mute the alert's user in the room.
    Mute,
    /// Ban the alert's user from the room.
    Ban,
    /// Delete the alert's evidence messages.
    Delete,
}

/// A validated auto-action: what follows every alert of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoAction {
    /// Mute the alert's user in the alert's room, for `duration` (none: until lifted).
    Mute {
        /// How long; `None` until a moderator lifts it.
        duration: Option<Duration>,
    },
    /// Ban the alert's user from the alert's room, for `duration` (none: until lifted).
    Ban {
        /// How long; `None` until a moderator lifts it.
        duration: Option<Duration>,
    },
    /// Delete the alert's evidence messages (its `message_ids`).
    Delete,
}

/// The shortest mute or ban an `on_alert` may ask for.
pub const MIN_AUTO_DURATION: Duration = Duration::from_secs(1);
/// The longest timed mute or ban (a longer one is a typo: leave `for` out to mean until lifted).
pub const MAX_AUTO_DURATION: Duration = Duration::from_secs(366 * 86_400);

impl OnAlertDef {
    /// Validates the policy; `user_alerts` says whether the rule's alerts
    /// name a user (scope `user`), which a mute or ban needs.
    pub fn compile(&self, user_alerts: bool) -> Result<AutoAction, String> {
        let (name, timed): (&str, fn(Option<Duration>) -> AutoAction) = match self.action {
            AutoActionKind::Delete => {
                return match self.duration {
                    Some(_) => Err(
                        "on_alert: delete takes no `for` (it deletes the evidence messages)".into(),
                    ),
                    None => Ok(AutoAction::Delete),
                }
            }
            AutoActionKind::Mute => ("mute", |duration| AutoAction::Mute { duration }),
            AutoActionKind::Ban => ("ban", |duration| AutoAction::Ban { duration }),
        };
        if !user_alerts {
            return Err(format!(
                "on_alert: {name} needs alerts that name a user (scope = \"user\")"
            ));
        }
        if let Some(duration) = self.duration {
            if !(MIN_AUTO_DURATION..=MAX_AUTO_DURATION).contains(&duration) {
                return Err(format!(
                    "on_alert: {name} `for` must be between 1s and 366d (leave it out to {name} until lifted)"
                ));
            }
        }
        Ok(timed(self.duration))
    }
}
