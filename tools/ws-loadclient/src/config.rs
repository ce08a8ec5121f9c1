//! Command-line flags of the subcommands, each with a default.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::protocol::Protocol;

/// WebSocket load client for websocket-sender (and its Centrifugo peer).
#[derive(Debug, Parser)]
#[command(name = "ws-loadclient", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hold N connections subscribed to rooms and measure delivery.
    Run(RunConfig),
    /// Copy a topic of GameMessages to another topic at a fixed rate,
    /// restamping `sent_at`, as Parley records or Centrifugo API commands.
    Replay(ReplayConfig),
    /// Measure now − `sent_at` of a topic's records at a bare consumer.
    KafkaLatency(KafkaLatencyConfig),
    /// Publishing players: N connections subscribed to rooms, some of them
    /// publishing at a total rate; measures publish→ack and
    /// publish→delivered latency.
    Publish(PublishConfig),
}

/// Flags of `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunConfig {
    /// Server address (loopback).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub server: SocketAddr,

    /// Protocol the server speaks.
    #[arg(long, value_enum, default_value_t = Protocol::Parley)]
    pub protocol: Protocol,

    /// Connections to hold.
    #[arg(long, default_value_t = 1_000)]
    pub connections: usize,

    /// Rooms each connection subscribes to, drawn at random from the rooms.
    #[arg(long, default_value_t = 1)]
    pub rooms_per_connection: usize,

    /// Rooms to choose from (repeatable); default: the rooms of --truth.
    #[arg(long = "room")]
    pub rooms: Vec<String>,

    /// loadgen's `--truth` file of what is (or will be) produced: rooms to
    /// choose from, and at the end the loss/duplicate/order check. Read at
    /// start (for rooms) and again at the end.
    #[arg(long)]
    pub truth: Option<PathBuf>,

    /// HS256 secret for the tokens.
    #[arg(long, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    pub secret: String,

    /// Token lifetime.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2h")]
    pub token_ttl: Duration,

    /// New connections per second during the ramp.
    #[arg(long, default_value_t = 2_000.0)]
    pub connect_rate: f64,

    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,

    /// First source address; connection i binds to the (i mod
    /// --source-addrs)-th address after it, so more than one address's
    /// ephemeral ports (~28k) can be used.
    #[arg(long, default_value_t = Ipv4Addr::new(127, 0, 0, 1))]
    pub source_base: Ipv4Addr,

    /// Source addresses to spread over; 0 picks one per 20,000 connections.
    #[arg(long, default_value_t = 0)]
    pub source_addrs: u32,

    /// Longest run; the client also stops on SIGINT/SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
    pub duration: Duration,

    /// Written (JSON) once every connection has subscribed or failed.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,

    /// Seed of the room choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// How often to print progress to stderr.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub progress_interval: Duration,

    /// Time allowed for TCP connect + handshake + subscription.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    pub setup_timeout: Duration,
}

impl RunConfig {
    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.rooms_per_connection == 0 {
            return Err("--rooms-per-connection must be at least 1".into());
        }
        if !self.connect_rate.is_finite() || self.connect_rate <= 0.0 {
            return Err("--connect-rate must be positive".into());
        }
        if self.connect_concurrency == 0 {
            return Err("--connect-concurrency must be at least 1".into());
        }
        if self.secret.is_empty() {
            return Err("PARLEY_JWT_SECRET (or --secret) must not be empty".into());
        }
        if !self.server.ip().is_loopback() || !self.source_base.is_loopback() {
            return Err("--server and --source-base must be loopback addresses".into());
        }
        Ok(())
    }

    /// Source addresses to use.
    pub fn source_count(&self) -> u32 {
        match self.source_addrs {
            0 => self.connections.div_ceil(20_000).max(1) as u32,
            n => n,
        }
    }
}

/// What the replayed records look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    /// GameMessage JSON, key = room (what websocket-sender reads).
    Parley,
    /// Centrifugo server API publish commands, channel `room:<room>`
    /// (moderators-only records go to `mods:<room>`).
    Centrifugo,
}

/// Flags of `replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayConfig {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PARLEY_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// Topic to read entirely (e.g. filled by `loadgen --rate 0 --count N`).
    #[arg(long)]
    pub from: String,

    /// Topic to produce to (must exist).
    #[arg(long)]
    pub to: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Parley)]
    pub format: ReplayFormat,

    /// Records per second.
    #[arg(long, default_value_t = 2_000.0)]
    pub rate: f64,

    /// Give up reading --from after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
    pub read_timeout: Duration,
}

/// Flags of `kafka-latency`.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaLatencyConfig {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PARLEY_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// Topic to read from its start.
    #[arg(long)]
    pub topic: String,

    /// Longest run; also stops on SIGINT/SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
    pub duration: Duration,
}

/// Flags of `publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishConfig {
    /// Server the publishers connect to (loopback).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub server: SocketAddr,

    /// Server the listeners connect to (another instance); default: --server.
    #[arg(long)]
    pub subscriber_server: Option<SocketAddr>,

    /// Protocol the servers speak (`centrifugo-v1` cannot publish).
    #[arg(long, value_enum, default_value_t = Protocol::Parley)]
    pub protocol: Protocol,

    /// Connections in all: publishers plus listeners.
    #[arg(long, default_value_t = 5_000)]
    pub connections: usize,

    /// Connections that publish (on --server); the rest only listen (on
    /// --subscriber-server). Default: half.
    #[arg(long)]
    pub publishers: Option<usize>,

    /// Rooms; publisher i and listener i join room i mod --rooms. Default:
    /// one per publisher.
    #[arg(long)]
    pub rooms: Option<usize>,

    /// Room ids are `<prefix>-<n>`.
    #[arg(long, default_value = "pub")]
    pub room_prefix: String,

    /// The tokens' `game` claim (Parley needs one to publish).
    #[arg(long, default_value = "bench")]
    pub game: String,

    /// Publishes per second, all publishers together, spread evenly.
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,

    /// How long to publish.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub duration: Duration,

    /// How long to keep reading after the last publish.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub drain: Duration,

    /// Bytes of `content` per publish.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,

    /// Written (JSON) once every connection has subscribed or failed.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,

    /// Publishing starts only once this file exists (the caller takes its
    /// readings first); without it, right after the ramp.
    #[arg(long)]
    pub go_file: Option<PathBuf>,

    /// Give up waiting for --go-file after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "300s")]
    pub go_timeout: Duration,

    /// HS256 secret for the tokens.
    #[arg(long, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    pub secret: String,

    /// Token lifetime.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2h")]
    pub token_ttl: Duration,

    /// New connections per second during the ramp.
    #[arg(long, default_value_t = 2_000.0)]
    pub connect_rate: f64,

    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,

    /// First source address (as for `run`).
    #[arg(long, default_value_t = Ipv4Addr::new(127, 0, 0, 1))]
    pub source_base: Ipv4Addr,

    /// Source addresses to spread over; 0 picks one per 20,000 connections.
    #[arg(long, default_value_t = 0)]
    pub source_addrs: u32,

    /// How often to print progress to stderr.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub progress_interval: Duration,

    /// Time allowed for TCP connect + handshake + subscription.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    pub setup_timeout: Duration,
}

impl PublishConfig {
    /// Publishing connections.
    pub fn publisher_count(&self) -> usize {
        self.publishers.unwrap_or(self.connections / 2)
    }

    /// Rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.unwrap_or(self.publisher_count()).max(1)
    }

    /// Where listeners connect.
    pub fn listener_server(&self) -> SocketAddr {
        self.subscriber_server.unwrap_or(self.server)
    }

    /// Source addresses to use.
    pub fn source_count(&self) -> u32 {
        match self.source_addrs {
            0 => self.connections.div_ceil(20_000).max(1) as u32,
            n => n,
        }
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        let publishers = self.publisher_count();
        if publishers == 0 || publishers > self.connections {
            return Err("--publishers must be 1..=--connections".into());
        }
        if self.protocol == Protocol::CentrifugoV1 {
            return Err("--protocol centrifugo-v1 has no client publish here".into());
        }
        if !self.rate.is_finite() || self.rate <= 0.0 {
            return Err("--rate must be positive".into());
        }
        if !self.connect_rate.is_finite() || self.connect_rate <= 0.0 {
            return Err("--connect-rate must be positive".into());
        }
        if self.connect_concurrency == 0 {
            return Err("--connect-concurrency must be at least 1".into());
        }
        if self.secret.is_empty() {
            return Err("PARLEY_JWT_SECRET (or --secret) must not be empty".into());
        }
        let loopback = [self.server, self.listener_server()]
            .iter()
            .all(|a| a.ip().is_loopback());
        if !loopback || !self.source_base.is_loopback() {
            return Err("servers and --source-base must be loopback addresses".into());
        }
        Ok(())
    }
}
