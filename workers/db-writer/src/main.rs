//! `db-writer` binary: flags, logging, shutdown signal, run.

use std::process::ExitCode;

use db_writer::config::DbWriterConfig;
use parley_shared::{shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let config: DbWriterConfig = parley_shared::cli::parse();
    telemetry::init_tracing(config.consumer.log_format);
    if config.migrate {
        let result = match config.clickhouse() {
            Ok(settings) => db_writer::migrate_only(&settings)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        return match result {
            Ok(version) => {
                println!("schema applied (ClickHouse {version})");
                ExitCode::SUCCESS
            }
            Err(e) => telemetry::fail("db-writer", &e),
        };
    }
    let settings = match config.settings() {
        Ok(s) => s,
        Err(e) => return telemetry::fail("db-writer", &format!("invalid configuration: {e}")),
    };
    match db_writer::run(settings, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => telemetry::fail("db-writer", &e.to_string()),
    }
}
