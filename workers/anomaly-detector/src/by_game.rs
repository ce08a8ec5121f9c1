//! The by-game step: counts the sightings of the internal by-game topic
//! (key = `game_id`, so one consumer sees every copy of its games, whatever
//! instance read the rooms) into copy tracks, evaluates the cross-room
//! rules on them, and alerts like the main step (same incidents, Alert v1,
//! `alert_id` from the key and cooldown slice). A sighting that opens an
//! incident is committed once its alert is acknowledged; the others stay
//! uncommitted for the longest cross-room window ([`HoldBack`]), so a
//! restart or a partition move rebuilds the tracks. Sightings read twice
//! (sent again after a crash of the reading instance) count once.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_shared::metrics::now_ms;
use parley_shared::runtime::{Acks, Completion, Envelope, Pipeline, PipelineContext, Progress};

use crate::detect::copies::{observe, CopyState};
use crate::detect::Hit;
use crate::holdback::{longest_copy_window, HoldBack};
use crate::incidents::incident_key;
use crate::pipeline::Shared;
use crate::rules::RuleSet;
use crate::sighting::Sighting;

/// Sightings remembered per partition for dedup (the older half is
/// forgotten past it; they are also forgotten past the longest window).
const MAX_COUNTED: usize = 1_000_000;
/// Time between two prunes of idle tracks.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// One by-game consumer's cross-room evaluation.
pub struct ByGamePipeline {
    shared: Shared,
    rules: Arc<RuleSet>,
    partitions: HashMap<i32, CopyState>,
    acks: Acks,
    stopping: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
    hold: HoldBack,
    hits: Vec<Hit>,
    last_prune: Instant,
    /// Copy tracks this consumer added to the `copies` gauge.
    reported: i64,
}

impl ByGamePipeline {
    /// A by-game step for one consumer.
    pub fn new(shared: Shared, context: &PipelineContext) -> Self {
        let rules = shared.rules.current();
        let hold = HoldBack::new(
            shared
                .hold_back
                .unwrap_or_else(|| longest_copy_window(&rules)),
        );
        ByGamePipeline {
            rules,
            hold,
            partitions: HashMap::new(),
            acks: context.acks.clone(),
            stopping: Arc::clone(&context.stopping),
            runtime: context.runtime.clone(),
            hits: Vec::new(),
            last_prune: Instant::now(),
            reported: 0,
            shared,
        }
    }

    fn report_sizes(&mut self) {
        let copies: usize = self.partitions.values().map(|s| s.sizes().0).sum();
        let copies = copies as i64;
        if copies != self.reported {
            self.shared
                .metrics
                .state
                .with_label_values(&["copies"])
                .add(copies - self.reported);
            self.reported = copies;
        }
    }
}

impl Pipeline for ByGamePipeline {
    type Item = Sighting;

    fn submit(&mut self, record: Envelope<Sighting>) -> Result<Progress, Envelope<Sighting>> {
        let rules = self.shared.rules.current();
        if !Arc::ptr_eq(&rules, &self.rules) {
            self.rules = rules;
            if self.shared.hold_back.is_none() {
                self.hold.set_span(longest_copy_window(&self.rules));
            }
        }
        let now = now_ms();
        let sighting = &record.value;
        let state = self
            .partitions
            .entry(record.partition)
            .or_insert_with(|| CopyState::new(MAX_COUNTED));
        self.hits.clear();
        if !observe(&self.rules, state, sighting, &mut self.hits) {
            self.shared
                .metrics
                .sightings
                .with_label_values(&["duplicate"])
                .inc();
        }
        let wall = Instant::now();
        let mut alerts = Vec::new();
        {
            let mut incidents = self.shared.incidents.lock();
            for hit in &self.hits {
                let rule = &self.rules.rules[hit.rule];
                self.shared
                    .metrics
                    .hits
                    .with_label_values(&[&rule.name, rule.severity.as_str()])
                    .inc();
                let key = incident_key(&self.rules, hit, sighting.into());
                if let Some(alert) = incidents.observe(&key, rule, hit, sighting.into(), now, wall)
                {
                    alerts.push(alert);
                }
            }
        }
        if alerts.is_empty() {
            if !self.hold.enabled() {
                return Ok(Progress::Done);
            }
            self.hold.hold(
                record.partition,
                record.epoch,
                record.offset,
                sighting.at,
                now,
                wall,
            );
            return Ok(Progress::Pending);
        }
        for alert in &alerts {
            self.shared.announce(alert, record.partition, record.offset);
        }
        let shared = self.shared.clone();
        let acks = self.acks.clone();
        let stopping = Arc::clone(&self.stopping);
        let completion = Completion {
            tag: 0,
            partition: record.partition,
            epoch: record.epoch,
            offsets: vec![record.offset],
        };
        self.runtime.spawn(async move {
            if shared.send_alerts(&alerts, &stopping).await {
                acks.done(completion);
            }
        });
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        for completion in self.hold.release(now) {
            self.acks.done(completion);
        }
        if now.duration_since(self.last_prune) >= PRUNE_EVERY {
            self.last_prune = now;
            for state in self.partitions.values_mut() {
                state.prune();
            }
            self.report_sizes();
        }
    }

    fn assigned(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        for &p in partitions {
            self.partitions.insert(p, CopyState::new(MAX_COUNTED));
        }
        Vec::new()
    }

    fn revoked(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.partitions.remove(p);
            self.hold.forget(*p);
        }
    }

    fn retained(&self) -> usize {
        self.hold.len()
    }

    fn holds_back(&self) -> bool {
        self.hold.enabled()
    }
}

impl Drop for ByGamePipeline {
    fn drop(&mut self) {
        self.shared
            .metrics
            .state
            .with_label_values(&["copies"])
            .sub(self.reported);
    }
}
