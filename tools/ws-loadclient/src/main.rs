//! ws-loadclient: WebSocket load client for the websocket-sender benchmark.

use clap::Parser;
use ws_loadclient::config::{Cli, Command};

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let line = match cli.command {
        Command::Run(config) => {
            serde_json::to_string(&ws_loadclient::run::run(config, shutdown_signal()).await?)?
        }
        Command::Replay(config) => {
            serde_json::to_string(&ws_loadclient::replay::run(config, shutdown_signal()).await?)?
        }
        Command::KafkaLatency(config) => serde_json::to_string(
            &ws_loadclient::kafka_latency::run(config, shutdown_signal()).await?,
        )?,
        Command::Publish(config) => {
            serde_json::to_string(&ws_loadclient::publish::run(config, shutdown_signal()).await?)?
        }
    };
    println!("{line}");
    Ok(())
}
