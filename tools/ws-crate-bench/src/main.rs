//! ws-crate-bench: axum/tungstenite vs fastwebsockets on websocket-sender's
//! fan-out; prints one JSON line per run (see `tests/bench/ws_crates.sh`).

use clap::Parser;
use ws_crate_bench::config::{Cli, Role};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = cli.settings()?;
    match cli.role {
        Role::Server => ws_crate_bench::server::run(&settings)?,
        Role::Bench => {
            let report = ws_crate_bench::bench::run(&settings)?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}
