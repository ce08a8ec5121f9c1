//! What every handler and connection of the public listener shares: the
//! token keys, the rooms, the alert listeners, recovery and history, the
//! limits and metrics, the publish path, moderation, and the shutdown signal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{header, HeaderMap};

use crate::alerts::AlertHub;
use crate::auth::{AuthError, Grant, TokenKeys};
use crate::config::Limits;
use crate::fanout::RoomRegistry;
use crate::history::{HistoryStore, KafkaReplay};
use crate::metrics::SenderMetrics;
use crate::moderation::{Acting, Moderation};

use super::publishing::Publishing;

/// Everything the handlers share.
pub struct AppState {
    /// Token verification.
    pub keys: TokenKeys,
    /// Rooms.
    pub registry: Arc<RoomRegistry>,
    /// Alert listeners.
    pub alerts: Arc<AlertHub>,
    /// Kafka recoveries.
    pub replay: KafkaReplay,
    /// History.
    pub history: HistoryStore,
    /// Limits.
    pub limits: Limits,
    /// Metrics.
    pub metrics: SenderMetrics,
    /// Flips to true when the server shuts down.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Open connections per client address.
    pub addresses: Arc<super::abuse::AddressLimits>,
    /// Players' and game servers' publishes.
    pub publishing: Arc<Publishing>,
    /// Mutes, bans and deletions in force.
    pub moderation: Arc<Moderation>,
    /// Moderators' actions.
    pub acting: Arc<Acting>,
    next_conn: AtomicU64,
}

impl AppState {
    /// Shared state for the handlers.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        keys: TokenKeys,
        registry: Arc<RoomRegistry>,
        alerts: Arc<AlertHub>,
        replay: KafkaReplay,
        history: HistoryStore,
        limits: Limits,
        metrics: SenderMetrics,
        shutdown: tokio::sync::watch::Receiver<bool>,
        publishing: Arc<Publishing>,
        moderation: Arc<Moderation>,
        acting: Arc<Acting>,
    ) -> Self {
        AppState {
            keys,
            registry,
            alerts,
            replay,
            history,
            limits,
            metrics,
            shutdown,
            addresses: super::abuse::AddressLimits::new(limits.max_connections_per_ip),
            publishing,
            moderation,
            acting,
            next_conn: AtomicU64::new(1),
        }
    }

    /// A new connection id.
    pub fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Verifies the bearer token or `token` parameter.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
    ) -> Result<Grant, AuthError> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let result = bearer
            .or(query_token)
            .ok_or(AuthError::Missing)
            .and_then(|token| self.keys.verify(token));
        if let Err(e) = &result {
            self.metrics.refusals.with_label_values(&[e.label()]).inc();
        }
        result
    }
}
