//! analytics' flags: the shared consumer flags plus the label caps and the
//! refresh interval of the window gauges.

use std::time::Duration;

use clap::Parser;
use parley_shared::runtime::{ActionsArgs, ConsumerArgs, ConsumerSettings, WorkerIdentity};

/// Worker name and default group.
pub const WORKER: &str = "analytics";
/// Default metrics address (docs/contracts.md).
pub const METRICS_ADDR: &str = "127.0.0.1:9103";
/// Largest `--top-rooms`.
pub const MAX_TOP_ROOMS: usize = 20;
/// Live operator metrics from `game-messages` and `moderation-actions` for
/// Prometheus and Grafana.
#[derive(Debug, Clone, Parser)]
#[command(name = "analytics", version, about)]
pub struct AnalyticsConfig {
    /// Kafka consumer flags.
    #[command(flatten)]
    pub consumer: ConsumerArgs,

    /// The moderation actions group's flags (`--actions-topic`, `--actions-group`).
    #[command(flatten)]
    pub actions: ActionsArgs,

    /// Games with their own label; later ones are counted as `other`.
    #[arg(long, env = "PARLEY_MAX_GAMES", default_value_t = 50)]
    pub max_games: usize,

    /// Busiest rooms exported (at most 20).
    #[arg(long, env = "PARLEY_TOP_ROOMS", default_value_t = 10)]
    pub top_rooms: usize,

    /// Rooms tracked per partition (least recently active dropped first).
    #[arg(long, env = "PARLEY_MAX_ROOMS", default_value_t = 200_000)]
    pub max_rooms: usize,

    /// How often the window gauges are recomputed.
    #[arg(long, env = "PARLEY_REFRESH", value_parser = humantime::parse_duration, default_value = "5s")]
    pub refresh: Duration,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct AnalyticsSettings {
    /// Consumer settings (messages).
    pub consumer: ConsumerSettings,
    /// Consumer of the actions topic (own group, one consumer).
    pub actions: ConsumerSettings,
    /// Game label cap.
    pub max_games: usize,
    /// K of the top rooms.
    pub top_rooms: usize,
    /// Rooms per partition.
    pub max_rooms: usize,
    /// Gauge refresh interval.
    pub refresh: Duration,
}

impl AnalyticsConfig {
    /// Validates everything.
    pub fn settings(&self) -> Result<AnalyticsSettings, String> {
        let identity = WorkerIdentity::shared_group(WORKER, METRICS_ADDR)?;
        let consumer = self.consumer.settings(&identity).map_err(|e| e.0)?;
        let actions = self.actions.settings(&consumer).map_err(|e| e.0)?;
        if self.max_games == 0 || self.max_games > 1000 {
            return Err("--max-games must be 1–1000".into());
        }
        if self.top_rooms == 0 || self.top_rooms > MAX_TOP_ROOMS {
            return Err(format!("--top-rooms must be 1–{MAX_TOP_ROOMS}"));
        }
        if self.max_rooms == 0 {
            return Err("--max-rooms must be at least 1".into());
        }
        if self.refresh < Duration::from_millis(100) {
            return Err("--refresh must be at least 100ms".into());
        }
        Ok(AnalyticsSettings {
            consumer,
            actions,
            max_games: self.max_games,
            top_rooms: self.top_rooms,
            max_rooms: self.max_rooms,
            refresh: self.refresh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<AnalyticsSettings, String> {
        let mut argv = vec!["analytics"];
        argv.extend_from_slice(args);
        AnalyticsConfig::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .settings()
    }

    #[test]
    fn defaults_and_limits() {
        let s = parse(&[]).expect("valid");
        assert_eq!(s.consumer.group, "analytics");
        assert_eq!(s.consumer.metrics_addr.port(), 9103);
        assert_eq!(s.top_rooms, 10);
        assert_eq!(s.actions.topic, "moderation-actions");
        assert_eq!(s.actions.group, "analytics.actions");
        assert_eq!(s.actions.concurrency.get(), 1);
        for bad in [
            &["--top-rooms", "21"][..],
            &["--actions-topic", "game-messages"],
            &["--actions-group", "analytics"],
            &["--max-games", "0"],
            &["--refresh", "1ms"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
