//! The actions step: each valid Action v1 of `moderation-actions` counts
//! once in `parley_analytics_moderation_actions_total{action, actor}`, the
//! actor reduced to its class (moderator, detector, operator) so the labels
//! stay a fixed set of 15. Counting in memory is the work, so a record is
//! done as soon as it is counted; a replay counts again, as messages do.

use parley_shared::action::{ActionKind, ActorClass, ModerationAction};
use parley_shared::metrics::{now_ms, RuntimeMetrics};
use parley_shared::runtime::{Envelope, Pipeline, PipelineContext, Progress};
use prometheus::IntCounter;

use crate::metrics::AnalyticsMetrics;

/// One consumer's count of moderation actions.
pub struct ActionCounter {
    /// `[kind][actor class]`, in [`ActionKind::ALL`] and [`ActorClass::ALL`] order.
    counters: Vec<[IntCounter; 3]>,
    runtime: RuntimeMetrics,
}

impl ActionCounter {
    /// A step for one consumer of the actions group.
    pub fn new(metrics: &AnalyticsMetrics, context: &PipelineContext) -> Self {
        let counters = ActionKind::ALL
            .iter()
            .map(|kind| {
                ActorClass::ALL.map(|actor| {
                    metrics
                        .actions
                        .with_label_values(&[kind.as_str(), actor.as_str()])
                })
            })
            .collect();
        ActionCounter {
            counters,
            runtime: context.metrics.clone(),
        }
    }

    /// Counts one action.
    fn count(&self, action: &ModerationAction) {
        let kind = ActionKind::ALL
            .iter()
            .position(|k| *k == action.action)
            .unwrap_or_default();
        let actor = ActorClass::ALL
            .iter()
            .position(|c| *c == action.actor_class())
            .unwrap_or_default();
        self.counters[kind][actor].inc();
    }
}

impl Pipeline for ActionCounter {
    type Item = ModerationAction;

    fn submit(
        &mut self,
        record: Envelope<ModerationAction>,
    ) -> Result<Progress, Envelope<ModerationAction>> {
        self.count(&record.value);
        self.runtime
            .observe_latency(record.value.created_at, now_ms());
        Ok(Progress::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_shared::runtime::testing::{envelope, TestContext};

    fn action(kind: &str, actor: &str) -> ModerationAction {
        let target = if kind == "delete_message" {
            r#""message_id":"m""#
        } else {
            r#""user_id":"u""#
        };
        let json = format!(
            r#"{{"v":1,"action_id":"a","action":"{kind}","room_id":"r",{target},"actor":"{actor}","created_at":1}}"#
        );
        ModerationAction::decode_record(Some(json.as_bytes())).expect("valid")
    }

    fn value(metrics: &AnalyticsMetrics, kind: &str, actor: &str) -> u64 {
        metrics.actions.with_label_values(&[kind, actor]).get()
    }

    #[tokio::test]
    async fn actions_count_by_kind_and_class_of_actor() {
        let runtime = RuntimeMetrics::new("analytics", "actions-test").expect("metrics");
        let metrics = AnalyticsMetrics::register(&runtime).expect("register");
        let test = TestContext::new();
        let mut counter = ActionCounter::new(&metrics, &test.context);
        for (offset, (kind, actor)) in [
            ("mute", "mod-1"),
            ("mute", "mod-2"),
            ("mute", "anomaly-detector"),
            ("delete_message", "operator:alice"),
            ("unban", "mod-1"),
        ]
        .into_iter()
        .enumerate()
        {
            let done = counter.submit(envelope(0, offset as i64, 10, action(kind, actor)));
            assert_eq!(done.ok(), Some(Progress::Done));
        }
        assert_eq!(value(&metrics, "mute", "moderator"), 2);
        assert_eq!(value(&metrics, "mute", "detector"), 1);
        assert_eq!(value(&metrics, "delete_message", "operator"), 1);
        assert_eq!(value(&metrics, "unban", "moderator"), 1);
        assert_eq!(value(&metrics, "ban", "moderator"), 0);
        let text = runtime.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with(crate::metrics::MODERATION_ACTIONS))
            .count();
        assert_eq!(
            series, 15,
            "every kind × actor class, from the start:\n{text}"
        );
        assert!(
            !text.contains("mod-1"),
            "an actor's id never labels a series"
        );
    }
}
