//! loadgen's flags, each with a default and an env fallback where it helps.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use parley_shared::config::KafkaArgs;
use parley_shared::telemetry::LogFormat;
use parley_shared::topics;

use crate::incidents::IncidentRate;

/// Produces realistic GameMessage v1 chat traffic to Kafka (key = room).
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen", version, about)]
pub struct LoadgenConfig {
    /// Kafka connection.
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Topic to produce to.
    #[arg(long, env = "PARLEY_TOPIC", default_value = topics::GAME_MESSAGES)]
    pub topic: String,

    /// Records per second; 0 produces as fast as Kafka takes them.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,

    /// Stop after this many records.
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,

    /// Stop after this long (e.g. `90s`, `10m`). Without --count or
    /// --duration, loadgen runs until SIGINT/SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Seed of every random choice; the same seed gives the same records.
    /// Without it a random seed is chosen and logged.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Number of games.
    #[arg(long, default_value_t = 8)]
    pub games: usize,

    /// Number of rooms, spread over the games, with Zipf-like popularity.
    #[arg(long, default_value_t = 2_000)]
    pub rooms: usize,

    /// Number of regular users, spread over the games.
    #[arg(long, default_value_t = 200_000)]
    pub users: u64,

    /// Inject incidents: `KIND=RATE`, RATE per 10,000 records (repeatable).
    /// Kinds: flood, repetition, spam, links, caps, toxicity, raid.
    #[arg(long = "incident", value_name = "KIND=RATE")]
    pub incidents: Vec<IncidentRate>,

    /// Share of malformed records (0..1): bad JSON, bad UTF-8, missing
    /// fields, wrong types, oversize, future versions.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_ratio: f64,

    /// Write the ground truth (one JSON line per record) to this file.
    #[arg(long)]
    pub truth: Option<PathBuf>,

    /// Spread `sent_at` evenly over the past span (e.g. `6h`) instead of
    /// stamping the current time; needs --count.
    #[arg(long, value_parser = humantime::parse_duration, requires = "count")]
    pub time_span: Option<Duration>,

    /// How often to log progress.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub progress_interval: Duration,

    /// Log format.
    #[arg(long, env = "PARLEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl LoadgenConfig {
    /// Checks what clap cannot: ranges and combinations.
    pub fn validate(&self) -> Result<(), String> {
        if !self.rate.is_finite() || self.rate < 0.0 {
            return Err(format!("--rate must be 0 or more, got {}", self.rate));
        }
        if !(0.0..=1.0).contains(&self.malformed_ratio) {
            return Err(format!(
                "--malformed-ratio must be between 0 and 1, got {}",
                self.malformed_ratio
            ));
        }
        if self.count == Some(0) {
            return Err("--count must be at least 1".to_owned());
        }
        if self.topic.is_empty() {
            return Err("--topic must not be empty".to_owned());
        }
        Ok(())
    }
}
