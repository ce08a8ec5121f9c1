//! The local stack as tests drive it: `deploy/local/stack.sh` calls (stop
//! ClickHouse, kill or stop a broker, bring it all back) and waiting for the
//! brokers' replicas to catch up afterwards.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::{brokers, repo, wait_until};

/// Path of `deploy/local/stack.sh`.
pub fn script() -> PathBuf {
    repo().join("deploy/local/stack.sh")
}

/// Runs `stack.sh args…`; panics if it fails.
pub fn stack(args: &[&str]) {
    let status = Command::new(script())
        .args(args)
        .status()
        .expect("stack.sh");
    assert!(status.success(), "stack.sh {args:?} failed");
}

/// One service of the stack stopped (`stack.sh stop <service>`) until this
/// is dropped, which brings the stack back up (`stack.sh up`), even when the
/// test fails midway.
pub struct ServiceStopped;

impl ServiceStopped {
    /// Stops `service` (`kafka`, `clickhouse`…).
    pub fn begin(service: &str) -> ServiceStopped {
        stack(&["stop", service]);
        ServiceStopped
    }
}

impl Drop for ServiceStopped {
    fn drop(&mut self) {
        stack(&["up"]);
    }
}

/// Runs `stack.sh args…` and returns what it printed on stdout (its exit
/// status is not checked: a tool it wraps may print and still fail).
pub fn stack_output(args: &[&str]) -> String {
    let output = Command::new(script())
        .args(args)
        .output()
        .expect("stack.sh");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until every partition of every topic has all its replicas in sync,
/// at most `bound`.
pub fn replicas_in_sync_within(bound: Duration) {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("metadata client");
    wait_until(bound, "every replica back in sync", || {
        client
            .fetch_metadata(None, Duration::from_secs(10))
            .is_ok_and(|m| {
                m.topics().iter().all(|t| {
                    t.partitions()
                        .iter()
                        .all(|p| p.isr().len() == p.replicas().len())
                })
            })
    });
}
