//! anomaly-detector's metric names and handles (the runtime's are in
//! `parley_shared::metrics`). `rule` values come from the rule file (a
//! bounded, operator-written set); `game` is capped (first 50, then `other`).

use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Rule hits (before incident folding), by `rule` and `severity`.
pub const RULE_HITS: &str = "parley_anomaly_rule_hits_total";
/// Alerts raised (incidents opened), by `category`, `severity` and `game`.
pub const ALERTS: &str = "parley_anomaly_alerts_total";
/// Alert deliveries, by `sink` (`kafka`, `alertmanager`) and `result` (`ok`, `error`).
pub const ALERT_SENDS: &str = "parley_anomaly_alert_sends_total";
/// Entries of detection state, by `kind` (`users`, `rooms`, `user_messages`, `seen_users`, `copies`, `incidents`, `known_incidents`).
pub const STATE_ENTRIES: &str = "parley_anomaly_state_entries";
/// Time to evaluate every rule on one message (sampled).
pub const RULE_EVAL: &str = "parley_anomaly_rule_eval_seconds";
/// Sightings of possible cross-room copies, by `result`: `sent` (to the
/// by-game topic, acknowledged), `error` (a send failed, retried),
/// `duplicate` (read again from the by-game topic, not counted twice).
pub const SIGHTINGS: &str = "parley_anomaly_sightings_total";
/// Rule file reloads (SIGHUP), by `result`.
pub const RELOADS: &str = "parley_anomaly_rule_reloads_total";
/// Rules enabled now.
pub const RULES_ENABLED: &str = "parley_anomaly_rules_enabled";

/// Handles.
#[derive(Clone)]
pub struct DetectorMetrics {
    /// See [`RULE_HITS`].
    pub hits: IntCounterVec,
    /// See [`ALERTS`].
    pub alerts: IntCounterVec,
    /// See [`ALERT_SENDS`].
    pub sends: IntCounterVec,
    /// See [`STATE_ENTRIES`].
    pub state: IntGaugeVec,
    /// See [`RULE_EVAL`].
    pub eval: Histogram,
    /// See [`SIGHTINGS`].
    pub sightings: IntCounterVec,
    /// See [`RELOADS`].
    pub reloads: IntCounterVec,
    /// See [`RULES_ENABLED`].
    pub rules: IntGauge,
}

impl DetectorMetrics {
    /// Registers beside the runtime's metrics.
    pub fn register(runtime: &RuntimeMetrics) -> Result<Self, MetricsError> {
        let m = DetectorMetrics {
            hits: IntCounterVec::new(
                Opts::new(RULE_HITS, "Rule hits by rule and severity."),
                &["rule", "severity"],
            )?,
            alerts: IntCounterVec::new(
                Opts::new(ALERTS, "Alerts raised (incidents opened)."),
                &["category", "severity", "game"],
            )?,
            sends: IntCounterVec::new(
                Opts::new(
                    ALERT_SENDS,
                    "Alert deliveries (and auto-actions: sink `action`) by sink and result.",
                ),
                &["sink", "result"],
            )?,
            state: IntGaugeVec::new(
                Opts::new(STATE_ENTRIES, "Entries of detection state."),
                &["kind"],
            )?,
            eval: Histogram::with_opts(
                HistogramOpts::new(
                    RULE_EVAL,
                    "Time to evaluate every rule on one message (sampled).",
                )
                .buckets(prometheus::exponential_buckets(0.000_000_5, 2.0, 16)?),
            )?,
            sightings: IntCounterVec::new(
                Opts::new(SIGHTINGS, "Sightings of possible cross-room copies."),
                &["result"],
            )?,
            reloads: IntCounterVec::new(
                Opts::new(RELOADS, "Rule file reloads by result."),
                &["result"],
            )?,
            rules: IntGauge::new(RULES_ENABLED, "Rules enabled now.")?,
        };
        let r = &runtime.registry;
        r.register(Box::new(m.hits.clone()))?;
        r.register(Box::new(m.alerts.clone()))?;
        r.register(Box::new(m.sends.clone()))?;
        r.register(Box::new(m.state.clone()))?;
        r.register(Box::new(m.eval.clone()))?;
        r.register(Box::new(m.sightings.clone()))?;
        r.register(Box::new(m.reloads.clone()))?;
        r.register(Box::new(m.rules.clone()))?;
        for sink in ["kafka", "alertmanager", "action"] {
            for result in ["ok", "error"] {
                m.sends.with_label_values(&[sink, result]);
            }
        }
        for result in ["ok", "error"] {
            m.reloads.with_label_values(&[result]);
        }
        for result in ["sent", "error", "duplicate"] {
            m.sightings.with_label_values(&[result]);
        }
        Ok(m)
    }
}
