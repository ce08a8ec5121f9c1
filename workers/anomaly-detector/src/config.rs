//! anomaly-detector's flags: the shared consumer flags, the rule file, the
//! alert sinks and the state caps.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use parley_shared::runtime::{ConsumerArgs, ConsumerSettings, WorkerIdentity};
use parley_shared::topics;

/// Worker name and default group.
pub const WORKER: &str = "anomaly-detector";
/// Default metrics address (INTERFACES.md).
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
        Ok(DetectorSettings {
            consumer,
            rules: self.rules.clone(),
            alerts_topic: self.alerts_topic.clone(),
            alertmanager_url: self.alertmanager_url.clone(),
            alertmanager_resend: self.alertmanager_resend,
            max_users: self.max_users,
            max_seen_users: self.max_seen_users,
            hold_back: self.hold_back,
        })
    }
}
