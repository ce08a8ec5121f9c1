//! What can stop a benchmark run. None of these is worth a retry inside the
//! run: the script reruns the whole measurement instead.

use std::time::Duration;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The flags make no sense (the run never started).
    #[error("invalid flags: {0}")]
    Config(String),
    /// A runtime, listener or child process could not be set up.
    #[error("cannot {what}: {source}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server child said something unexpected or went away.
    #[error("server child: {0}")]
    Child(String),
    /// A phase did not finish in time.
    #[error("{what} did not finish within {limit:?}")]
    Timeout {
        /// The phase.
        what: &'static str,
        /// Its limit.
        limit: Duration,
    },
    /// A `/proc` file was unreadable or malformed.
    #[error("cannot read {path}: {reason}")]
    Proc {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl BenchError {
    /// A setup error for `what`.
    pub fn setup(what: &'static str) -> impl FnOnce(std::io::Error) -> BenchError {
        move |source| BenchError::Setup { what, source }
    }
}
