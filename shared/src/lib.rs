//! Parley's shared crate: what every worker binary agrees on.
//!
//! - [`message`]: the `GameMessage` v1 schema, its validation and a typed
//!   decode error whose kind names the DLQ `error.kind`.
//! - [`action`]: the Action v1 schema of `moderation-actions` (what
//!   moderators and the detector do), requests and validation.
//! - [`alert`]: the Alert v1 schema of `moderation-alerts`.
//! - [`topics`]: topic names and DLQ header names from docs/contracts.md.
//! - [`config`]: the Kafka connection flags every binary shares.
//! - [`cli`]: flag parsing with `--print-config` and `GET /config`.
//! - [`telemetry`]: tracing setup (`--log-format text|json`).
//! - [`shutdown`]: the SIGTERM/SIGINT future every `run` takes.
//! - [`runtime`]: the consumer runtime (commit-after-work, rebalances,
//!   backpressure, DLQ, drain) that runs a worker's [`runtime::Pipeline`].
//! - [`batcher`]: row/byte/age-limited batches.
//! - [`publish`]: building, rate-limiting, deduplicating and producing
//!   messages players and game servers publish through an edge.
//! - [`retry`]: the one backoff and retry loop every worker uses.
//! - [`dlq`], [`metrics`], [`health`], [`http`]: dead letters, metric names
//!   and handles, `/healthz`, and the metrics server.

pub mod action;
pub mod alert;
pub mod batcher;
pub mod cli;
pub mod config;
pub mod dlq;
pub mod health;
pub mod http;
pub mod labels;
pub mod message;
pub mod metrics;
pub mod publish;
pub mod retry;
pub mod runtime;
pub mod shutdown;
pub mod telemetry;
pub mod topics;

pub use message::{DecodeError, DecodeErrorKind, GameMessage, MessageKind, Visibility};
