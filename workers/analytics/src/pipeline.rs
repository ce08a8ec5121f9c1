//! The analytics step: each valid message updates its game's counters and
//! its partition's windows. The work is in memory (Prometheus scrapes it),
//! so a record is done as soon as it is counted.

use std::collections::HashMap;
use std::sync::Arc;

use parley_shared::metrics::{now_ms, RuntimeMetrics};
use parley_shared::runtime::{Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::{GameMessage, MessageKind};
use prometheus::{Histogram, IntCounter};

use crate::metrics::AnalyticsMetrics;
use crate::state::{lock, SharedState, StateTable};
use parley_shared::labels::{GameLabel, GameLabels};

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

/// Kind labels, in [`kind_index`] order.
const KINDS: [&str; 5] = ["chat", "system", "join", "leave", "other"];

fn kind_index(kind: &MessageKind) -> usize {
    match kind {
        MessageKind::Chat => 0,
        MessageKind::System => 1,
        MessageKind::Join => 2,
        MessageKind::Leave => 3,
        MessageKind::Other(_) => 4,
    }
}

/// A game's label and its metric handles, looked up once per message.
struct GameSlot {
    label: GameLabel,
    counters: [IntCounter; 5],
    length: Histogram,
}

/// Messages between two clock reads (the clock is a measurable share of
/// the per-message cost; windows and latency need millisecond accuracy only).
const CLOCK_EVERY: u32 = 64;

/// One consumer's analytics step.
pub struct AnalyticsPipeline {
    shared: Shared,
    runtime: RuntimeMetrics,
    partitions: HashMap<i32, SharedState>,
    games: HashMap<Box<str>, GameSlot, foldhash::fast::RandomState>,
    now: i64,
    since_clock: u32,
}

impl AnalyticsPipeline {
    /// A step for one consumer.
    pub fn new(shared: Shared, context: &PipelineContext) -> Self {
        AnalyticsPipeline {
            shared,
            runtime: context.metrics.clone(),
            partitions: HashMap::new(),
            games: HashMap::default(),
            now: now_ms(),
            since_clock: 0,
        }
    }

    /// Counts the message; returns its game's label.
    fn count(&mut self, message: &GameMessage) -> GameLabel {
        let slot = match self.games.get(message.game_id.as_str()) {
            Some(slot) => slot,
            None => {
                let label = self.shared.games.label(&message.game_id);
                let metrics = &self.shared.metrics;
                let slot = GameSlot {
                    counters: KINDS.map(|k| metrics.messages.with_label_values(&[&*label.name, k])),
                    length: metrics.length.with_label_values(&[&*label.name]),
                    label,
                };
                self.games
                    .entry(message.game_id.clone().into_boxed_str())
                    .or_insert(slot)
            }
        };
        slot.counters[kind_index(&message.kind)].inc();
        slot.length.observe(message.content.chars().count() as f64);
        slot.label.clone()
    }

    fn now(&mut self) -> i64 {
        self.since_clock += 1;
        if self.since_clock >= CLOCK_EVERY {
            self.since_clock = 0;
            self.now = now_ms();
        }
        self.now
    }
}

impl Pipeline for AnalyticsPipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        let now = self.now();
        let message = &record.value;
        let game = self.count(message).name;
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
        match state.users.get_mut(&*game) {
            Some(users) => users.record(&message.user_id, at, now),
            None => {
                let mut users = crate::windows::UserWindows::default();
                users.record(&message.user_id, at, now);
                state.users.insert(Arc::clone(&game), users);
            }
        }
        state.rooms.record(&message.room_id, &game, at);
        Ok(Progress::Done)
    }

    fn tick(&mut self, _now: std::time::Instant) {
        self.now = now_ms();
        self.since_clock = 0;
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
