//! Worker processes under test: started with flags, stopped by signal,
//! killed on drop so a failing test leaves nothing behind.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::binary;

/// A running workspace binary with its log file.
pub struct Worker {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Starts `binary` with `args`; stdout and stderr go to a temp log.
    pub fn start(name: &str, args: &[String]) -> Worker {
        Self::start_with_env(name, args, &[])
    }

    /// Starts `binary` with `args` and extra environment variables.
    ///
    /// A worker that reads moderation actions, started on a test's own
    /// `--topic` without `--actions-topic`, gets that test's own actions
    /// topic, `<topic>.actions` (created if missing; instances started on
    /// the same topic share it), never the stack's `moderation-actions`.
    pub fn start_with_env(name: &str, args: &[String], env: &[(&str, &str)]) -> Worker {
        let mut args = args.to_vec();
        if let Some(actions) = own_actions_topic(name, &args) {
            crate::create_topic_blocking(&actions, 3);
            args.extend(["--actions-topic".to_owned(), actions]);
        }
        let log =
            std::env::temp_dir().join(format!("{}-{}.log", name, uuid::Uuid::new_v4().simple()));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(binary(name))
            .args(&args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start worker");
        Worker {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `KILL`, `INT`, `HUP`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit in {timeout:?}; log:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait(timeout)
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Workers that consume `moderation-actions` beside their `--topic`.
const READS_ACTIONS: [&str; 2] = ["db-writer", "analytics"];

/// `<topic>.actions` for a worker of [`READS_ACTIONS`] given `--topic` but
/// no `--actions-topic`.
fn own_actions_topic(name: &str, args: &[String]) -> Option<String> {
    if !READS_ACTIONS.contains(&name) || args.iter().any(|a| a == "--actions-topic") {
        return None;
    }
    let at = args.iter().position(|a| a == "--topic")?;
    args.get(at + 1).map(|topic| format!("{topic}.actions"))
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.is_running() {
            self.kill();
        }
    }
}

/// The shared consumer flags a worker under test runs with: the stack's
/// brokers, its own topic, group, DLQ and metrics port, a short session
/// timeout (crashed members leave fast) and drain deadline; then `extra`.
pub fn worker_args(
    topic: &str,
    group: &str,
    dlq: &str,
    metrics_port: u16,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--brokers",
        &crate::brokers(),
        "--topic",
        topic,
        "--group",
        group,
        "--dlq-topic",
        dlq,
        "--metrics-addr",
        &format!("127.0.0.1:{metrics_port}"),
        "--kafka-prop",
        "session.timeout.ms=10000",
        "--drain-timeout",
        "8s",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// loadgen flags for `topic` on the stack's brokers, then `extra`.
pub fn loadgen_args(topic: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--brokers".to_owned(),
        crate::brokers(),
        "--topic".to_owned(),
        topic.to_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs loadgen in the background; join the handle for its summary.
pub fn spawn_loadgen(args: Vec<String>) -> std::thread::JoinHandle<serde_json::Value> {
    std::thread::spawn(move || loadgen(&args))
}

/// Runs loadgen to completion and returns its JSON summary.
pub fn loadgen(args: &[String]) -> serde_json::Value {
    let output = Command::new(binary("loadgen"))
        .args(args)
        .output()
        .expect("run loadgen");
    assert!(
        output.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("loadgen summary")
}

/// Fetches `http://addr/path` and returns (status, body).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let url = format!("http://{addr}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut response = agent.get(&url).call().ok()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().ok()?;
    Some((status, body))
}

/// The value of a metric (summed over its series) from `/metrics` text.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// [`metric`] over one consumer group's series (a process may serve
/// several groups, e.g. anomaly-detector's by-game group).
pub fn group_metric(text: &str, name: &str, group: &str) -> f64 {
    let label = format!("group=\"{group}\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(&label))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
