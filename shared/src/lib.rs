//! Parley's shared crate: what every worker binary agrees on.
//!
//! - [`message`]: the `GameMessage` v1 schema, its validation and a typed
//!   decode error whose kind names the DLQ `error.kind`.
//! - [`topics`]: topic names and DLQ header names from INTERFACES.md.
//! - [`config`]: the Kafka connection flags every binary shares.
//! - [`telemetry`]: tracing setup (`--log-format text|json`).
//! - [`shutdown`]: the SIGTERM/SIGINT future every `run` takes.

pub mod config;
pub mod message;
pub mod shutdown;
pub mod telemetry;
pub mod topics;

pub use message::{DecodeError, DecodeErrorKind, GameMessage, MessageKind, Visibility};
