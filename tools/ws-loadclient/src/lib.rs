//! ws-loadclient: the load side of the websocket-sender benchmark
//! (`tests/bench/websocket_sender.sh`).
//!
//! `run` holds N WebSocket connections, spread over loopback source
//! addresses and ramped up at a bounded rate, each subscribed to rooms, and
//! measures delivered frames/s, delivery latency from `sent_at`, and — given
//! loadgen's `--truth` file — losses, duplicates, order violations and
//! moderators-only leaks. It speaks Parley's protocol and Centrifugo's.
//! `replay` feeds every server under test the same recorded traffic;
//! `kafka-latency` measures the Kafka path alone, the floor of every latency.
//! `publish` is publishing players ([`publish`], one connection in
//! [`publisher`]): publishers on one server, listeners on another, the
//! publish→ack and publish→delivered latencies (`tests/bench/publish.sh`).
//!
//! Steps of `run`: [`config::RunConfig`] → ramp ([`run`]) → per connection
//! [`connection::run_connection`] (parse with [`protocol`], record into
//! [`ledger::RoomLog`] and [`latency::LatencyHistogram`]) → stop →
//! [`ledger::Truth::check`] → [`run::RunSummary`] (one JSON line).

pub mod config;
pub mod connection;
pub mod kafka_latency;
pub mod latency;
pub mod ledger;
pub mod protocol;
pub mod publish;
pub mod publisher;
pub mod replay;
pub mod run;
pub mod token;

/// Runs a blocking `job` on its own thread until it returns or `shutdown`
/// resolves; then the job's stop flag is raised and its result awaited.
pub async fn run_blocking_until<T: Send + 'static>(
    what: &'static str,
    job: impl FnOnce(&std::sync::atomic::AtomicBool) -> anyhow::Result<T> + Send + 'static,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<T> {
    use anyhow::Context;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let worker_stop = Arc::clone(&stop);
    let mut worker = tokio::task::spawn_blocking(move || job(&worker_stop));
    tokio::pin!(shutdown);
    let joined = tokio::select! {
        joined = &mut worker => joined,
        () = &mut shutdown => {
            stop.store(true, Ordering::Relaxed);
            worker.await
        }
    };
    joined.context(what)?
}
