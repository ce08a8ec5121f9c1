//! Command-line flags, each with a default, validated into [`Settings`].

use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::ws_crates::error::BenchError;

/// Most connections a run may hold (the per-process fd limit is ~20,000,
/// and the client process holds one fd per connection).
pub const MAX_CONNECTIONS: usize = 8_000;
/// Smallest and largest frame (the frame's fixed fields need ~210 bytes;
/// websocket-sender's frames stay well below 16 KiB).
pub const PAYLOAD_RANGE: (usize, usize) = (256, 16 * 1024);

/// Which WebSocket crate the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerKind {
    /// axum 0.8 `extract::ws` (tokio-tungstenite underneath), configured
    /// as in websocket-sender today (`write_buffer_size(0)`: every `feed`
    /// writes to the socket at once).
    Axum,
    /// The same with an 8 KiB write buffer: a batch of `feed`s goes out in
    /// one write at `flush`.
    AxumBuffered,
    /// fastwebsockets over a bare hyper 1 HTTP/1 server.
    Fastwebsockets,
    /// The same, its writer behind a `tokio::io::BufWriter` flushed once
    /// per batch (fastwebsockets has no `feed`; this is the usual remedy).
    FastwebsocketsBuffered,
}

impl ServerKind {
    /// The name used in reports and flags.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Axum => "axum",
            ServerKind::AxumBuffered => "axum-buffered",
            ServerKind::Fastwebsockets => "fastwebsockets",
            ServerKind::FastwebsocketsBuffered => "fastwebsockets-buffered",
        }
    }
}

/// What this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Start the server child, hold the clients, measure, report.
    Bench,
    /// The server child (driven over stdin/stdout by `bench`).
    Server,
}

/// Compares WebSocket server crates on websocket-sender's fan-out.
#[derive(Debug, Clone, Parser)]
// `about` spelled out: the package (parley-bench) holds other tools too.
#[command(
    name = "ws-crate-bench",
    version,
    about = "Measures WebSocket server crates (axum/tungstenite, fastwebsockets) on websocket-sender's fan-out pattern."
)]
pub struct Cli {
    /// This process's role (`server` is started by `bench` itself).
    #[arg(long, value_enum, default_value_t = Role::Bench)]
    pub role: Role,

    /// The WebSocket crate under test.
    #[arg(long, value_enum, default_value_t = ServerKind::Axum)]
    pub server: ServerKind,

    /// Client connections, each subscribed to the broadcast.
    #[arg(long, default_value_t = 5_000)]
    pub connections: usize,

    /// Broadcast messages per second (each goes to every connection).
    #[arg(long, default_value_t = 200)]
    pub rate: u32,

    /// Seconds of broadcast.
    #[arg(long, default_value_t = 15)]
    pub duration: u64,

    /// Bytes of each frame (a JSON chat message frame).
    #[arg(long, default_value_t = 300)]
    pub payload_bytes: usize,

    /// Server runtime threads (1: a current-thread runtime, so figures are
    /// per core).
    #[arg(long, default_value_t = 1)]
    pub server_threads: usize,

    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// Per-connection send queue in bytes (websocket-sender's
    /// `--send-queue-bytes` default). Over it, a frame is dropped and
    /// counted (websocket-sender would close the connection instead).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub queue_bytes: usize,

    /// Seconds between server pings on each connection (websocket-sender's
    /// `--heartbeat` default).
    #[arg(long, default_value_t = 20)]
    pub heartbeat: u64,

    /// Client handshakes in flight at once during the ramp.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,

    /// Milliseconds the connections sit idle before the idle RSS reading.
    #[arg(long, default_value_t = 2_000)]
    pub settle_ms: u64,

    /// Longest wait, in seconds, for queued frames after the last send.
    #[arg(long, default_value_t = 30)]
    pub drain_limit: u64,
}

/// Validated settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Crate under test.
    pub server: ServerKind,
    /// Connections (1..=[`MAX_CONNECTIONS`]).
    pub connections: usize,
    /// Broadcast messages per second (> 0).
    pub rate: u32,
    /// Broadcast length (> 0).
    pub duration: Duration,
    /// Frame size.
    pub payload_bytes: usize,
    /// Server runtime threads (≥ 1).
    pub server_threads: usize,
    /// Client runtime threads (≥ 1).
    pub client_threads: usize,
    /// Per-connection queue bound in bytes.
    pub queue_bytes: usize,
    /// Ping interval.
    pub heartbeat: Duration,
    /// Handshakes in flight.
    pub connect_concurrency: usize,
    /// Idle time before the idle RSS reading.
    pub settle: Duration,
    /// Longest drain.
    pub drain_limit: Duration,
}

impl Cli {
    /// Checks the flags.
    pub fn settings(&self) -> Result<Settings, BenchError> {
        let bad = |m: String| Err(BenchError::Config(m));
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return bad(format!("--connections must be 1–{MAX_CONNECTIONS}"));
        }
        if self.rate == 0 || self.duration == 0 {
            return bad("--rate and --duration must be positive".into());
        }
        if !(PAYLOAD_RANGE.0..=PAYLOAD_RANGE.1).contains(&self.payload_bytes) {
            return bad(format!("--payload-bytes must be {PAYLOAD_RANGE:?}"));
        }
        if self.server_threads == 0 || self.client_threads == 0 {
            return bad("--server-threads and --client-threads must be ≥ 1".into());
        }
        if self.queue_bytes < self.payload_bytes {
            return bad("--queue-bytes must hold at least one frame".into());
        }
        if self.heartbeat == 0 || self.connect_concurrency == 0 {
            return bad("--heartbeat and --connect-concurrency must be positive".into());
        }
        Ok(Settings {
            server: self.server,
            connections: self.connections,
            rate: self.rate,
            duration: Duration::from_secs(self.duration),
            payload_bytes: self.payload_bytes,
            server_threads: self.server_threads,
            client_threads: self.client_threads,
            queue_bytes: self.queue_bytes,
            heartbeat: Duration::from_secs(self.heartbeat),
            connect_concurrency: self.connect_concurrency,
            settle: Duration::from_millis(self.settle_ms),
            drain_limit: Duration::from_secs(self.drain_limit),
        })
    }
}

impl Settings {
    /// The flags that start the server child with these settings.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--role".into(),
            "server".into(),
            "--server".into(),
            self.server.name().into(),
            "--server-threads".into(),
            self.server_threads.to_string(),
            "--rate".into(),
            self.rate.to_string(),
            "--duration".into(),
            self.duration.as_secs().to_string(),
            "--payload-bytes".into(),
            self.payload_bytes.to_string(),
            "--queue-bytes".into(),
            self.queue_bytes.to_string(),
            "--heartbeat".into(),
            self.heartbeat.as_secs().to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, BenchError> {
        let cli =
            Cli::try_parse_from(std::iter::once("ws-crate-bench").chain(args.iter().copied()))
                .map_err(|e| BenchError::Config(e.to_string()))?;
        cli.settings()
    }

    #[test]
    fn defaults_are_valid() {
        let s = parse(&[]).expect("defaults");
        assert_eq!(s.connections, 5_000);
        assert_eq!(s.server, ServerKind::Axum);
        assert_eq!(s.server_threads, 1);
    }

    #[test]
    fn out_of_range_flags_are_refused() {
        assert!(parse(&["--connections", "9000"]).is_err());
        assert!(parse(&["--rate", "0"]).is_err());
        assert!(parse(&["--payload-bytes", "10"]).is_err());
        assert!(parse(&["--server-threads", "0"]).is_err());
    }

    #[test]
    fn the_child_gets_the_same_server_settings() {
        let s = parse(&["--server", "fastwebsockets", "--rate", "7"]).expect("valid");
        let child = Cli::try_parse_from(std::iter::once("x".to_string()).chain(s.server_args()))
            .expect("child flags parse");
        assert_eq!(child.role, Role::Server);
        assert_eq!(child.server, ServerKind::Fastwebsockets);
        assert_eq!(child.rate, 7);
    }
}
