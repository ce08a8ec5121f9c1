//! `anomaly-detector` binary: flags, logging, shutdown signal, run.

use std::process::ExitCode;

use anomaly_detector::config::{DetectorConfig, WORKER};
use parley_shared::{shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let config: DetectorConfig = parley_shared::cli::parse();
    telemetry::init_tracing(config.consumer.log_format);
    if config.check_rules {
        return match anomaly_detector::check_rules(&config.rules) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => telemetry::fail(WORKER, &e.to_string()),
        };
    }
    let settings = match config.settings() {
        Ok(s) => s,
        Err(e) => return telemetry::fail(WORKER, &format!("invalid configuration: {e}")),
    };
    match anomaly_detector::run(settings, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => telemetry::fail(WORKER, &e.to_string()),
    }
}
