//! websocket-sender's own metrics (the runtime's are in
//! `parley_shared::metrics`). Labels come from small fixed sets.

use parley_shared::metrics::{MetricsError, RuntimeMetrics, LATENCY_BUCKETS};
use parley_shared::publish::Refusal;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

/// Open WebSocket connections.
pub const CONNECTIONS: &str = "parley_ws_connections";
/// Room subscriptions held.
pub const SUBSCRIPTIONS: &str = "parley_ws_subscriptions";
/// Frames written to sockets, by `kind` (`message`, `alert`, `control`).
pub const FRAMES: &str = "parley_ws_frames_total";
/// Bytes of frames written to sockets.
pub const BYTES: &str = "parley_ws_bytes_total";
/// Connections closed, by close `code`.
pub const DISCONNECTS: &str = "parley_ws_disconnects_total";
/// Subscriptions with `since`, by `outcome` (`buffer`, `kafka`, `gone`, `failed`).
pub const RECOVERIES: &str = "parley_ws_recoveries_total";
/// Now minus `sent_at` when a frame was written to its socket.
pub const DELIVERY_LATENCY: &str = "parley_ws_delivery_latency_seconds";
/// Refused connections and subscriptions, by `reason`.
pub const REFUSALS: &str = "parley_ws_refusals_total";
/// Records skipped by the room buffer, by `reason` (`replayed`, `duplicate`).
pub const SKIPPED: &str = "parley_ws_records_skipped_total";
/// Rooms in memory.
pub const ROOMS: &str = "parley_ws_rooms";
/// Records held in the recovery buffer.
pub const BUFFERED_RECORDS: &str = "parley_ws_buffered_records";
/// Bytes held in the recovery buffer.
pub const BUFFERED_BYTES: &str = "parley_ws_buffered_bytes";
/// History requests served from ClickHouse, by `result`.
pub const HISTORY_REQUESTS: &str = "parley_ws_history_requests_total";

/// Frame kinds.
pub mod kind {
    /// A room record.
    pub const MESSAGE: &str = "message";
    /// A moderation alert.
    pub const ALERT: &str = "alert";
    /// Everything else.
    pub const CONTROL: &str = "control";
}

/// Handles on the worker's metrics.
#[derive(Clone)]
pub struct SenderMetrics {
    /// See [`CONNECTIONS`].
    pub connections: IntGauge,
    /// See [`SUBSCRIPTIONS`].
    pub subscriptions: IntGauge,
    /// See [`FRAMES`].
    pub frames: IntCounterVec,
    /// `frames{kind="message"}`, `{kind="alert"}`, `{kind="control"}`,
    /// looked up once (the writer counts every batch).
    pub frames_by_kind: [IntCounter; 3],
    /// See [`BYTES`].
    pub bytes: IntCounter,
    /// See [`DISCONNECTS`].
    pub disconnects: IntCounterVec,
    /// See [`RECOVERIES`].
    pub recoveries: IntCounterVec,
    /// See [`DELIVERY_LATENCY`].
    pub delivery_latency: Histogram,
    /// See [`REFUSALS`].
    pub refusals: IntCounterVec,
    /// See [`SKIPPED`].
    pub skipped: IntCounterVec,
    /// See [`ROOMS`].
    pub rooms: IntGauge,
    /// See [`BUFFERED_RECORDS`].
    pub buffered_records: IntGauge,
    /// See [`BUFFERED_BYTES`].
    pub buffered_bytes: IntGauge,
    /// See [`HISTORY_REQUESTS`].
    pub history: IntCounterVec,
}

impl SenderMetrics {
    /// Registers the worker's metrics beside the runtime's.
    pub fn register(runtime: &RuntimeMetrics) -> Result<Self, MetricsError> {
        let frames = IntCounterVec::new(Opts::new(FRAMES, "Frames written, by kind."), &["kind"])?;
        let m = SenderMetrics {
            frames_by_kind: [kind::MESSAGE, kind::ALERT, kind::CONTROL]
                .map(|k| frames.with_label_values(&[k])),
            frames,
            connections: IntGauge::new(CONNECTIONS, "Open WebSocket connections.")?,
            subscriptions: IntGauge::new(SUBSCRIPTIONS, "Room subscriptions held.")?,
            bytes: IntCounter::new(BYTES, "Bytes of frames written.")?,
            disconnects: IntCounterVec::new(
                Opts::new(DISCONNECTS, "Connections closed, by close code."),
                &["code"],
            )?,
            recoveries: IntCounterVec::new(
                Opts::new(RECOVERIES, "Subscriptions with since, by outcome."),
                &["outcome"],
            )?,
            delivery_latency: Histogram::with_opts(
                HistogramOpts::new(
                    DELIVERY_LATENCY,
                    "Now minus sent_at when a frame was written to its socket.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            refusals: IntCounterVec::new(
                Opts::new(
                    REFUSALS,
                    "Refused connections and subscriptions, by reason.",
                ),
                &["reason"],
            )?,
            skipped: IntCounterVec::new(
                Opts::new(SKIPPED, "Records the room buffer skipped, by reason."),
                &["reason"],
            )?,
            rooms: IntGauge::new(ROOMS, "Rooms in memory.")?,
            buffered_records: IntGauge::new(BUFFERED_RECORDS, "Records in the recovery buffer.")?,
            buffered_bytes: IntGauge::new(BUFFERED_BYTES, "Bytes in the recovery buffer.")?,
            history: IntCounterVec::new(
                Opts::new(HISTORY_REQUESTS, "History requests, by result."),
                &["result"],
            )?,
        };
        let r = &runtime.registry;
        r.register(Box::new(m.connections.clone()))?;
        r.register(Box::new(m.subscriptions.clone()))?;
        r.register(Box::new(m.frames.clone()))?;
        r.register(Box::new(m.bytes.clone()))?;
        r.register(Box::new(m.disconnects.clone()))?;
        r.register(Box::new(m.recoveries.clone()))?;
        r.register(Box::new(m.delivery_latency.clone()))?;
        r.register(Box::new(m.refusals.clone()))?;
        r.register(Box::new(m.skipped.clone()))?;
        r.register(Box::new(m.rooms.clone()))?;
        r.register(Box::new(m.buffered_records.clone()))?;
        r.register(Box::new(m.buffered_bytes.clone()))?;
        r.register(Box::new(m.history.clone()))?;
        for outcome in ["buffer", "kafka", "gone", "failed"] {
            m.recoveries.with_label_values(&[outcome]);
        }
        Ok(m)
    }
}

/// Publishes, by result (`ok` or the refusal's label).
pub const PUBLISHES: &str = "parley_ws_publishes_total";
/// Publish received → Kafka acknowledged.
pub const PUBLISH_ACK_LATENCY: &str = "parley_ws_publish_ack_seconds";
/// Publishes answered from the retry window (same `client_msg_id`).
pub const PUBLISH_RETRIES: &str = "parley_ws_publish_retries_total";
/// Records in the publish producer's queue, not yet acknowledged.
pub const PUBLISH_QUEUE: &str = "parley_ws_publish_queue";

/// The publish path's metrics.
#[derive(Clone)]
pub struct PublishMetrics {
    /// Publishes by result.
    pub publishes: IntCounterVec,
    /// Received → acknowledged, seconds.
    pub ack_latency: Histogram,
    /// Retries answered from the retry window.
    pub retries: IntCounter,
    /// Producer queue.
    pub queued: IntGauge,
}

impl PublishMetrics {
    /// Registers the publish metrics, every result label at zero.
    pub fn register(runtime: &RuntimeMetrics) -> Result<Self, MetricsError> {
        let m = PublishMetrics {
            publishes: IntCounterVec::new(
                Opts::new(PUBLISHES, "Publishes (WebSocket and HTTP), by result."),
                &["result"],
            )?,
            ack_latency: Histogram::with_opts(
                HistogramOpts::new(
                    PUBLISH_ACK_LATENCY,
                    "Publish received to Kafka acknowledgement.",
                )
                .buckets(vec![
                    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
            )?,
            retries: IntCounter::new(
                PUBLISH_RETRIES,
                "Publishes answered from the retry window (same client_msg_id).",
            )?,
            queued: IntGauge::new(
                PUBLISH_QUEUE,
                "Publishes waiting for Kafka's acknowledgement.",
            )?,
        };
        let r = &runtime.registry;
        r.register(Box::new(m.publishes.clone()))?;
        r.register(Box::new(m.ack_latency.clone()))?;
        r.register(Box::new(m.retries.clone()))?;
        r.register(Box::new(m.queued.clone()))?;
        for result in std::iter::once("ok").chain(Refusal::LABELS) {
            m.publishes.with_label_values(&[result]);
        }
        Ok(m)
    }
}

/// Moderation actions applied by this instance, by `action`.
pub const ACTIONS_APPLIED: &str = "parley_ws_moderation_actions_applied_total";
/// Moderation actions taken through this instance, by `action` and `result`.
pub const ACTIONS_TAKEN: &str = "parley_ws_moderation_actions_total";
/// An action's `created_at` to its retraction at this instance's rooms.
pub const RETRACT_LATENCY: &str = "parley_ws_retract_latency_seconds";
/// Whether the actions decided before this process started are all read (1).
pub const MODERATION_READY: &str = "parley_ws_moderation_ready";

/// Metrics of the moderation actions.
#[derive(Clone)]
pub struct ModerationMetrics {
    /// Actions folded into the ledger, by action.
    pub applied: IntCounterVec,
    /// Actions taken here, by action and result (`ok` or a refusal label).
    pub taken: IntCounterVec,
    /// Action created → retracted here, seconds.
    pub retract_latency: Histogram,
    /// 1 once the start-up read of the actions is done.
    pub ready: IntGauge,
}

impl ModerationMetrics {
    /// Registers the moderation metrics, every action label at zero.
    pub fn register(runtime: &RuntimeMetrics) -> Result<Self, MetricsError> {
        let m = ModerationMetrics {
            applied: IntCounterVec::new(
                Opts::new(
                    ACTIONS_APPLIED,
                    "Moderation actions applied by this instance.",
                ),
                &["action"],
            )?,
            taken: IntCounterVec::new(
                Opts::new(
                    ACTIONS_TAKEN,
                    "Moderation actions taken through this instance, by result.",
                ),
                &["action", "result"],
            )?,
            retract_latency: Histogram::with_opts(
                HistogramOpts::new(
                    RETRACT_LATENCY,
                    "Moderation action created to the message retracted at this instance.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            ready: IntGauge::new(
                MODERATION_READY,
                "1 once the moderation actions decided before start are all read.",
            )?,
        };
        let r = &runtime.registry;
        r.register(Box::new(m.applied.clone()))?;
        r.register(Box::new(m.taken.clone()))?;
        r.register(Box::new(m.retract_latency.clone()))?;
        r.register(Box::new(m.ready.clone()))?;
        for kind in parley_shared::action::ActionKind::ALL {
            m.applied.with_label_values(&[kind.as_str()]);
            m.taken.with_label_values(&[kind.as_str(), "ok"]);
        }
        Ok(m)
    }
}
