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
pub mod replay;
pub mod run;
pub mod token;
