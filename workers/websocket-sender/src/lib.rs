//! websocket-sender: `game-messages` → the players and moderators connected
//! to this instance, per room, over WebSocket.
//!
//! - Consumer group: `websocket-sender-<instance id>`, one per deployment
//!   slot, so every instance sees every record (broadcast). It also reads
//!   `moderation-alerts` in the same group for moderators, and
//!   `moderation-actions` (from its start, at every start) to enforce
//!   deletions, mutes and bans. Bad records are
//!   skipped and counted, never dead-lettered (every instance would).
//! - Delivery: live reads start at the end of each partition. Each record is
//!   encoded once as a frame and queued for every subscriber of its room
//!   allowed to see it (viewers never get `visibility: moderators`).
//!   Clients reconnecting with `since` get what they missed, in order and
//!   without duplicates, from a bounded per-room buffer, else from Kafka
//!   (assign + seek, bounded concurrency); `recovered: false` only when the
//!   records are no longer retained.
//! - Steps: decode (shared runtime) → room registry (buffer + fan-out) →
//!   per-connection byte-bounded outbox → socket writer. A slow reader is
//!   closed with 4008 and never slows the others.
//! - Layout, by flow: [`fanout`] (records into rooms and outboxes),
//!   [`alerts`] (alerts to moderators), [`edge`] (the listener and each
//!   socket), [`history`] (Kafka recovery, ClickHouse history); the wire
//!   format in [`protocol`], tokens in [`auth`], mutes, bans and deletions
//!   in [`moderation`]. The three consumers (messages, alerts, actions)
//!   run as one `GroupSet` of the shared runtime.

pub mod alerts;
pub mod auth;
pub mod config;
pub mod edge;
pub mod fanout;
pub mod history;
pub mod jwks;
pub mod metrics;
pub mod moderation;
pub mod protocol;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parley_shared::metrics::{MetricsError, RuntimeMetrics};
use parley_shared::runtime::{self, GroupSet, RuntimeError};

use alerts::{AlertFanout, AlertHub};
use config::SenderSettings;
use edge::AppState;
use fanout::{PartitionTable, RoomFanout, RoomRegistry};
use history::KafkaReplay;
use metrics::SenderMetrics;
use moderation::{Acting, ActionFanout, Moderation};

/// Why websocket-sender stopped.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The consumer runtime failed (Kafka unreachable, topic missing…).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The WebSocket address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
    /// The rule file of the block rules is wrong.
    #[error(transparent)]
    Rules(#[from] parley_moderation::RulesError),
    /// The publish producer could not be created.
    #[error("Kafka producer for publishes: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// ClickHouse (history) refused the configured user or password.
    #[error("ClickHouse at {url} refused the credentials: {reason}")]
    ClickHouseCredentials {
        /// The ClickHouse URL.
        url: String,
        /// What ClickHouse said.
        reason: String,
    },
}

/// Serves WebSockets and consumes until `shutdown`, then closes every
/// connection (1001) and stops.
pub async fn run(
    settings: SenderSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SenderError> {
    let messages = settings.messages.clone();
    let partitions = runtime::check_topic(&messages).await?;
    runtime::check_topic(&settings.alerts).await?;
    runtime::check_topic(&settings.actions).await?;
    let history = history::HistoryStore::new(&settings.history);
    let url = settings.history.url.clone();
    history
        .check_credentials(&url)
        .await
        .map_err(|reason| SenderError::ClickHouseCredentials { url, reason })?;

    let metrics = RuntimeMetrics::new(config::WORKER, &messages.group)?;
    let sender_metrics = SenderMetrics::register(&metrics)?;
    let table = Arc::new(PartitionTable::new(partitions, settings.partitioner));
    let limits = settings.limits;
    let registry = Arc::new(RoomRegistry::new(
        table,
        limits.room_buffer.get(),
        limits.buffer_bytes,
    ));
    let hub = Arc::new(AlertHub::default());
    let moderation = Arc::new(Moderation::default());
    let moderation_metrics = metrics::ModerationMetrics::register(&metrics)?;
    let replay = KafkaReplay::new(
        messages.client_properties.clone(),
        messages.topic.clone(),
        limits.recovery_concurrency.get(),
        limits.recovery_timeout,
        Arc::clone(&moderation),
    );
    let acting = Arc::new(Acting::new(
        &messages.client_properties,
        &settings.actions.topic,
        &format!("{}-moderate", messages.group),
        settings.publish.delivery_timeout,
        moderation_metrics.clone(),
    )?);
    let alerts_producer = parley_shared::publish::MessageProducer::new(
        &messages.client_properties,
        &settings.alerts.topic,
        &format!("{}-blocked", messages.group),
        settings.publish.delivery_timeout,
    )?;
    let blocking = Arc::new(edge::blocking::Blocking::load(
        settings.rules.clone(),
        Some(alerts_producer),
    )?);
    let reloads = tokio::spawn(reload_on_sighup(Arc::clone(&blocking)));
    let publishing = Arc::new(edge::publishing::Publishing::new(
        &publish_properties(&messages.client_properties, settings.partitioner),
        &messages.topic,
        &format!("{}-publish", messages.group),
        settings.publish,
        metrics::PublishMetrics::register(&metrics)?,
        Arc::clone(&moderation),
        blocking,
    )?);
    // Sockets close when the consumer groups begin stopping.
    let consumers = GroupSet::new(metrics.clone(), messages.stall_timeout);
    let sockets_closing = consumers.stopping();
    let app = Arc::new(AppState::new(
        settings.keys.clone(),
        Arc::clone(&registry),
        Arc::clone(&hub),
        replay,
        history,
        limits,
        sender_metrics.clone(),
        sockets_closing.clone(),
        Arc::clone(&publishing),
        Arc::clone(&moderation),
        Arc::clone(&acting),
    ));

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| SenderError::Bind {
            addr: settings.listen,
            source,
        })?;
    tracing::info!(addr = %settings.listen, group = %messages.group, "serving /ws, /rooms/{{room}}/messages and the console");
    let mut server_stop = sockets_closing.clone();
    let server = tokio::spawn(async move {
        let app = edge::router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
        // Frames are small and latency-bound: without TCP_NODELAY, Nagle holds
        // a frame while the previous one is unacknowledged, up to the peer's
        // delayed ACK (~40 ms).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|closing| *closing).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "WebSocket server failed");
        }
    });
    let gauges = tokio::spawn(update_gauges(Arc::clone(&registry), sender_metrics.clone()));

    let kafka = messages.client_properties.clone();
    let topic = messages.topic.clone();
    let fanout_metrics = metrics.clone();
    let (actions_topic, actions_kafka) = (settings.actions.topic.clone(), kafka.clone());
    let (actions_registry, actions_moderation) = (Arc::clone(&registry), Arc::clone(&moderation));
    let fanout_moderation = Arc::clone(&moderation);
    let result = consumers
        .group(messages, metrics.clone(), move |_| {
            RoomFanout::new(
                topic.clone(),
                Arc::clone(&registry),
                fanout_metrics.clone(),
                sender_metrics.clone(),
                &kafka,
                Arc::clone(&fanout_moderation),
            )
        })
        .group(settings.alerts, metrics.clone(), move |_| {
            AlertFanout::new(Arc::clone(&hub))
        })
        .group(settings.actions, metrics, move |_| {
            ActionFanout::new(
                actions_topic.clone(),
                Arc::clone(&actions_moderation),
                Arc::clone(&actions_registry),
                moderation_metrics.clone(),
                &actions_kafka,
            )
        })
        .run(shutdown)
        .await;
    // Give connections a moment to send their close frames.
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    publishing.flush(Duration::from_secs(5));
    acting.flush(Duration::from_secs(5));
    gauges.abort();
    reloads.abort();
    Ok(result?)
}

/// Reloads the block rules on every SIGHUP.
async fn reload_on_sighup(blocking: Arc<edge::blocking::Blocking>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP; block rules will not reload");
        return;
    };
    while hangups.recv().await.is_some() {
        blocking.reload();
    }
}

/// The publish producer's client properties: the shared ones, and the
/// partitioner game servers use, so a room maps to the partition this
/// instance reads it from.
fn publish_properties(
    shared: &std::collections::BTreeMap<String, String>,
    partitioner: config::Partitioner,
) -> std::collections::BTreeMap<String, String> {
    let mut properties = shared.clone();
    let name = match partitioner {
        config::Partitioner::Consistent => "consistent_random",
        config::Partitioner::Murmur2 => "murmur2_random",
    };
    properties
        .entry("partitioner".to_owned())
        .or_insert_with(|| name.to_owned());
    properties
}

/// Publishes the buffer's size every few seconds.
async fn update_gauges(registry: Arc<RoomRegistry>, metrics: SenderMetrics) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        every.tick().await;
        let usage = registry.usage();
        metrics.rooms.set(usage.rooms as i64);
        metrics.buffered_records.set(usage.entries as i64);
        metrics.buffered_bytes.set(usage.bytes as i64);
    }
}
