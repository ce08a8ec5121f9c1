//! `ws-crate-bench` (`src/bin/ws-crate-bench.rs`): chooses websocket-sender's WebSocket crate by
//! measurement (`tests/bench/ws_crates.sh`).
//!
//! One binary, two roles. The `bench` role (default) starts the `server`
//! role as a child process of the same binary, so the server's CPU and RSS
//! are its own (`/proc/<pid>`), then holds N tokio-tungstenite client
//! connections on its own runtime and prints one JSON line
//! ([`report::Report`]).
//!
//! The server mirrors websocket-sender's fan-out with either crate
//! ([`config::ServerKind`]): each message is encoded once as a shared text
//! frame ([`frame::encode`]) and pushed by the broadcaster ([`hub`]) into
//! every connection's byte-bounded [`outbox::Outbox`]; a writer task per
//! connection drains it into the socket, a reader task watches for the
//! close. Only the socket code differs: [`axum_server`] or [`fws_server`].
//!
//! Steps of a run: [`config::Settings`] → [`bench::run`] (spawn server,
//! RSS at 0 connections, ramp [`client`], RSS at N idle connections,
//! `go`, traffic, drain, CPU from [`procfs`]) → [`report::Report`].

pub mod axum_server;
pub mod bench;
pub mod client;
pub mod config;
pub mod error;
pub mod frame;
pub mod fws_server;
pub mod hub;
pub mod latency;
pub mod outbox;
pub mod procfs;
pub mod report;
pub mod server;
