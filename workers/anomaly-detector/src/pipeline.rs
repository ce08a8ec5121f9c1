//! The detector step: normalize, evaluate every rule, fold hits into
//! incidents, and send a new incident's alert before committing the
//! message that opened it (Pending until Kafka acknowledged the alert).
//! A line that may count for a cross-room rule is not counted here: its
//! [`Sighting`] goes to the by-game topic, and the line stays uncommitted
//! until Kafka acknowledged the sighting (a crash before that re-reads the
//! line and sends the sighting again; the by-game consumer counts it once).
//! Other records stay uncommitted while a rule window may need them
//! ([`HoldBack`]), so a restart rebuilds the windows a crash lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::{Duration, Instant};

use parley_shared::labels::GameLabels;
use parley_shared::metrics::now_ms;
use parley_shared::retry::{retry, Backoff, Verdict};
use parley_shared::runtime::{Acks, Completion, Envelope, Pipeline, PipelineContext, Progress};
use parley_shared::GameMessage;
use tokio::sync::mpsc::UnboundedSender;

use crate::detect::{evaluate, text_hash, GlobalState, Hit, PartitionState};
use crate::holdback::{longest_window, HoldBack};
use crate::incidents::{incident_key, Alert, Incidents};
use crate::metrics::DetectorMetrics;
use crate::rules::RuleSet;
use crate::sighting::{KafkaSightings, Sighting};
use crate::sinks::{AmEvent, KafkaAlerts};
use parley_moderation::text::normalize::{normalize_into, Normalized};

/// The rules in force, swapped whole on reload.
#[derive(Debug)]
pub struct ActiveRules {
    rules: RwLock<Arc<RuleSet>>,
    generation: AtomicU64,
}

impl ActiveRules {
    /// Starts with `rules`.
    pub fn new(rules: RuleSet) -> Self {
        ActiveRules {
            rules: RwLock::new(Arc::new(rules)),
            generation: AtomicU64::new(0),
        }
    }

    /// Replaces the rules (state is kept).
    pub fn replace(&self, rules: RuleSet) {
        *self.rules.write() = Arc::new(rules);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The rules now.
    pub fn current(&self) -> Arc<RuleSet> {
        Arc::clone(&self.rules.read())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// What every consumer of the process shares.
#[derive(Clone)]
pub struct Shared {
    /// Rules in force.
    pub rules: Arc<ActiveRules>,
    /// First-seen users.
    pub global: Arc<Mutex<GlobalState>>,
    /// Open incidents.
    pub incidents: Arc<Mutex<Incidents>>,
    /// The alert topic.
    pub kafka: KafkaAlerts,
    /// The by-game topic (sightings of possible cross-room copies).
    pub sightings: KafkaSightings,
    /// Alertmanager inbox, when configured.
    pub alertmanager: Option<UnboundedSender<AmEvent>>,
    /// Metrics.
    pub metrics: DetectorMetrics,
    /// Per-partition user cap.
    pub max_users: usize,
    /// Games with their own `game` label on alert counts.
    pub games: Arc<GameLabels>,
    /// How long records stay uncommitted (`--hold-back`); `None`: the
    /// longest window of the rules in force.
    pub hold_back: Option<Duration>,
}

impl Shared {
    /// Counts, logs and forwards (Alertmanager) a new incident's alert.
    pub fn announce(&self, alert: &Alert, partition: i32, offset: i64) {
        let game = self.games.label(&alert.game_id).name;
        self.metrics
            .alerts
            .with_label_values(&[alert.category, alert.severity, &game])
            .inc();
        tracing::info!(alert_id = %alert.alert_id, rule = %alert.rule, room = %alert.room_id, partition, offset, "{}", alert.summary);
        if let Some(am) = &self.alertmanager {
            let _ = am.send(AmEvent::Fire(alert.clone()));
        }
    }

    /// Sends `alerts` to Kafka, each retried every second until the broker
    /// takes it; false if the worker stopped first.
    pub async fn send_alerts(&self, alerts: &[Alert], stopping: &AtomicBool) -> bool {
        for alert in alerts {
            let sent = retry(
                &mut Backoff::new(Duration::from_secs(1), Duration::from_secs(1)),
                stopping,
                || self.kafka.send(alert),
                |e, _| {
                    self.metrics
                        .sends
                        .with_label_values(&["kafka", "error"])
                        .inc();
                    tracing::warn!(error = %e, alert_id = %alert.alert_id, "alert not delivered; retrying");
                    Verdict::Retry
                },
            )
            .await;
            if sent.is_err() {
                return false;
            }
            self.metrics.sends.with_label_values(&["kafka", "ok"]).inc();
            if !self.take_actions(alert, stopping).await {
                return false;
            }
        }
        true
    }

    /// Produces the auto-actions of `alert`'s rule (`on_alert`), each
    /// retried every second until the broker takes it; false if the worker
    /// stopped first (the message stays uncommitted: a restart re-detects
    /// the incident and repeats the same action ids).
    async fn take_actions(&self, alert: &Alert, stopping: &AtomicBool) -> bool {
        let rules = self.rules.current();
        let Some(policy) = rules
            .rules
            .iter()
            .find(|r| r.name == alert.rule)
            .and_then(|r| r.on_alert)
        else {
            return true;
        };
        for action in
            crate::auto_actions::actions_for(alert, policy, parley_shared::metrics::now_ms())
        {
            let sent = retry(
                &mut Backoff::new(Duration::from_secs(1), Duration::from_secs(1)),
                stopping,
                || self.kafka.send_action(&action),
                |e, _| {
                    self.metrics
                        .sends
                        .with_label_values(&["action", "error"])
                        .inc();
                    tracing::warn!(error = %e, action_id = %action.action_id, "auto-action not delivered; retrying");
                    Verdict::Retry
                },
            )
            .await;
            if sent.is_err() {
                return false;
            }
            self.metrics
                .sends
                .with_label_values(&["action", "ok"])
                .inc();
            tracing::info!(action_id = %action.action_id, action = %action.action, room = %action.room_id, alert_id = %alert.alert_id, "auto-action taken");
        }
        true
    }

    /// Sends a sighting to the by-game topic, retried every second until
    /// the broker takes it; false if the worker stopped first.
    pub async fn send_sighting(&self, sighting: &Sighting, stopping: &AtomicBool) -> bool {
        let sent = retry(
            &mut Backoff::new(Duration::from_secs(1), Duration::from_secs(1)),
            stopping,
            || self.sightings.send(sighting),
            |e, _| {
                self.metrics.sightings.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, message_id = %sighting.message_id, "sighting not delivered; retrying");
                Verdict::Retry
            },
        )
        .await;
        if sent.is_ok() {
            self.metrics.sightings.with_label_values(&["sent"]).inc();
        }
        sent.is_ok()
    }
}

/// Least time between two updates of one incident's alert.
const UPDATE_EVERY: Duration = Duration::from_secs(5);

/// One consumer's detector.
pub struct DetectorPipeline {
    shared: Shared,
    rules: Arc<RuleSet>,
    generation: u64,
    partitions: HashMap<i32, PartitionState>,
    acks: Acks,
    stopping: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
    hits: Vec<Hit>,
    /// Cross-room rules the current message may count for.
    copies: Vec<usize>,
    /// Records whose sighting Kafka acknowledged: (partition, epoch, offset).
    sent: mpsc::Receiver<(i32, u64, i64)>,
    sent_tx: mpsc::Sender<(i32, u64, i64)>,
    /// The current message's normalized text (buffers reused).
    norm: Normalized,
    evaluated: u32,
    last_tick: Instant,
    last_prune: Instant,
    /// This consumer's share of the state gauges (users, rooms, user
    /// messages), as last added to them.
    reported: [i64; 3],
    now: i64,
    since_clock: u32,
    /// Records kept uncommitted for the rule windows.
    hold: HoldBack,
    /// `now` as an instant (read as seldom as `now`).
    instant: Instant,
}

/// Records between two clock reads (ticks also refresh it).
const CLOCK_EVERY: u32 = 64;
/// Time between two prunes of idle users and rooms (each walks them all).
const PRUNE_EVERY: Duration = Duration::from_secs(5);
/// State gauge kinds this consumer adds its share to.
const PARTITION_KINDS: [&str; 3] = ["users", "rooms", "user_messages"];

impl DetectorPipeline {
    /// A detector for one consumer.
    pub fn new(shared: Shared, context: &PipelineContext) -> Self {
        let rules = shared.rules.current();
        let hold = HoldBack::new(shared.hold_back.unwrap_or_else(|| longest_window(&rules)));
        let (sent_tx, sent) = mpsc::channel();
        DetectorPipeline {
            copies: Vec::new(),
            sent,
            sent_tx,
            rules,
            hold,
            generation: shared.rules.generation(),
            shared,
            partitions: HashMap::new(),
            acks: context.acks.clone(),
            stopping: Arc::clone(&context.stopping),
            runtime: context.runtime.clone(),
            hits: Vec::new(),
            norm: Normalized::default(),
            evaluated: 0,
            last_tick: Instant::now(),
            last_prune: Instant::now(),
            reported: [0; 3],
            instant: Instant::now(),
            now: now_ms(),
            since_clock: 0,
        }
    }

    /// A record that opened no incident: durable at once, or held while a
    /// window may need it.
    fn keep(&mut self, record: &Envelope<GameMessage>) -> Progress {
        if !self.hold.enabled() {
            return Progress::Done;
        }
        self.hold.hold(
            record.partition,
            record.epoch,
            record.offset,
            record.value.sent_at,
            self.now,
            self.instant,
        );
        Progress::Pending
    }

    /// Adds the change of this consumer's state sizes to the gauges
    /// (consumers of one process share them).
    fn report_sizes(&mut self) {
        let mut now = [0i64; 3];
        for state in self.partitions.values() {
            let (users, rooms) = state.sizes();
            now[0] += users as i64;
            now[1] += rooms as i64;
            now[2] += state.messages() as i64;
        }
        self.add_sizes(now);
    }

    fn add_sizes(&mut self, now: [i64; 3]) {
        for ((kind, new), old) in PARTITION_KINDS.iter().zip(now).zip(&mut self.reported) {
            if new != *old {
                self.shared
                    .metrics
                    .state
                    .with_label_values(&[kind])
                    .add(new - *old);
                *old = new;
            }
        }
    }

    /// Sends the sighting (if any) and the alerts, then marks the record
    /// durable; retried until the broker takes them or the worker stops
    /// (the record is then read again).
    fn deliver(&self, sighting: Option<Sighting>, alerts: Vec<Alert>, record: Completion) {
        let shared = self.shared.clone();
        let acks = self.acks.clone();
        let stopping = Arc::clone(&self.stopping);
        self.runtime.spawn(async move {
            if let Some(sighting) = &sighting {
                if !shared.send_sighting(sighting, &stopping).await {
                    return;
                }
            }
            if shared.send_alerts(&alerts, &stopping).await {
                acks.done(record);
            }
        });
    }

    /// A record whose only work is its sighting: held (for the windows,
    /// and until the sighting is acknowledged) while it is sent.
    fn sight(&mut self, record: &Envelope<GameMessage>, sighting: Sighting) -> Progress {
        let (partition, epoch, offset) = (record.partition, record.epoch, record.offset);
        self.hold.hold_unacked(
            partition,
            epoch,
            offset,
            record.value.sent_at,
            self.now,
            self.instant,
        );
        let shared = self.shared.clone();
        let stopping = Arc::clone(&self.stopping);
        let sent = self.sent_tx.clone();
        self.runtime.spawn(async move {
            if shared.send_sighting(&sighting, &stopping).await {
                let _ = sent.send((partition, epoch, offset));
            }
        });
        Progress::Pending
    }
}

impl Pipeline for DetectorPipeline {
    type Item = GameMessage;

    fn submit(&mut self, record: Envelope<GameMessage>) -> Result<Progress, Envelope<GameMessage>> {
        if self.shared.rules.generation() != self.generation {
            self.generation = self.shared.rules.generation();
            self.rules = self.shared.rules.current();
            if self.shared.hold_back.is_none() {
                self.hold.set_span(longest_window(&self.rules));
            }
        }
        self.since_clock += 1;
        if self.since_clock >= CLOCK_EVERY {
            self.since_clock = 0;
            self.now = now_ms();
            self.instant = Instant::now();
        }
        let now = self.now;
        let message = &record.value;
        let max_users = self.shared.max_users;
        let state = self
            .partitions
            .entry(record.partition)
            .or_insert_with(|| PartitionState::new(max_users));
        self.evaluated = self.evaluated.wrapping_add(1);
        let timed = self.evaluated.is_multiple_of(64).then(Instant::now);
        normalize_into(&message.content, &mut self.norm);
        self.hits.clear();
        self.copies.clear();
        evaluate(
            &self.rules,
            state,
            &self.shared.global,
            message,
            &self.norm,
            now,
            &mut self.hits,
            &mut self.copies,
        );
        if let Some(started) = timed {
            self.shared
                .metrics
                .eval
                .observe(started.elapsed().as_secs_f64());
        }
        let sighting = (!self.copies.is_empty()).then(|| {
            let rules = self
                .copies
                .iter()
                .map(|&i| self.rules.rules[i].name.clone())
                .collect();
            Sighting::of(
                message,
                message.sent_at.min(now),
                text_hash(&self.norm.squeezed),
                rules,
            )
        });
        if self.hits.is_empty() {
            return Ok(match sighting {
                Some(sighting) => self.sight(&record, sighting),
                None => self.keep(&record),
            });
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
                let key = incident_key(&self.rules, hit, message.into());
                if let Some(alert) = incidents.observe(&key, rule, hit, message.into(), now, wall) {
                    alerts.push(alert);
                }
            }
        }
        for alert in &alerts {
            self.shared.announce(alert, record.partition, record.offset);
        }
        if alerts.is_empty() {
            return Ok(match sighting {
                Some(sighting) => self.sight(&record, sighting),
                None => self.keep(&record),
            });
        }
        self.deliver(
            sighting,
            alerts,
            Completion {
                tag: 0,
                partition: record.partition,
                epoch: record.epoch,
                offsets: vec![record.offset],
            },
        );
        Ok(Progress::Pending)
    }

    fn tick(&mut self, now: Instant) {
        self.now = now_ms();
        self.instant = now;
        self.since_clock = 0;
        for (partition, epoch, offset) in self.sent.try_iter() {
            self.hold.acked(partition, epoch, offset);
        }
        for completion in self.hold.release(now) {
            self.acks.done(completion);
        }
        if now.duration_since(self.last_tick) < Duration::from_secs(1) {
            return;
        }
        self.last_tick = now;
        let resolved = self.shared.incidents.lock().resolve_quiet(now);
        let updates = self.shared.incidents.lock().due_updates(now, UPDATE_EVERY);
        for alert in updates {
            if let Some(am) = &self.shared.alertmanager {
                let _ = am.send(AmEvent::Fire(alert.clone()));
            }
            let kafka = self.shared.kafka.clone();
            let metrics = self.shared.metrics.clone();
            // Updates are best effort: the alert that opened the incident
            // is already durable.
            self.runtime.spawn(async move {
                let result = if kafka.send(&alert).await.is_ok() {
                    "ok"
                } else {
                    "error"
                };
                metrics.sends.with_label_values(&["kafka", result]).inc();
            });
        }
        for alert in resolved {
            tracing::info!(alert_id = %alert.alert_id, rule = %alert.rule, "incident resolved");
            if let Some(am) = &self.shared.alertmanager {
                let _ = am.send(AmEvent::Resolve(alert));
            }
        }
        if now.duration_since(self.last_prune) >= PRUNE_EVERY {
            self.last_prune = now;
            for state in self.partitions.values_mut() {
                state.prune(false);
            }
        }
        self.report_sizes();
    }

    fn assigned(&mut self, partitions: &[i32]) -> Vec<(i32, i64)> {
        for &p in partitions {
            self.partitions
                .insert(p, PartitionState::new(self.shared.max_users));
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

impl Drop for DetectorPipeline {
    fn drop(&mut self) {
        self.add_sizes([0; 3]);
    }
}
