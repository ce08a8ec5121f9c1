//! `parley-admin`: the operator's tool for a running Parley.
//!
//! - `topics setup|describe`: Parley's topics with the right partitions and retention.
//! - `lag`: how far each consumer group is behind.
//! - `replay`: move an idle group to an offset or a time (backfill, skip).
//! - `dlq inspect|replay`: what was dead-lettered and why; send it back.
//! - `moderate`: an operator's moderation action (delete, mute, ban…).
//! - `config`: a running worker's effective configuration.

mod dlq;
mod error;
mod kafka;
mod lag;
mod moderate;
mod output;
mod replay;
mod topics;
mod worker_config;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use parley_shared::config::KafkaArgs;
use parley_shared::telemetry;

use crate::error::AdminError;
use crate::kafka::Kafka;
use crate::output::Format;

/// Operate a Parley deployment: topics, lag, replays, dead letters, moderation, configs.
#[derive(Debug, Parser)]
#[command(name = "parley-admin", version)]
struct Cli {
    /// Kafka connection.
    #[command(flatten)]
    kafka: KafkaArgs,

    /// Output: a table for people, JSON lines for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parley's topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Consumer lag per group (committed offset vs end of the topic).
    Lag(lag::LagArgs),
    /// Move an idle group's offsets to an offset or a time, so it re-reads
    /// retained records (backfill a new group) or skips them.
    Replay(replay::ReplayArgs),
    /// The dead-letter topic.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Take a moderation action (delete a message, mute, unmute, ban,
    /// unban) as an operator: produced to `moderation-actions`, enforced by
    /// every websocket-sender.
    Moderate(moderate::ModerateArgs),
    /// A running worker's effective configuration (GET /config).
    Config {
        /// The worker's metrics address, e.g. 127.0.0.1:9102.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create missing topics and set their retention (idempotent).
    Setup(topics::SetupArgs),
    /// Partitions, replication and retention of topics.
    Describe {
        /// Topics (default: Parley's own).
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// The most recent dead letters and a count per kind and worker.
    Inspect(dlq::InspectArgs),
    /// Send dead letters back once the cause is fixed (dry run without --execute).
    Replay(dlq::ReplayArgs),
}

async fn run(cli: Cli) -> Result<(), AdminError> {
    let kafka = Kafka::new(cli.kafka.client_properties());
    let format = cli.format;
    match cli.command {
        Command::Topics(TopicsCommand::Setup(args)) => topics::setup(&kafka, &args, format).await,
        Command::Topics(TopicsCommand::Describe { names }) => {
            topics::describe(&kafka, &names, format).await
        }
        Command::Lag(args) => lag::run(&kafka, &args, format),
        Command::Replay(args) => replay::run(&kafka, &args, format),
        Command::Dlq(DlqCommand::Inspect(args)) => dlq::inspect(&kafka, &args, format),
        Command::Dlq(DlqCommand::Replay(args)) => dlq::replay(&kafka, &args).await,
        Command::Moderate(args) => moderate::run(&kafka, &args, format).await,
        Command::Config { address } => worker_config::run(&address, format),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli: Cli = parley_shared::cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => telemetry::fail("parley-admin", &e.to_string()),
    }
}
