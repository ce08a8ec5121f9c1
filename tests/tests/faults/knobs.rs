//! The suite's size, from the environment (the knobs listed in `main.rs`).

use std::time::Duration;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The suite's size.
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    pub messages: u64,
    pub kills: u64,
    pub outage: Duration,
    pub rate: u64,
    pub seed: u64,
    pub disk_full: bool,
}

/// Seconds the two broker phases take, roughly (down, back, in sync).
const BROKER_PHASES_SECS: u64 = 150;

impl Knobs {
    pub fn from_env() -> Knobs {
        let messages = env_u64("PARLEY_FAULT_MESSAGES", 1_000_000);
        let kills = env_u64("PARLEY_FAULT_KILLS", 10);
        let outage = env_u64("PARLEY_FAULT_OUTAGE_SECS", 60);
        let seed = env_u64(
            "PARLEY_FAULT_SEED",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 % 1_000_000),
        );
        // Spread the stream over the whole schedule (measured on 2 cores):
        // ~6 s per kill of each of the 5 workers (wait, kill, down, restart,
        // healthy), the outage and ClickHouse's start, the broker phases.
        let disk_full = env_u64("PARLEY_FAULT_DISK_FULL", 1) == 1;
        let schedule = 5
            + kills * 5 * 6
            + outage
            + 20
            + BROKER_PHASES_SECS
            + if disk_full { 60 } else { 0 }
            + 15;
        let rate = env_u64("PARLEY_FAULT_RATE", (messages / schedule).clamp(500, 6000));
        Knobs {
            disk_full,
            messages,
            kills,
            outage: Duration::from_secs(outage),
            rate,
            seed,
        }
    }
}
