//! anomaly-detector: `game-messages` → moderation alerts.
//!
//! - Consumer group: `anomaly-detector` (shared: instances split the
//!   partitions; state is partition-affine because the key is the room).
//! - Delivery: at-least-once. A message that opens an incident is committed
//!   only after its Alert v1 is acknowledged by `moderation-alerts`
//!   (idempotent producer); after a crash the incident is re-detected from
//!   the uncommitted messages with the same `alert_id`.
//! - Steps: decode (shared runtime; bad records → DLQ) → normalize text →
//!   evaluate the rules on bounded per-user, per-room and process state →
//!   fold hits into incidents (one alert per incident, resolved after its
//!   cooldown) → Kafka alert (and Alertmanager, when configured) → ack.
//! - Rules come from a TOML file, validated at start and on SIGHUP (a bad
//!   reload is refused, logged and counted; the old rules stay).

pub mod config;
pub mod detect;
pub mod holdback;
pub mod incidents;
pub mod metrics;
pub mod pipeline;
pub mod rules;
pub mod sinks;
pub mod text;

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use parley_shared::runtime::{self, RuntimeError};

use config::DetectorSettings;
use detect::GlobalState;
use incidents::Incidents;
use metrics::DetectorMetrics;
use pipeline::{ActiveRules, DetectorPipeline, Shared};
use rules::{RuleSet, RulesError};
use sinks::KafkaAlerts;

/// Why anomaly-detector stopped.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// The rule file is wrong.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The consumer runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The alert producer could not be created.
    #[error("alert producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
}

/// Loads the rules, then consumes until `shutdown`; SIGHUP reloads rules.
pub async fn run(
    settings: DetectorSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DetectorError> {
    let rules = RuleSet::load(&settings.rules)?;
    tracing::info!(path = %settings.rules.display(), enabled = rules.rules.len(), defined = rules.defined, "rules loaded");
    let hold = settings
        .hold_back
        .unwrap_or_else(|| holdback::longest_window(&rules));
    tracing::info!(hold_back = %humantime::format_duration(hold), "records stay uncommitted this long (rule windows survive a restart)");
    let runtime_metrics = RuntimeMetrics::new(settings.consumer.worker, &settings.consumer.group)?;
    let metrics = DetectorMetrics::register(&runtime_metrics)?;
    metrics.rules.set(rules.rules.len() as i64);
    let mut alerts_check = settings.consumer.clone();
    alerts_check.topic = settings.alerts_topic.clone();
    alerts_check.dlq_topic = None;
    runtime::check_topic(&alerts_check).await?;

    let active = Arc::new(ActiveRules::new(rules));
    let kafka = KafkaAlerts::new(&settings.consumer.client_properties, &settings.alerts_topic)?;
    let alertmanager = settings.alertmanager_url.clone().map(|url| {
        tracing::info!(%url, "sending alerts to Alertmanager too");
        sinks::alertmanager(url, settings.alertmanager_resend, metrics.clone())
    });
    let shared = Shared {
        rules: Arc::clone(&active),
        global: Arc::new(Mutex::new(GlobalState::new(settings.max_seen_users))),
        incidents: Arc::new(Mutex::new(Incidents::default())),
        kafka,
        alertmanager,
        metrics: metrics.clone(),
        max_users: settings.max_users,
        // Games with their own label on `parley_anomaly_alerts_total`.
        games: Arc::new(parley_shared::labels::GameLabels::new(50)),
        hold_back: settings.hold_back,
    };
    let reloader = tokio::spawn(reload_on_hangup(
        settings.rules.clone(),
        Arc::clone(&active),
        metrics.clone(),
    ));
    let sizes = tokio::spawn(report_sizes(shared.clone()));
    let result = runtime::run(
        settings.consumer,
        runtime_metrics,
        move |context| DetectorPipeline::new(shared.clone(), &context),
        shutdown,
    )
    .await;
    reloader.abort();
    sizes.abort();
    result?;
    Ok(())
}

/// `--check-rules`: validates the file and describes it.
pub fn check_rules(path: &Path) -> Result<String, RulesError> {
    let rules = RuleSet::load(path)?;
    Ok(format!(
        "{}: {} rules, {} enabled",
        path.display(),
        rules.defined,
        rules.rules.len()
    ))
}

/// Reloads the rules on every SIGHUP; a bad file leaves the old rules.
async fn reload_on_hangup(
    path: std::path::PathBuf,
    active: Arc<ActiveRules>,
    metrics: DetectorMetrics,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; rules will not reload");
        return;
    };
    while hangups.recv().await.is_some() {
        let loaded = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || RuleSet::load(&path)).await
        };
        match loaded {
            Ok(Ok(rules)) => {
                metrics.rules.set(rules.rules.len() as i64);
                tracing::info!(enabled = rules.rules.len(), "rules reloaded");
                active.replace(rules);
                metrics.reloads.with_label_values(&["ok"]).inc();
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "rule reload refused; the previous rules stay active");
                metrics.reloads.with_label_values(&["error"]).inc();
            }
            Err(e) => {
                tracing::error!(error = %e, "rule reload failed");
                metrics.reloads.with_label_values(&["error"]).inc();
            }
        }
    }
}

/// Publishes the process-wide state sizes every few seconds.
async fn report_sizes(shared: Shared) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        let (seen, copies) = {
            let mut global = shared.global.lock().unwrap_or_else(|p| p.into_inner());
            global.prune();
            global.sizes()
        };
        let incidents = shared
            .incidents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        let m = &shared.metrics.state;
        m.with_label_values(&["seen_users"]).set(seen as i64);
        m.with_label_values(&["copies"]).set(copies as i64);
        m.with_label_values(&["incidents"]).set(incidents as i64);
    }
}
