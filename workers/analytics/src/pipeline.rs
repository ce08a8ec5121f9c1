//! The analytics step: each valid message updates its game's counters and
//! its partition's windows. The work is in memory (Prometheus scrapes it),
//! so a record is done as soon as it is counted.

use std::collections::HashMap;
use std::sync::Arc;

use parley_shared::metrics::{now_ms, RuntimeMetrics};
use parley_shared::runtime::{Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::{GameMessage, MessageKind};
use prometheus::{Histogram, IntCounter};

use crate::games::GameLabels;
use crate::metrics::AnalyticsMetrics;
use crate::state::{lock, SharedState, StateTable};

/// Kind label: the four known kinds, everything else `other`.
fn kind_label(kind: &MessageKind) -> &'static str {
    match kind {
        MessageKind::Chat => "chat",
        MessageKind::System => "system",
        MessageKind::Join => "join",
        MessageKind::Leave => "leave",
        MessageKind::Other(_) => "other",
    }
}

/// Shared by every consumer of the process.
#[derive(Clone)]
pub struct Shared {
    /// Partition states.
    pub table: Arc<StateTable>,
    /// Game labels.
    pub games: Arc<GameLabels>,
    /// analytics' metrics.
    pub metrics: AnalyticsMetrics,
    /// Rooms held per partition at most.
    pub max_rooms: usize,
}

/// One consumer's analytics step.
pub struct AnalyticsPipeline {
    shared: Shared,
    runtime: RuntimeMetrics,
    partitions: HashMap<i32, SharedState>,
    counters: HashMap<(Arc<str>, &'static str), IntCounter>,
    lengths: HashMap<Arc<str>, Histogram>,
}

impl AnalyticsPipeline {
    /// A step for one consumer.
    pub fn new(shared: Shared, context: &PipelineContext) -> Self {
        AnalyticsPipeline {
            shared,
            runtime: context.metrics.clone(),
            partitions: HashMap::new(),
            counters: HashMap::new(),
            lengths: HashMap::new(),
        }
    }

    fn count(&mut self, game: &Arc<str>, message: &GameMessage) {
        let kind = kind_label(&message.kind);
        let metrics = &self.shared.metrics;
        self.counters
            .entry((Arc::clone(game), kind))
            .or_insert_with(|| metrics.messages.with_label_values(&[game, kind]))
            .inc();
        self.lengths
            .entry(Arc::clone(game))
            .or_insert_with(|| metrics.length.with_label_values(&[game]))
            .observe(message.content.chars().count() as f64);
    }
}

impl Pipeline for AnalyticsPipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        let now = now_ms();
        let message = &record.value;
        let game = self.shared.games.label(&message.game_id);
        self.count(&game, message);
        self.runtime.observe_latency(message.sent_at, now);
        let state = match self.partitions.get(&record.partition) {
            Some(state) => state,
            None => {
                // Assigned before this consumer saw it (should not happen):
                // start clean rather than drop the record.
                let state = self
                    .shared
                    .table
                    .start(record.partition, now, self.shared.max_rooms);
                self.partitions.entry(record.partition).or_insert(state)
            }
        };
        let at = message.sent_at.min(now);
        let mut state = lock(state);
        state
            .users
            .entry(Arc::clone(&game))
            .or_default()
            .record(&message.user_id, at, now);
        state.rooms.record(&message.room_id, &game, at);
        Ok(Progress::Done)
    }

    fn assigned(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        let now = now_ms();
        for &p in partitions {
            let state = self.shared.table.start(p, now, self.shared.max_rooms);
            self.partitions.insert(p, state);
            self.shared.metrics.resets.inc();
        }
        Vec::new()
    }

    fn revoked(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.partitions.remove(p);
            self.shared.table.drop_partition(*p);
        }
    }
}
