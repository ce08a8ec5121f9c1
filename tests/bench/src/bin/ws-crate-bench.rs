//! ws-crate-bench: axum/tungstenite vs fastwebsockets on websocket-sender's
//! fan-out; prints one JSON line per run (see `tests/bench/ws_crates.sh`).

use clap::Parser;
use parley_bench::ws_crates::config::{Cli, Role};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = cli.settings()?;
    match cli.role {
        Role::Server => parley_bench::ws_crates::server::run(&settings)?,
        Role::Bench => {
            let report = parley_bench::ws_crates::bench::run(&settings)?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}
