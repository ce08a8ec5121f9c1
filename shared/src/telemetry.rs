//! Tracing setup shared by every binary: text for people, JSON for machines.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default `info`.
/// Safe to call twice (the second call is ignored), as tests do.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Reports a fatal error the way every binary does: one structured log
/// event, one plain line `<binary>: <message>` on stderr, exit status 1.
pub fn fail(binary: &str, message: &str) -> std::process::ExitCode {
    tracing::error!(error = message, "{binary} failed");
    eprintln!("{binary}: {message}");
    std::process::ExitCode::FAILURE
}
