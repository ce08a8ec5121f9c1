//! `loadgen` binary: parse flags, set up logging and the shutdown signal, run.

use std::process::ExitCode;

use clap::Parser;
use loadgen::LoadgenConfig;
use parley_shared::{shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let config = LoadgenConfig::parse();
    telemetry::init_tracing(config.log_format);
    match loadgen::run(config, shutdown::signal()).await {
        Ok(summary) => {
            match serde_json::to_string(&summary) {
                Ok(line) => println!("{line}"),
                Err(e) => tracing::warn!(error = %e, "cannot print summary"),
            }
            ExitCode::SUCCESS
        }
        Err(error) => telemetry::fail("loadgen", &error.to_string()),
    }
}
