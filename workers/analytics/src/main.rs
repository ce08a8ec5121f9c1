//! `analytics` binary: flags, logging, shutdown signal, run.

use std::process::ExitCode;

use analytics::config::{AnalyticsConfig, WORKER};
use parley_shared::{shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let config: AnalyticsConfig = parley_shared::cli::parse();
    telemetry::init_tracing(config.consumer.log_format);
    let settings = match config.settings() {
        Ok(s) => s,
        Err(e) => return telemetry::fail(WORKER, &format!("invalid configuration: {e}")),
    };
    match analytics::run(settings, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => telemetry::fail(WORKER, &e.to_string()),
    }
}
