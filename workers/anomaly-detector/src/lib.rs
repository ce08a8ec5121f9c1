//! anomaly-detector: `game-messages` → moderation alerts.
//!
//! - Consumer groups: `anomaly-detector` on `game-messages` (shared:
//!   instances split the partitions; state is partition-affine because the
//!   key is the room), and `anomaly-detector.by-game` on the internal topic
//!   `anomaly-detector.by-game` (key = game): cross-room rules need every
//!   room of a game, so the instance that reads a line that may count for
//!   one sends a sighting there, and the instance owning the game's
//!   partition counts them all (the Kafka Streams repartition pattern).
//! - Delivery: at-least-once. A message that opens an incident is committed
//!   only after its Alert v1 is acknowledged by `moderation-alerts`
//!   (idempotent producer), and a message with a sighting only after the
//!   sighting is acknowledged by the by-game topic (idempotent producer);
//!   records stay uncommitted for the rule windows (the by-game consumer:
//!   the cross-room windows), so after a crash the windows are rebuilt and
//!   the incident is re-detected with the same `alert_id`; sightings sent
//!   twice count once (dedup by `message_id`). An incident longer than
//!   what a restart re-reads keeps its `alert_id` too: every alert carries
//!   its incident key in a header, and the alert topic is read back at
//!   start and followed ([`journal`]).
//! - Steps: decode (shared runtime; bad records → DLQ) → normalize text →
//!   evaluate the rules on bounded per-user, per-room and process state
//!   (cross-room candidates → sighting → by-game topic → copy tracks per
//!   game) → fold hits into incidents (one alert per incident, resolved
//!   after its cooldown) → Kafka alert (and Alertmanager, when configured)
//!   → ack.
//! - Rules come from a TOML file, validated at start and on SIGHUP (a bad
//!   reload is refused, logged and counted; the old rules stay).
//! - Layout, by flow: [`rules`] (the file, checked and its content rules
//!   compiled by `parley_moderation`, the crate websocket-sender's
//!   publish-path `Blocklist` shares; compiled here into typed rule kinds)
//!   → [`detect`] (`evaluate`: the message's state, then each enabled
//!   rule's detector from [`detectors`], one type per kind; `copies` counts
//!   cross-room sightings) → [`incidents`] (hits folded into alerts) →
//!   [`sinks`]. [`pipeline`] and [`by_game`] are the two groups' steps, run
//!   together as one `GroupSet` of the shared runtime.

pub mod auto_actions;
pub mod by_game;
pub mod config;
pub mod detect;
pub mod detectors;
pub mod holdback;
pub mod incidents;
pub mod journal;
pub mod metrics;
pub mod pipeline;
pub mod rules;
pub mod sighting;
pub mod sinks;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use parley_shared::runtime::{self, GroupSet, RuntimeError};

use by_game::ByGamePipeline;
use config::DetectorSettings;
use detect::GlobalState;
use incidents::Incidents;
use journal::Journal;
use metrics::DetectorMetrics;
use pipeline::{ActiveRules, DetectorPipeline, Shared};
use rules::{RuleSet, RulesError};
use sighting::KafkaSightings;
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
    /// The alert or sighting producer could not be created.
    #[error("producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// The internal by-game topic does not exist.
    #[error("internal topic {0:?} does not exist: create it keyed by game with as many partitions as game-messages (`parley-admin topics setup` or deploy/local/stack.sh up do), or name another with --by-game-topic")]
    ByGameTopicMissing(String),
    /// The alert topic could not be read back.
    #[error("incident journal on {topic:?}: {source}")]
    Journal {
        /// The alert topic.
        topic: String,
        /// What Kafka said.
        source: rdkafka::error::KafkaError,
    },
    /// The journal's thread could not be started.
    #[error("cannot start the incident journal thread: {0}")]
    JournalThread(std::io::Error),
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
    let by_game_metrics = runtime_metrics.for_group(&settings.by_game.group)?;
    let metrics = DetectorMetrics::register(&runtime_metrics)?;
    metrics.rules.set(rules.rules.len() as i64);
    let mut alerts_check = settings.consumer.clone();
    alerts_check.topic = settings.alerts_topic.clone();
    alerts_check.dlq_topic = None;
    runtime::check_topic(&alerts_check).await?;
    if rules.rules.iter().any(|r| r.on_alert.is_some()) {
        let mut actions_check = alerts_check.clone();
        actions_check.topic = settings.actions_topic.clone();
        runtime::check_topic(&actions_check).await?;
    }
    match runtime::check_topic(&settings.by_game).await {
        Err(RuntimeError::UnknownTopic(topic)) => {
            return Err(DetectorError::ByGameTopicMissing(topic))
        }
        other => other?,
    };

    let incidents = Arc::new(Mutex::new(Incidents::default()));
    let journal_stop = Arc::new(AtomicBool::new(false));
    read_back_incidents(&settings, &rules, hold, &incidents, &journal_stop).await?;

    let active = Arc::new(ActiveRules::new(rules));
    let producer = sinks::producer(&settings.consumer.client_properties)?;
    let kafka = KafkaAlerts::new(
        producer.clone(),
        &settings.alerts_topic,
        &settings.actions_topic,
    );
    let sightings = KafkaSightings::new(producer, &settings.by_game.topic);
    let alertmanager = settings.alertmanager_url.clone().map(|url| {
        tracing::info!(%url, "sending alerts to Alertmanager too");
        sinks::alertmanager(url, settings.alertmanager_resend, metrics.clone())
    });
    let shared = Shared {
        rules: Arc::clone(&active),
        global: Arc::new(Mutex::new(GlobalState::new(settings.max_seen_users))),
        incidents,
        kafka,
        sightings,
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
    tracing::info!(topic = %settings.by_game.topic, group = %settings.by_game.group, "cross-room copies counted per game through the by-game topic");

    // One telemetry server and one health for both groups.
    let by_game_shared = shared.clone();
    let consumers = GroupSet::new(runtime_metrics.clone(), settings.consumer.stall_timeout)
        .group(settings.consumer, runtime_metrics, move |context| {
            DetectorPipeline::new(shared.clone(), &context)
        })
        .group(settings.by_game, by_game_metrics, move |context| {
            ByGamePipeline::new(by_game_shared.clone(), &context)
        });
    let result = consumers.run(shutdown).await;
    reloader.abort();
    sizes.abort();
    journal_stop.store(true, Ordering::Relaxed);
    Ok(result?)
}

/// Longest a start waits for the incident journal to read back.
const JOURNAL_CATCH_UP: Duration = Duration::from_secs(30);

/// Reads the alerts of the last cooldown (plus the hold-back) back into
/// `incidents`, then follows the alert topic on a thread of its own until
/// `stop`.
async fn read_back_incidents(
    settings: &DetectorSettings,
    rules: &RuleSet,
    hold: Duration,
    incidents: &Arc<Mutex<Incidents>>,
    stop: &Arc<AtomicBool>,
) -> Result<(), DetectorError> {
    let cooldown = rules.rules.iter().map(|r| r.cooldown).max();
    let lookback = cooldown.unwrap_or_default() + hold + Duration::from_secs(60);
    let topic = settings.alerts_topic.clone();
    let properties = settings.consumer.client_properties.clone();
    let (incidents, stop) = (Arc::clone(incidents), Arc::clone(stop));
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("incident-journal".into())
        .spawn(move || {
            let started = Instant::now();
            let mut journal = match Journal::start(&properties, &topic, lookback, incidents) {
                Ok(journal) => journal,
                Err(source) => {
                    let _ = ready_tx.send(Err(DetectorError::Journal { topic, source }));
                    return;
                }
            };
            let caught_up = journal.catch_up(JOURNAL_CATCH_UP);
            if caught_up {
                tracing::info!(%topic, alerts = journal.read(), lookback = %humantime::format_duration(lookback), took_ms = started.elapsed().as_millis() as u64, "incident journal read back");
            } else {
                tracing::warn!(%topic, alerts = journal.read(), "incident journal not read to the end in time; going on (an incident alerted before may get a second alert_id)");
            }
            let _ = ready_tx.send(Ok(()));
            journal.follow(&stop);
        })
        .map_err(DetectorError::JournalThread)?;
    ready.await.unwrap_or(Ok(()))
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
        let seen = shared.global.lock().seen();
        let incidents = shared.incidents.lock().len();
        let m = &shared.metrics.state;
        m.with_label_values(&["seen_users"]).set(seen as i64);
        m.with_label_values(&["incidents"]).set(incidents as i64);
        let known = shared.incidents.lock().known();
        m.with_label_values(&["known_incidents"]).set(known as i64);
    }
}
