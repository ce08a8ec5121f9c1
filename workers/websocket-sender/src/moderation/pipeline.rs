//! The `moderation-actions` group's step: each action folded into the
//! [`Ledger`](super::Ledger), then applied to the rooms (a deleted message
//! retracted, a banned user's subscriptions ended). Every start reads the
//! topic from its beginning (the group commits nothing it needs: the state
//! lives in this process), and marks the ledger caught up once it reached
//! where each partition ended at assignment.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often expired mutes and bans are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

use parley_shared::action::ModerationAction;
use parley_shared::metrics::now_ms;
use parley_shared::runtime::{Envelope, Pipeline, Progress};
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{Effect, Moderation};
use crate::fanout::RoomRegistry;
use crate::metrics::ModerationMetrics;

/// `moderation-actions` → the ledger and the rooms.
pub struct ActionFanout {
    moderation: Arc<Moderation>,
    registry: Arc<RoomRegistry>,
    metrics: ModerationMetrics,
    topic: String,
    watermarks: Option<BaseConsumer>,
    /// Per partition: the next offset to read (after a rebalance inside
    /// this process, reading continues there rather than from the start).
    next: HashMap<i32, i64>,
    /// Per partition still being read up: the offset it ended at.
    catching_up: HashMap<i32, i64>,
    last_sweep: Instant,
}

impl ActionFanout {
    /// A fan-out of `topic` into `moderation` and `registry`; `kafka` is
    /// used to find where each partition starts and ends.
    pub fn new(
        topic: String,
        moderation: Arc<Moderation>,
        registry: Arc<RoomRegistry>,
        metrics: ModerationMetrics,
        kafka: &BTreeMap<String, String>,
    ) -> Self {
        let watermarks = parley_shared::config::client_config(kafka)
            .create()
            .map_err(|e| tracing::warn!(error = %e, "no watermark client for moderation actions"))
            .ok();
        ActionFanout {
            moderation,
            registry,
            metrics,
            topic,
            watermarks,
            next: HashMap::new(),
            catching_up: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }

    fn check_caught_up(&mut self) {
        if self.catching_up.is_empty() {
            self.moderation.set_caught_up();
            self.metrics.ready.set(1);
        }
    }
}

impl Pipeline for ActionFanout {
    type Item = ModerationAction;

    fn submit(
        &mut self,
        record: Envelope<ModerationAction>,
    ) -> Result<Progress, Envelope<ModerationAction>> {
        let Envelope {
            partition,
            offset,
            value: action,
            ..
        } = record;
        let now = now_ms();
        let effect = self.moderation.ledger().write().apply(&action, now);
        self.metrics
            .applied
            .with_label_values(&[action.action.as_str()])
            .inc();
        match effect {
            Effect::Retract {
                room_id,
                message_id,
            } => {
                let told = self.registry.retract(&room_id, &message_id);
                if self.moderation.caught_up() {
                    self.metrics
                        .retract_latency
                        .observe((now - action.created_at).max(0) as f64 / 1000.0);
                }
                tracing::debug!(%room_id, %message_id, told, "message retracted");
            }
            Effect::Evict { room_id, user_id } => {
                let ended = self.registry.evict(&room_id, &user_id);
                tracing::debug!(%room_id, %user_id, ended, "banned user's subscriptions ended");
            }
            Effect::None => {}
        }
        self.next.insert(partition, offset + 1);
        if let Some(&end) = self.catching_up.get(&partition) {
            if offset + 1 >= end {
                self.catching_up.remove(&partition);
                self.check_caught_up();
            }
        }
        Ok(Progress::Done)
    }

    fn tick(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) >= SWEEP_EVERY {
            self.last_sweep = now;
            self.moderation.ledger().write().sweep(now_ms());
        }
    }

    fn assigned(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        let mut starts = Vec::new();
        for &p in partitions {
            if let Some(&next) = self.next.get(&p) {
                starts.push((p, next));
                continue;
            }
            let bounds = self
                .watermarks
                .as_ref()
                .map(|c| c.fetch_watermarks(&self.topic, p, Duration::from_secs(10)));
            match bounds {
                Some(Ok((low, high))) => {
                    starts.push((p, low));
                    if high > low {
                        self.catching_up.insert(p, high);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(partition = p, error = %e, "cannot read where the actions partition starts; reading from offset 0");
                    starts.push((p, 0));
                }
                None => starts.push((p, 0)),
            }
        }
        self.check_caught_up();
        starts
    }
}
