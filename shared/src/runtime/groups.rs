//! A process that consumes more than one group (websocket-sender: messages,
//! alerts; anomaly-detector: messages, by-game) runs them as one
//! [`GroupSet`]: one `/metrics` + `/healthz` server, one [`Health`] with a
//! slot per consumer of every group, every group until shutdown or until any
//! one stops (a group that stops stops the others: the process restarts
//! whole), then every group drained, and the first error returned. Every
//! group's topics are checked before any group starts, so a missing topic
//! of one group never lets the others consume meanwhile.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::watch;

use super::{
    check_topic, consume, serve_telemetry, ConsumerSettings, Decode, HealthSlots, Pipeline,
};
use super::{PipelineContext, RuntimeError};
use crate::health::Health;
use crate::metrics::RuntimeMetrics;

/// One group's consumers running, as [`consume`] runs them.
type GroupRun = Pin<Box<dyn Future<Output = Result<(), RuntimeError>> + Send>>;

/// Starts one group's consumers on its health slots, until the stop future.
type StartGroup =
    Box<dyn FnOnce(HealthSlots, Pin<Box<dyn Future<Output = ()> + Send>>) -> GroupRun + Send>;

/// A group waiting to be run.
struct Group {
    /// `group` on `topic`, for the logs.
    name: String,
    /// Its consumers: health slots it takes.
    concurrency: usize,
    /// Its settings, for the topic check before anything starts.
    settings: ConsumerSettings,
    start: StartGroup,
}

/// The consumer groups of one process, run together by [`GroupSet::run`].
pub struct GroupSet {
    metrics: RuntimeMetrics,
    stall_timeout: Duration,
    /// Settings of the first group: where telemetry is served.
    telemetry: Option<ConsumerSettings>,
    groups: Vec<Group>,
    stop: watch::Sender<bool>,
}

impl GroupSet {
    /// No groups yet; telemetry serves `metrics` (every group's registry is
    /// served with it) and `/healthz` calls a consumer stalled after
    /// `stall_timeout`.
    pub fn new(metrics: RuntimeMetrics, stall_timeout: Duration) -> Self {
        GroupSet {
            metrics,
            stall_timeout,
            telemetry: None,
            groups: Vec::new(),
            stop: watch::channel(false).0,
        }
    }

    /// Adds a group: `settings.concurrency` consumers, each with a pipeline
    /// from `make_pipeline`, counted in `metrics`; its health slots follow
    /// those of the groups added before. The first group's
    /// `metrics_addr` is where telemetry is served.
    pub fn group<P, F>(
        mut self,
        settings: ConsumerSettings,
        metrics: RuntimeMetrics,
        make_pipeline: F,
    ) -> Self
    where
        P: Pipeline,
        P::Item: Decode,
        F: Fn(PipelineContext) -> P + Send + 'static,
    {
        if self.telemetry.is_none() {
            self.telemetry = Some(settings.clone());
        }
        let name = format!("{} on {}", settings.group, settings.topic);
        let concurrency = settings.concurrency.get();
        let checked = settings.clone();
        let start: StartGroup = Box::new(move |slots, stop| {
            Box::pin(consume(settings, metrics, slots, make_pipeline, stop))
        });
        self.groups.push(Group {
            name,
            concurrency,
            settings: checked,
            start,
        });
        self
    }

    /// Turns `true` when the set begins stopping its groups (shutdown, or a
    /// group stopped): for what must close with them (sockets, servers).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Checks every group's topics (and DLQ topics), serves telemetry, runs
    /// every group until `shutdown` or until one stops, then stops and
    /// drains them all; the first error (a missing topic, or the first in
    /// the order the groups stopped) is returned.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), RuntimeError> {
        let GroupSet {
            metrics,
            stall_timeout,
            telemetry,
            groups,
            stop,
        } = self;
        let Some(telemetry_settings) = telemetry else {
            stop.send_replace(true);
            return Ok(());
        };
        for group in &groups {
            if let Err(e) = check_topic(&group.settings).await {
                tracing::error!(group = %group.name, error = %e, "cannot start: no consumer group started");
                stop.send_replace(true);
                return Err(e);
            }
        }
        let (firsts, total) = first_slots(groups.iter().map(|g| g.concurrency));
        let health = Health::new(total, stall_timeout);
        let telemetry = match serve_telemetry(&telemetry_settings, &metrics, &health).await {
            Ok(telemetry) => telemetry,
            Err(e) => {
                stop.send_replace(true);
                return Err(e);
            }
        };
        let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        let mut running: Vec<Option<GroupRun>> = groups
            .into_iter()
            .zip(firsts)
            .map(|(group, first)| {
                let mut stopping = stop.subscribe();
                let stopped: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                });
                Some((group.start)(
                    HealthSlots::new(health.clone(), first),
                    stopped,
                ))
            })
            .collect();

        let mut outcomes = Vec::with_capacity(running.len());
        tokio::pin!(shutdown);
        tokio::select! {
            () = &mut shutdown => tracing::info!("shutting down: stopping every consumer group"),
            (index, result) = next_stopped(&mut running) => {
                tracing::warn!(group = %names[index], ok = result.is_ok(), "consumer group stopped; stopping the others");
                outcomes.push((index, result));
            }
        }
        stop.send_replace(true);
        while running.iter().any(Option::is_some) {
            outcomes.push(next_stopped(&mut running).await);
        }
        telemetry.stop().await;
        first_error(outcomes)
    }
}

/// The first health slot of each group, given each group's consumer count,
/// and how many slots there are in all.
fn first_slots(concurrencies: impl IntoIterator<Item = usize>) -> (Vec<usize>, usize) {
    let mut next = 0;
    let firsts = concurrencies
        .into_iter()
        .map(|n| {
            let first = next;
            next += n;
            first
        })
        .collect();
    (firsts, next)
}

/// The first failure among `(group, result)` in the order they stopped.
fn first_error<E>(outcomes: impl IntoIterator<Item = (usize, Result<(), E>)>) -> Result<(), E> {
    outcomes
        .into_iter()
        .find_map(|(_, result)| result.err())
        .map_or(Ok(()), Err)
}

/// Resolves when one of the groups still running stops: its index and
/// result (its place becomes `None`). Never resolves when none runs.
fn next_stopped(
    running: &mut [Option<GroupRun>],
) -> impl Future<Output = (usize, Result<(), RuntimeError>)> + '_ {
    std::future::poll_fn(move |cx| {
        for (index, place) in running.iter_mut().enumerate() {
            if let Some(group) = place.as_mut() {
                if let Poll::Ready(result) = group.as_mut().poll(cx) {
                    *place = None;
                    return Poll::Ready((index, result));
                }
            }
        }
        Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_each_other_group_by_group() {
        assert_eq!(first_slots([3, 1]), (vec![0, 3], 4));
        assert_eq!(first_slots([2, 1, 1]), (vec![0, 2, 3], 4));
        assert_eq!(first_slots([]), (vec![], 0));
    }

    #[test]
    fn the_first_group_to_fail_is_reported() {
        let outcomes = vec![(1, Ok(())), (0, Err("by-game")), (2, Err("alerts"))];
        assert_eq!(first_error(outcomes), Err("by-game"));
        assert_eq!(first_error::<&str>(vec![(0, Ok(())), (1, Ok(()))]), Ok(()));
        assert_eq!(first_error::<&str>(vec![]), Ok(()));
    }

    #[tokio::test]
    async fn a_group_that_stops_is_picked_out_and_the_others_keep_running() {
        let mut running: Vec<Option<GroupRun>> = vec![
            Some(Box::pin(std::future::pending())),
            Some(Box::pin(async { Err(RuntimeError::Panicked(7)) })),
            None,
        ];
        let (index, result) = next_stopped(&mut running).await;
        assert_eq!(index, 1);
        assert!(matches!(result, Err(RuntimeError::Panicked(7))));
        assert!(running[0].is_some() && running[1].is_none());
    }

    #[tokio::test]
    async fn an_empty_set_has_nothing_to_run() {
        let metrics = RuntimeMetrics::new("test", "groups-empty").expect("metrics");
        let set = GroupSet::new(metrics, Duration::from_secs(1));
        let stopping = set.stopping();
        assert!(set.run(std::future::pending()).await.is_ok());
        assert!(*stopping.borrow(), "what closes with the groups is told");
    }
}
