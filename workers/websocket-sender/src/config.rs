//! websocket-sender's flags: the shared consumer flags, the WebSocket
//! listener, JWT verification, the per-room recovery buffer and the
//! ClickHouse history endpoint.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use parley_shared::config::{ClickHouseArgs, ClickHouseConnection, Secret};
use parley_shared::runtime::{ConsumerArgs, ConsumerSettings, StartFrom, WorkerIdentity};
use parley_shared::topics;

use parley_shared::publish::RateLimit;

use crate::auth::{Role, TokenKeys};

/// Worker name; the group is `websocket-sender-<instance id>`.
pub const WORKER: &str = "websocket-sender";
/// Default metrics address (docs/contracts.md).
pub const METRICS_ADDR: &str = "127.0.0.1:9101";
/// Default WebSocket address (docs/contracts.md).
pub const LISTEN_ADDR: &str = "127.0.0.1:8080";

/// Pushes every message of `game-messages` to the players connected to this
/// instance, per room, and alerts to moderators.
#[derive(Debug, Clone, Parser)]
#[command(name = "websocket-sender", version, about)]
pub struct SenderConfig {
    /// Kafka consumer flags (`--group` overrides the per-instance group).
    #[command(flatten)]
    pub consumer: ConsumerArgs,

    /// Stable id of this deployment slot (e.g. the StatefulSet pod name);
    /// the consumer group is `websocket-sender-<id>`, so a restart reuses
    /// its group. Default: the host name.
    #[arg(long, env = "PARLEY_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Address serving `/ws`, `/rooms/{room}/messages` and the console `/`.
    #[arg(long, env = "PARLEY_WS_LISTEN", default_value = LISTEN_ADDR)]
    pub listen: SocketAddr,

    /// HS256 secret the tokens are signed with (at least 32 bytes).
    #[arg(long, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// File holding the HS256 secret (instead of --jwt-secret).
    #[arg(long, env = "PARLEY_JWT_SECRET_FILE", conflicts_with = "jwt_secret")]
    pub jwt_secret_file: Option<PathBuf>,

    /// PEM public key for RS256 tokens (accepted besides HS256).
    #[arg(long, env = "PARLEY_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Topic of moderation alerts (pushed to moderators who ask for them).
    #[arg(long, env = "PARLEY_ALERTS_TOPIC", default_value = topics::MODERATION_ALERTS)]
    pub alerts_topic: String,

    /// Rule file (anomaly-detector's TOML): its content rules with
    /// `action = "block"` refuse matching publishes (4422). Without it
    /// nothing is blocked. SIGHUP reloads it.
    #[arg(long, env = "PARLEY_RULES")]
    pub rules: Option<PathBuf>,

    /// Topic of moderation actions (deletions, mutes, bans; every instance
    /// reads it whole at start and enforces it).
    #[arg(long, env = "PARLEY_ACTIONS_TOPIC", default_value = topics::MODERATION_ACTIONS)]
    pub actions_topic: String,

    /// Recovery buffer: messages kept per room.
    #[arg(long, env = "PARLEY_ROOM_BUFFER", default_value_t = 1024)]
    pub room_buffer: usize,

    /// Recovery buffer: bytes kept across all rooms (oldest dropped first;
    /// older gaps are recovered from Kafka).
    #[arg(long, env = "PARLEY_BUFFER_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub buffer_bytes: usize,

    /// Concurrent Kafka reads for recoveries the buffer cannot serve.
    #[arg(long, env = "PARLEY_RECOVERY_CONCURRENCY", default_value_t = 4)]
    pub recovery_concurrency: usize,

    /// Give up a Kafka recovery after this long (`recovered: false`).
    #[arg(long, env = "PARLEY_RECOVERY_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub recovery_timeout: Duration,

    /// Bytes queued for one connection before it is closed as slow (4008).
    #[arg(long, env = "PARLEY_SEND_QUEUE_BYTES", default_value_t = 1024 * 1024)]
    pub send_queue_bytes: usize,

    /// WebSocket ping interval; a peer silent for two intervals is dropped.
    #[arg(long, env = "PARLEY_HEARTBEAT", value_parser = humantime::parse_duration, default_value = "20s")]
    pub heartbeat: Duration,

    /// Rooms one connection may subscribe to at once.
    #[arg(long, env = "PARLEY_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    pub max_subscriptions: usize,

    /// Frames one client may send per second on average (subscribe, ping…);
    /// bursts up to twice that, or --max-subscriptions + 10 for a
    /// reconnect. A client over it is closed with 4429.
    #[arg(long, env = "PARLEY_CLIENT_FRAMES_PER_SEC", default_value_t = 20)]
    pub client_frames_per_sec: u32,

    /// Connections one IP address may hold at once (0: no limit); more get
    /// HTTP 429. Behind a proxy every client shares its address: raise it.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS_PER_IP", default_value_t = 1000)]
    pub max_connections_per_ip: usize,

    /// How a producer maps a room to a partition, for rooms this instance has
    /// not seen yet: `consistent` (librdkafka's default, CRC32) or `murmur2`
    /// (the Java client's default).
    #[arg(long, env = "PARLEY_PARTITIONER", value_enum, default_value_t = Partitioner::Consistent)]
    pub partitioner: Partitioner,

    /// ClickHouse for `GET /rooms/{room}/messages` (db-writer's table).
    #[command(flatten)]
    pub history: ClickHouseArgs,

    /// Publishing by players and game servers.
    #[command(flatten)]
    pub publish: PublishArgs,

    /// A helper command instead of running the worker.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Key → partition mapping of the producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Partitioner {
    /// CRC32 of the key modulo partitions (librdkafka `consistent_random`).
    Consistent,
    /// murmur2 of the key (Java client default).
    Murmur2,
}

/// Helper commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Prints a signed token (HS256, `PARLEY_JWT_SECRET`) for trying the
    /// console or a client.
    Token(TokenArgs),
}

/// Claims of a token to mint.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// User id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// Role.
    #[arg(long, value_enum, default_value_t = Role::Viewer)]
    pub role: Role,
    /// Room the user may join (repeat; `*` for every room).
    #[arg(long = "room", required = true)]
    pub rooms: Vec<String>,
    /// Lifetime.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub ttl: Duration,
    /// The game the token is for (the `game` claim; needed to publish).
    #[arg(long)]
    pub game: Option<String>,
}

/// Publishing flags (`publish` op and `POST /v1/rooms/{room}/messages`).
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// Publishes one player may make per second, on average.
    #[arg(long, env = "PARLEY_PUBLISH_RATE", default_value_t = 5.0)]
    pub publish_rate: f64,

    /// Publishes one player may make at once.
    #[arg(long, env = "PARLEY_PUBLISH_BURST", default_value_t = 10.0)]
    pub publish_burst: f64,

    /// Publishes one room may take per second, from everyone (0: no limit).
    #[arg(long, env = "PARLEY_ROOM_PUBLISH_RATE", default_value_t = 0.0)]
    pub room_publish_rate: f64,

    /// Publishes one room may take at once (default: twice the rate).
    #[arg(long, env = "PARLEY_ROOM_PUBLISH_BURST")]
    pub room_publish_burst: Option<f64>,

    /// Publishes one connection may have waiting for Kafka; more get 4429.
    #[arg(long, env = "PARLEY_MAX_UNACKED_PUBLISHES", default_value_t = 64)]
    pub max_unacked_publishes: usize,

    /// A publish Kafka has not acknowledged within this is refused (4503).
    #[arg(long, env = "PARLEY_PUBLISH_TIMEOUT", value_parser = humantime::parse_duration, default_value = "3s")]
    pub publish_timeout: Duration,

    /// How long a `client_msg_id` is remembered, so a retry publishes nothing new.
    #[arg(long, env = "PARLEY_PUBLISH_RETRY_WINDOW", value_parser = humantime::parse_duration, default_value = "10m")]
    pub publish_retry_window: Duration,
}

impl PublishArgs {
    /// Validated publishing limits.
    pub fn limits(&self) -> Result<PublishLimits, String> {
        let positive = |v: f64, flag: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(format!("{flag} must be a positive number"))
            }
        };
        let user = RateLimit {
            per_second: positive(self.publish_rate, "--publish-rate")?,
            burst: positive(self.publish_burst, "--publish-burst")?.max(1.0),
        };
        let room = if self.room_publish_rate > 0.0 {
            let per_second = positive(self.room_publish_rate, "--room-publish-rate")?;
            let burst = match self.room_publish_burst {
                Some(b) => positive(b, "--room-publish-burst")?,
                None => per_second * 2.0,
            };
            Some(RateLimit {
                per_second,
                burst: burst.max(1.0),
            })
        } else {
            None
        };
        if self.max_unacked_publishes == 0 {
            return Err("--max-unacked-publishes must be at least 1".into());
        }
        if self.publish_timeout < Duration::from_millis(100) {
            return Err("--publish-timeout must be at least 100ms".into());
        }
        Ok(PublishLimits {
            user,
            room,
            max_unacked: self.max_unacked_publishes,
            delivery_timeout: self.publish_timeout,
            retry_window: self.publish_retry_window,
            retry_capacity: 1_000_000,
        })
    }
}

/// Validated settings.
#[derive(Clone)]
pub struct SenderSettings {
    /// Consumer of `game-messages`.
    pub messages: ConsumerSettings,
    /// Consumer of `moderation-alerts` (same group, one consumer).
    pub alerts: ConsumerSettings,
    /// Consumer of `moderation-actions` (same group, one consumer, read
    /// from the start at every start).
    pub actions: ConsumerSettings,
    /// WebSocket and HTTP listener.
    pub listen: SocketAddr,
    /// Token verification keys.
    pub keys: TokenKeys,
    /// Recovery buffer and connection limits.
    pub limits: Limits,
    /// Producer partitioner.
    pub partitioner: Partitioner,
    /// History source.
    pub history: ClickHouseConnection,
    /// Publishing limits.
    pub publish: PublishLimits,
    /// Rule file of the block rules, if any.
    pub rules: Option<PathBuf>,
}

/// Publishing limits and the producer's delivery timeout.
#[derive(Debug, Clone, Copy)]
pub struct PublishLimits {
    /// One user's rate.
    pub user: RateLimit,
    /// One room's rate, if limited.
    pub room: Option<RateLimit>,
    /// Publishes one connection may have waiting for Kafka.
    pub max_unacked: usize,
    /// A record not acknowledged within this is refused with 4503.
    pub delivery_timeout: Duration,
    /// How long a `client_msg_id` is remembered for retries.
    pub retry_window: Duration,
    /// At most this many remembered.
    pub retry_capacity: usize,
}

/// Buffer, queue and recovery limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages kept per room.
    pub room_buffer: NonZeroUsize,
    /// Bytes kept across rooms.
    pub buffer_bytes: usize,
    /// Concurrent Kafka recoveries.
    pub recovery_concurrency: NonZeroUsize,
    /// Deadline of one Kafka recovery.
    pub recovery_timeout: Duration,
    /// Per-connection send queue.
    pub send_queue_bytes: usize,
    /// Ping interval.
    pub heartbeat: Duration,
    /// Subscriptions per connection.
    pub max_subscriptions: usize,
    /// Client frames per second, on average.
    pub client_frames_per_sec: u32,
    /// Client frames at once.
    pub client_frame_burst: u32,
    /// Connections per IP address (0: no limit).
    pub max_connections_per_ip: usize,
}

impl SenderConfig {
    /// The HS256 secret, from --jwt-secret-file or --jwt-secret.
    pub fn hs256_secret(&self) -> Result<Option<Secret>, String> {
        match &self.jwt_secret_file {
            Some(path) => Secret::from_file(path)
                .map(Some)
                .map_err(|e| format!("cannot read --jwt-secret-file {}: {e}", path.display())),
            None => Ok(self.jwt_secret.clone()),
        }
    }

    /// Validates everything needed to run the worker.
    pub fn settings(&self) -> Result<SenderSettings, String> {
        let instance = match &self.instance_id {
            Some(id) => id.trim().to_owned(),
            None => host_name(),
        };
        if instance.is_empty() || instance.len() > 200 {
            return Err("--instance-id must be 1–200 characters".into());
        }
        let identity = WorkerIdentity {
            name: WORKER,
            group: format!("{WORKER}-{instance}"),
            metrics_addr: METRICS_ADDR.parse().map_err(|e| format!("{e}"))?,
            // Every instance sees every record: skip and count, never DLQ.
            dead_letters: false,
        };
        let mut messages = self.consumer.settings(&identity).map_err(|e| e.0)?;
        // Live fan-out starts at the end; the pipeline also seeks there.
        messages.start_from = StartFrom::Latest;
        let mut alerts = messages.clone();
        alerts.topic = self.alerts_topic.clone();
        alerts.concurrency = NonZeroUsize::MIN;
        let mut actions = alerts.clone();
        actions.topic = self.actions_topic.clone();
        actions.start_from = StartFrom::Earliest;
        let keys = TokenKeys::from_config(
            self.hs256_secret()?.as_ref(),
            self.jwt_public_key_file.as_deref(),
        )?;
        let nonzero = |v: usize, flag: &str| {
            NonZeroUsize::new(v).ok_or_else(|| format!("{flag} must be at least 1"))
        };
        if self.send_queue_bytes < 16 * 1024 {
            return Err("--send-queue-bytes must be at least 16384".into());
        }
        if self.heartbeat < Duration::from_secs(1) {
            return Err("--heartbeat must be at least 1s".into());
        }
        Ok(SenderSettings {
            messages,
            alerts,
            actions,
            rules: self.rules.clone(),
            listen: self.listen,
            keys,
            limits: Limits {
                room_buffer: nonzero(self.room_buffer, "--room-buffer")?,
                buffer_bytes: self.buffer_bytes.max(1024 * 1024),
                recovery_concurrency: nonzero(self.recovery_concurrency, "--recovery-concurrency")?,
                recovery_timeout: self.recovery_timeout,
                send_queue_bytes: self.send_queue_bytes,
                heartbeat: self.heartbeat,
                max_subscriptions: nonzero(self.max_subscriptions, "--max-subscriptions")?.get(),
                client_frames_per_sec: nonzero(
                    self.client_frames_per_sec as usize,
                    "--client-frames-per-sec",
                )?
                .get() as u32,
                client_frame_burst: (self.client_frames_per_sec.saturating_mul(2)).max(
                    u32::try_from(self.max_subscriptions)
                        .unwrap_or(u32::MAX)
                        .saturating_add(10),
                ),
                max_connections_per_ip: self.max_connections_per_ip,
            },
            partitioner: self.partitioner,
            history: self.history.connection()?,
            publish: self.publish.limits()?,
        })
    }
}

/// The host name (`HOSTNAME`, else the kernel's), the default instance id.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "local".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<SenderSettings, String> {
        let mut argv = vec![
            "websocket-sender",
            "--jwt-secret",
            "s3cret-s3cret-s3cret-s3cret-s3cret",
        ];
        argv.extend_from_slice(args);
        SenderConfig::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .settings()
    }

    #[test]
    fn the_jwt_secret_may_come_from_a_file_and_must_be_long_enough() {
        let dir = std::env::temp_dir().join(format!("parley-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let long = dir.join("long");
        let short = dir.join("short");
        std::fs::write(&long, "0123456789abcdef0123456789abcdef\n").expect("write");
        std::fs::write(&short, "change-me\n").expect("write");
        let from_file = |path: &std::path::Path| {
            SenderConfig::try_parse_from([
                "websocket-sender",
                "--jwt-secret-file",
                &path.display().to_string(),
            ])
            .map_err(|e| e.to_string())?
            .settings()
            .map(|_| ())
        };
        assert!(from_file(&long).is_ok());
        assert!(from_file(&short).is_err_and(|e| e.contains("at least 32")));
        assert!(from_file(&dir.join("missing")).is_err_and(|e| e.contains("--jwt-secret-file")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn group_is_per_instance_and_reads_from_the_end() {
        let s = parse(&["--instance-id", "ws-0"]).expect("valid");
        assert_eq!(s.messages.group, "websocket-sender-ws-0");
        assert_eq!(s.alerts.group, "websocket-sender-ws-0");
        assert_eq!(s.alerts.topic, "moderation-alerts");
        assert_eq!(s.actions.topic, "moderation-actions");
        assert_eq!(s.actions.group, "websocket-sender-ws-0");
        assert_eq!(s.messages.start_from, StartFrom::Latest);
        assert!(
            s.messages.dlq_topic.is_none(),
            "websocket-sender never DLQs"
        );
        assert_eq!(s.listen.port(), 8080);
        assert_eq!(s.messages.metrics_addr.port(), 9101);
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--room-buffer", "0"][..],
            &["--send-queue-bytes", "10"],
            &["--heartbeat", "10ms"],
            &["--instance-id", " "],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        let no_secret = SenderConfig::try_parse_from(["websocket-sender"])
            .expect("parses")
            .settings();
        assert!(no_secret.is_err_and(|e| e.contains("PARLEY_JWT_SECRET")));
    }
}
