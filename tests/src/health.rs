//! Worker instances under faults and what their `/healthz` said: an
//! [`Instance`] is restartable with the same flags and ports, a
//! [`HealthTally`] counts its answers during one phase of a test.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::process::{http_get, Worker};
use crate::wait_until;

/// One running instance of a worker, restartable with the same flags and
/// ports.
pub struct Instance {
    /// The worker's binary name, e.g. `db-writer`.
    pub worker: &'static str,
    /// Which of the worker's instances this is (0, 1, …).
    pub slot: usize,
    /// Its command-line flags.
    pub args: Vec<String>,
    /// Its extra environment.
    pub env: Vec<(&'static str, &'static str)>,
    /// `host:port` of its metrics and `/healthz` server.
    pub metrics: String,
    /// The process now running.
    pub process: Worker,
    /// How many times it was killed.
    pub kills: u32,
}

impl Instance {
    /// Starts `worker` with `args` and `env`; `metrics` is where it serves
    /// `/healthz`.
    pub fn start(
        worker: &'static str,
        slot: usize,
        args: Vec<String>,
        env: Vec<(&'static str, &'static str)>,
        metrics: String,
    ) -> Instance {
        let process = Worker::start_with_env(worker, &args, &env);
        Instance {
            worker,
            slot,
            args,
            env,
            metrics,
            process,
            kills: 0,
        }
    }

    /// `worker#slot`, for messages.
    pub fn label(&self) -> String {
        format!("{}#{}", self.worker, self.slot)
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        self.process.signal("KILL");
        self.process.kill();
        self.kills += 1;
    }

    /// Starts the worker again with the same flags and environment.
    pub fn restart(&mut self) {
        self.process = Worker::start_with_env(self.worker, &self.args, &self.env);
    }

    /// `/healthz`'s status and body, `None` when it does not answer.
    pub fn health(&self) -> Option<(u16, String)> {
        http_get(&self.metrics, "/healthz")
    }
}

/// What `/healthz` said during one phase, per worker kind.
#[derive(Debug, Default)]
pub struct HealthTally {
    /// Answers asked for.
    pub samples: usize,
    /// Answers 200.
    pub ok: usize,
    /// Bodies of the answers other than 200.
    pub unhealthy: Vec<String>,
    /// Times it did not answer.
    pub silent: usize,
}

/// Samples every instance once; `expect_ok(worker)` says whether it must
/// answer 200 now. Returns the tally per worker kind.
pub fn sample(
    instances: &mut [Instance],
    tallies: &mut BTreeMap<&'static str, HealthTally>,
    expect_ok: impl Fn(&str) -> bool,
) {
    for i in instances.iter_mut() {
        let tally = tallies.entry(i.worker).or_default();
        tally.samples += 1;
        match i.health() {
            Some((200, _)) => tally.ok += 1,
            Some((status, body)) => {
                assert!(
                    !expect_ok(i.worker),
                    "{} said {status} while it should be healthy: {body}",
                    i.label()
                );
                tally.unhealthy.push(body);
            }
            None => {
                assert!(
                    !i.process.is_running() || !expect_ok(i.worker),
                    "{} is running but does not answer /healthz",
                    i.label()
                );
                tally.silent += 1;
            }
        }
    }
}

/// Samples every instance once a second for `duration`.
pub fn watch(
    instances: &mut [Instance],
    tallies: &mut BTreeMap<&'static str, HealthTally>,
    duration: Duration,
    expect_ok: impl Fn(&str) -> bool + Copy,
) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        sample(instances, tallies, expect_ok);
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Waits until every instance answers 200, at most `bound`; returns how long.
pub fn all_healthy_within(instances: &mut [Instance], bound: Duration, what: &str) -> Duration {
    let started = Instant::now();
    wait_until(bound, &format!("every worker healthy {what}"), || {
        instances
            .iter()
            .all(|i| matches!(i.health(), Some((200, _))))
    });
    started.elapsed()
}

/// The tallies in one line: `db-writer 40/40 ok; parquet-exporter 38/40 ok, 2 × 503`.
pub fn tally_text(tallies: &BTreeMap<&'static str, HealthTally>) -> String {
    tallies
        .iter()
        .map(|(w, t)| {
            let mut s = format!("{w} {}/{} ok", t.ok, t.samples);
            if !t.unhealthy.is_empty() {
                let _ = write!(s, ", {} × 503", t.unhealthy.len());
            }
            if t.silent > 0 {
                let _ = write!(s, ", {} × down", t.silent);
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}
