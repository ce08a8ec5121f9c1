//! analytics' metric names (the runtime's are in `parley_shared::metrics`)
//! and handles. Labels are bounded: `game` is capped (`--max-games`, then
//! `other`), `kind`, `window`, `action` and `actor` are fixed sets, and
//! `room` appears only on the top-K family, which never holds more than K
//! series.

use parley_shared::action::{ActionKind, ActorClass};
use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

/// Messages by `game` and `kind` (`chat`, `system`, `join`, `leave`, `other`).
pub const MESSAGES: &str = "parley_analytics_messages_total";
/// Distinct users who sent something, by `game` and `window` (`1m`, `5m`, `1h`).
pub const ACTIVE_USERS: &str = "parley_analytics_active_users";
/// Rooms with a message, by `game` and `window`.
pub const ACTIVE_ROOMS: &str = "parley_analytics_active_rooms";
/// Messages in the last minute of the K busiest rooms, by `game` and `room`.
pub const TOP_ROOM_MESSAGES: &str = "parley_analytics_top_room_messages";
/// Message length in characters, by `game`.
pub const MESSAGE_LENGTH: &str = "parley_analytics_message_length_chars";
/// Partitions whose windows started less than an hour ago (numbers for
/// them are still filling in after a start or a rebalance).
pub const PARTITIONS_WARMING: &str = "parley_analytics_partitions_warming";
/// Partitions whose window state started clean (assignments).
pub const PARTITION_RESETS: &str = "parley_analytics_partition_resets_total";
/// Approximate bytes of window state (sketches and room activity).
pub const STATE_BYTES: &str = "parley_analytics_state_bytes";
/// Games with their own label (the rest are `other`).
pub const GAMES_TRACKED: &str = "parley_analytics_games_tracked";
/// Moderation actions by `action` (`delete_message`, `mute`, `unmute`,
/// `ban`, `unban`) and `actor` (`moderator`, `detector`, `operator`).
pub const MODERATION_ACTIONS: &str = "parley_analytics_moderation_actions_total";

/// Length buckets (characters).
pub const LENGTH_BUCKETS: &[f64] = &[
    0.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// Handles on analytics' metrics.
#[derive(Clone)]
pub struct AnalyticsMetrics {
    /// See [`MESSAGES`].
    pub messages: IntCounterVec,
    /// See [`ACTIVE_USERS`].
    pub active_users: IntGaugeVec,
    /// See [`ACTIVE_ROOMS`].
    pub active_rooms: IntGaugeVec,
    /// See [`TOP_ROOM_MESSAGES`].
    pub top_rooms: IntGaugeVec,
    /// See [`MESSAGE_LENGTH`].
    pub length: HistogramVec,
    /// See [`PARTITIONS_WARMING`].
    pub warming: IntGauge,
    /// See [`PARTITION_RESETS`].
    pub resets: IntCounter,
    /// See [`STATE_BYTES`].
    pub state_bytes: IntGauge,
    /// See [`GAMES_TRACKED`].
    pub games: IntGauge,
    /// See [`MODERATION_ACTIONS`].
    pub actions: IntCounterVec,
}

impl AnalyticsMetrics {
    /// Registers analytics' metrics beside the runtime's.
    pub fn register(runtime: &RuntimeMetrics) -> Result<Self, MetricsError> {
        let m = AnalyticsMetrics {
            messages: IntCounterVec::new(
                Opts::new(MESSAGES, "Messages by game and kind."),
                &["game", "kind"],
            )?,
            active_users: IntGaugeVec::new(
                Opts::new(ACTIVE_USERS, "Distinct users who sent a message, by game and window (HyperLogLog, ~1.6% error)."),
                &["game", "window"],
            )?,
            active_rooms: IntGaugeVec::new(
                Opts::new(ACTIVE_ROOMS, "Rooms with a message, by game and window."),
                &["game", "window"],
            )?,
            top_rooms: IntGaugeVec::new(
                Opts::new(TOP_ROOM_MESSAGES, "Messages in the last minute of the busiest rooms."),
                &["game", "room"],
            )?,
            length: HistogramVec::new(
                HistogramOpts::new(MESSAGE_LENGTH, "Message length in characters.")
                    .buckets(LENGTH_BUCKETS.to_vec()),
                &["game"],
            )?,
            warming: IntGauge::new(PARTITIONS_WARMING, "Partitions whose windows are less than an hour old.")?,
            resets: IntCounter::new(PARTITION_RESETS, "Partitions whose window state started clean.")?,
            state_bytes: IntGauge::new(STATE_BYTES, "Approximate bytes of window state.")?,
            games: IntGauge::new(GAMES_TRACKED, "Games with their own label.")?,
            actions: IntCounterVec::new(
                Opts::new(MODERATION_ACTIONS, "Moderation actions by kind and class of actor."),
                &["action", "actor"],
            )?,
        };
        // Every series from the start: `rate()` sees the first action.
        for action in ActionKind::ALL {
            for actor in ActorClass::ALL {
                m.actions
                    .with_label_values(&[action.as_str(), actor.as_str()]);
            }
        }
        let r = &runtime.registry;
        r.register(Box::new(m.messages.clone()))?;
        r.register(Box::new(m.active_users.clone()))?;
        r.register(Box::new(m.active_rooms.clone()))?;
        r.register(Box::new(m.top_rooms.clone()))?;
        r.register(Box::new(m.length.clone()))?;
        r.register(Box::new(m.warming.clone()))?;
        r.register(Box::new(m.resets.clone()))?;
        r.register(Box::new(m.state_bytes.clone()))?;
        r.register(Box::new(m.games.clone()))?;
        r.register(Box::new(m.actions.clone()))?;
        Ok(m)
    }
}
