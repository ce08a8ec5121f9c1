//! `parquet-exporter` binary: flags, logging, shutdown signal, run.

use std::process::ExitCode;

use parley_shared::{shutdown, telemetry};
use parquet_exporter::config::ExporterConfig;

#[tokio::main]
async fn main() -> ExitCode {
    let config: ExporterConfig = parley_shared::cli::parse();
    telemetry::init_tracing(config.consumer.log_format);
    let settings = match config.settings() {
        Ok(s) => s,
        Err(e) => {
            return telemetry::fail("parquet-exporter", &format!("invalid configuration: {e}"))
        }
    };
    match parquet_exporter::run(settings, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => telemetry::fail("parquet-exporter", &e.to_string()),
    }
}
