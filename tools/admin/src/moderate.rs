//! `moderate`: an operator's moderation action (delete a message, mute,
//! unmute, ban, unban), produced to `moderation-actions` with `acks=all`
//! exactly as a moderator's `moderate` op is. The `actor` is `--actor`
//! (default `operator:<login>`), recorded with the action.

use std::time::Duration;

use clap::Args;
use parley_shared::action::{ActionKind, ActionRequest, OPERATOR_ACTOR_PREFIX};
use parley_shared::metrics::now_ms;
use parley_shared::publish::MessageProducer;
use parley_shared::topics;
use serde::Serialize;

use crate::error::AdminError;
use crate::kafka::Kafka;
use crate::output::{self, Format};

/// Flags of `moderate`.
#[derive(Debug, Clone, Args)]
pub struct ModerateArgs {
    /// `delete_message`, `mute`, `unmute`, `ban` or `unban`.
    pub action: ActionKind,
    /// The room.
    #[arg(long)]
    pub room: String,
    /// The user (mute, unmute, ban, unban).
    #[arg(long)]
    pub user: Option<String>,
    /// The message (delete_message).
    #[arg(long)]
    pub message: Option<String>,
    /// How long a mute or ban lasts (`10m`, `7d`); without it, until lifted.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Why (kept with the action).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Who acts (recorded as the action's `actor`).
    #[arg(long)]
    pub actor: Option<String>,
    /// The alert acted on, if any.
    #[arg(long)]
    pub alert: Option<String>,
    /// Actions topic.
    #[arg(long, default_value = topics::MODERATION_ACTIONS)]
    pub topic: String,
}

/// What `moderate` did.
#[derive(Debug, Serialize)]
struct Taken {
    action_id: String,
    action: &'static str,
    room_id: String,
    partition: i32,
    offset: i64,
}

/// Produces the action and prints its id once acknowledged.
pub async fn run(kafka: &Kafka, args: &ModerateArgs, format: Format) -> Result<(), AdminError> {
    let now = now_ms();
    let until = args
        .duration
        .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    let actor = args.actor.clone().unwrap_or_else(|| {
        format!(
            "{OPERATOR_ACTOR_PREFIX}{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
        )
    });
    let request = ActionRequest {
        action: args.action,
        room_id: args.room.clone(),
        user_id: args.user.clone(),
        message_id: args.message.clone(),
        until,
        reason: args.reason.clone(),
        alert_id: args.alert.clone(),
    };
    let action = request
        .into_action(&actor, uuid::Uuid::new_v4().to_string(), now)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    let producer = MessageProducer::new(
        kafka.properties(),
        &args.topic,
        "parley-admin-moderate",
        Duration::from_secs(30),
    )
    .map_err(|e| AdminError::kafka("creating a producer", e))?;
    let produced = producer
        .send(&action)
        .await
        .map_err(|e| AdminError::Refused(format!("the action was not acknowledged: {e}")))?;
    let taken = Taken {
        action_id: action.action_id,
        action: action.action.as_str(),
        room_id: action.room_id,
        partition: produced.partition,
        offset: produced.offset,
    };
    output::print(format, std::slice::from_ref(&taken), || {
        let mut t = output::table(&["action_id", "action", "room", "partition", "offset"]);
        t.add_row(vec![
            taken.action_id.clone(),
            taken.action.to_owned(),
            taken.room_id.clone(),
            taken.partition.to_string(),
            taken.offset.to_string(),
        ]);
        t
    });
    Ok(())
}
