//! anomaly-detector's flags: the shared consumer flags, the rule file, the
//! alert sinks, the internal by-game topic and the state caps.

use std::path::PathBuf;
use std::time::Duration;

use std::num::NonZeroUsize;

use clap::Parser;
use parley_shared::runtime::{ConsumerArgs, ConsumerSettings, WorkerIdentity};
use parley_shared::topics;

/// Worker name and default group.
pub const WORKER: &str = "anomaly-detector";
/// Default metrics address (docs/contracts.md).
pub const METRICS_ADDR: &str = "127.0.0.1:9104";

/// Moderation rules over `game-messages`; alerts to `moderation-alerts`
/// and Alertmanager.
#[derive(Debug, Clone, Parser)]
#[command(name = "anomaly-detector", version, about)]
pub struct DetectorConfig {
    /// Kafka consumer flags.
    #[command(flatten)]
    pub consumer: ConsumerArgs,

    /// Rule file (TOML); SIGHUP reloads it.
    #[arg(
        long,
        env = "PARLEY_RULES",
        default_value = "deploy/anomaly-detector/rules.toml"
    )]
    pub rules: PathBuf,

    /// Validate the rule file, print a summary and exit.
    #[arg(long)]
    pub check_rules: bool,

    /// Topic alerts are written to.
    #[arg(long, env = "PARLEY_ALERTS_TOPIC", default_value = topics::MODERATION_ALERTS)]
    pub alerts_topic: String,

    /// Topic of moderation actions: a rule's `on_alert` policy (mute, ban,
    /// delete) is produced there with `actor = "anomaly-detector"`.
    #[arg(long, env = "PARLEY_ACTIONS_TOPIC", default_value = topics::MODERATION_ACTIONS)]
    pub actions_topic: String,

    /// Internal topic of cross-room sightings, keyed by `game_id` (12
    /// partitions; created with the other topics): every copy of a game's
    /// text is counted by the instance that owns the game's partition there.
    #[arg(long, env = "PARLEY_BY_GAME_TOPIC", default_value = crate::sighting::BY_GAME_TOPIC)]
    pub by_game_topic: String,

    /// Consumer group of the by-game topic (default: the main group with
    /// `.by-game` appended, e.g. `anomaly-detector.by-game`).
    #[arg(long, env = "PARLEY_BY_GAME_GROUP")]
    pub by_game_group: Option<String>,

    /// Alertmanager base URL (e.g. http://127.0.0.1:9093); alerts are also
    /// posted there when set.
    #[arg(long, env = "PARLEY_ALERTMANAGER_URL")]
    pub alertmanager_url: Option<String>,

    /// How often active alerts are re-sent to Alertmanager.
    #[arg(long, env = "PARLEY_ALERTMANAGER_RESEND", value_parser = humantime::parse_duration, default_value = "1m")]
    pub alertmanager_resend: Duration,

    /// Users (and rooms) tracked per partition; the least recently active
    /// half is dropped past it.
    #[arg(long, env = "PARLEY_MAX_USERS", default_value_t = 200_000)]
    pub max_users: usize,

    /// Users remembered process-wide for first-seen detection (raids).
    #[arg(long, env = "PARLEY_MAX_SEEN_USERS", default_value_t = 2_000_000)]
    pub max_seen_users: usize,

    /// How long a record stays uncommitted so that a restart (or the next
    /// owner of its partition) re-reads it and rebuilds the rule windows;
    /// default: the longest window of the enabled rules. `0s` commits at
    /// once (an incident spanning a crash may then be missed).
    #[arg(long, env = "PARLEY_HOLD_BACK", value_parser = humantime::parse_duration)]
    pub hold_back: Option<Duration>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct DetectorSettings {
    /// Consumer settings.
    pub consumer: ConsumerSettings,
    /// Rule file.
    pub rules: PathBuf,
    /// Alert topic.
    pub alerts_topic: String,
    /// Topic the rules' auto-actions go to.
    pub actions_topic: String,
    /// Consumer of the internal by-game topic (same process, own group,
    /// no DLQ: only this worker writes it).
    pub by_game: ConsumerSettings,
    /// Alertmanager URL.
    pub alertmanager_url: Option<String>,
    /// Alertmanager resend interval.
    pub alertmanager_resend: Duration,
    /// Per-partition user cap.
    pub max_users: usize,
    /// First-seen cap.
    pub max_seen_users: usize,
    /// Hold-back override (`None`: the rules' longest window).
    pub hold_back: Option<Duration>,
}

impl DetectorConfig {
    /// Validates everything.
    pub fn settings(&self) -> Result<DetectorSettings, String> {
        let identity = WorkerIdentity::shared_group(WORKER, METRICS_ADDR)?;
        let consumer = self.consumer.settings(&identity).map_err(|e| e.0)?;
        if let Some(url) = &self.alertmanager_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "--alertmanager-url must be http(s)://…, got {url:?}"
                ));
            }
        }
        if self.alertmanager_resend < Duration::from_secs(1) {
            return Err("--alertmanager-resend must be at least 1s".into());
        }
        if self.alerts_topic == consumer.topic {
            return Err("--alerts-topic must differ from --topic".into());
        }
        let by_game = self.by_game(&consumer)?;
        Ok(DetectorSettings {
            consumer,
            rules: self.rules.clone(),
            alerts_topic: self.alerts_topic.clone(),
            actions_topic: self.actions_topic.clone(),
            by_game,
            alertmanager_url: self.alertmanager_url.clone(),
            alertmanager_resend: self.alertmanager_resend,
            max_users: self.max_users,
            max_seen_users: self.max_seen_users,
            hold_back: self.hold_back,
        })
    }

    /// The by-game consumer: the main consumer's settings on the by-game
    /// topic and group, one consumer (sightings are few).
    fn by_game(&self, main: &ConsumerSettings) -> Result<ConsumerSettings, String> {
        let topic = self.by_game_topic.trim();
        if topic.is_empty() {
            return Err("--by-game-topic must not be empty".into());
        }
        for (other, flag) in [
            (main.topic.as_str(), "--topic"),
            (self.alerts_topic.as_str(), "--alerts-topic"),
            (main.dlq_topic.as_deref().unwrap_or_default(), "--dlq-topic"),
        ] {
            if topic == other {
                return Err(format!("--by-game-topic must differ from {flag} ({topic})"));
            }
        }
        let group = self
            .by_game_group
            .clone()
            .unwrap_or_else(|| format!("{}.by-game", main.group));
        if group.trim().is_empty() {
            return Err("--by-game-group must not be empty".into());
        }
        if group == main.group {
            return Err(format!(
                "--by-game-group must differ from --group ({group})"
            ));
        }
        let mut by_game = main.clone();
        by_game.topic = topic.to_owned();
        by_game.group = group;
        by_game.dlq_topic = None;
        by_game.concurrency = NonZeroUsize::MIN;
        Ok(by_game)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<DetectorSettings, String> {
        let argv = ["anomaly-detector", "--brokers", "127.0.0.1:9092"]
            .iter()
            .chain(args);
        DetectorConfig::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .settings()
    }

    #[test]
    fn the_by_game_consumer_has_its_own_topic_and_group() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.by_game.topic, "anomaly-detector.by-game");
        assert_eq!(s.by_game.group, "anomaly-detector.by-game");
        assert_eq!(s.by_game.dlq_topic, None);
        assert_eq!(s.by_game.concurrency.get(), 1);
        let s = settings(&["--group", "g7", "--concurrency", "3"]).expect("group");
        assert_eq!(s.by_game.group, "g7.by-game");
        let s = settings(&["--by-game-topic", "t", "--by-game-group", "bg"]).expect("flags");
        assert_eq!(
            (s.by_game.topic.as_str(), s.by_game.group.as_str()),
            ("t", "bg")
        );
    }

    #[test]
    fn the_by_game_topic_is_no_other_topic() {
        for args in [
            &["--by-game-topic", "game-messages"][..],
            &["--by-game-topic", "moderation-alerts"],
            &["--by-game-topic", "game-messages.dlq"],
            &["--by-game-topic", " "],
            &["--by-game-group", "anomaly-detector"],
        ] {
            assert!(settings(args).is_err(), "{args:?} accepted");
        }
    }
}
