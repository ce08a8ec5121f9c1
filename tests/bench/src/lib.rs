//! Parley's benchmark tools, beside the scripts that run them
//! (`tests/bench/*.sh`, arguments read by `tests/bench/lib.sh`):
//!
//! - `raw_consume`: the raw consume limit, a bare rdkafka consumer that
//!   decodes nothing (db_writer.sh, parquet_exporter.sh, analytics.sh,
//!   run.sh);
//! - `watermarks`: a topic's high watermarks over time, the "produced" side
//!   of the all-at-once lag samples (run.sh);
//! - `ws-crate-bench`: axum/tungstenite vs fastwebsockets on
//!   websocket-sender's fan-out ([`ws_crates`], ws_crates.sh).
//!
//! The bare RegexSet scan (`regexset_baseline`) stays with the worker it
//! measures, in `workers/anomaly-detector/src/bin/`.

pub mod ws_crates;

/// Bootstrap servers: `PARLEY_BROKERS`, else the local stack's default.
pub fn brokers() -> String {
    std::env::var("PARLEY_BROKERS")
        .unwrap_or_else(|_| parley_shared::config::DEFAULT_BROKERS.into())
}
