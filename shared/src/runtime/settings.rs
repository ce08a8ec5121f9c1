//! The consumer flags every worker shares, and their validated form.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::KafkaArgs;
use crate::telemetry::LogFormat;
use crate::topics;

/// Largest `--concurrency`: more consumers than partitions only idle.
pub const MAX_CONCURRENCY: usize = 64;

/// Where a group with no committed offset starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartFrom {
    /// The oldest retained record.
    Earliest,
    /// Only records produced from now on.
    Latest,
}

impl StartFrom {
    fn as_str(self) -> &'static str {
        match self {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        }
    }
}

/// Consumer flags, flattened into each worker's own flags.
#[derive(Debug, Clone, Args)]
pub struct ConsumerArgs {
    /// Kafka connection.
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Topic to consume.
    #[arg(long, env = "PARLEY_TOPIC", default_value = topics::GAME_MESSAGES)]
    pub topic: String,

    /// Consumer group id (default: the worker's own group).
    #[arg(long, env = "PARLEY_GROUP")]
    pub group: Option<String>,

    /// Consumers of the group in this process (each its own thread).
    #[arg(long, env = "PARLEY_CONCURRENCY", default_value_t = 1)]
    pub concurrency: usize,

    /// Address of `/metrics` and `/healthz` (default: the worker's port).
    #[arg(long, env = "PARLEY_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Log format.
    #[arg(long, env = "PARLEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Dead-letter topic for records that cannot be processed.
    #[arg(long, env = "PARLEY_DLQ_TOPIC", default_value = topics::GAME_MESSAGES_DLQ)]
    pub dlq_topic: String,

    /// Where a new group starts reading.
    #[arg(long, env = "PARLEY_START_FROM", value_enum, default_value_t = StartFrom::Earliest)]
    pub start_from: StartFrom,

    /// On shutdown, how long to wait for in-flight work before giving up
    /// (uncommitted records are then read again after restart).
    #[arg(long, env = "PARLEY_DRAIN_TIMEOUT", value_parser = humantime::parse_duration, default_value = "20s")]
    pub drain_timeout: Duration,

    /// `/healthz` fails after this long without a poll, or without durable
    /// progress while records are pending.
    #[arg(long, env = "PARLEY_STALL_TIMEOUT", value_parser = humantime::parse_duration, default_value = "60s")]
    pub stall_timeout: Duration,
}

/// What a worker fixes about itself.
#[derive(Debug, Clone)]
pub struct WorkerIdentity {
    /// Worker name: logs, metrics, DLQ `worker` header, client ids.
    pub name: &'static str,
    /// Default consumer group.
    pub group: String,
    /// Default metrics address.
    pub metrics_addr: SocketAddr,
    /// Whether bad records go to the DLQ (false: skipped and counted).
    pub dead_letters: bool,
}

impl WorkerIdentity {
    /// A worker whose instances share one group named after it and whose
    /// bad records go to the DLQ; `metrics_addr` is its default address.
    pub fn shared_group(name: &'static str, metrics_addr: &str) -> Result<Self, String> {
        Ok(WorkerIdentity {
            name,
            group: name.to_owned(),
            metrics_addr: metrics_addr
                .parse()
                .map_err(|e| format!("metrics address {metrics_addr:?}: {e}"))?,
            dead_letters: true,
        })
    }
}

/// Consumer settings that passed validation.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Worker name.
    pub worker: &'static str,
    /// Topic consumed.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Consumers in this process.
    pub concurrency: NonZeroUsize,
    /// Metrics and health address.
    pub metrics_addr: SocketAddr,
    /// DLQ topic, or `None` to skip and count bad records.
    pub dlq_topic: Option<String>,
    /// Shutdown drain deadline.
    pub drain_timeout: Duration,
    /// Health stall threshold.
    pub stall_timeout: Duration,
    /// Where a new group starts.
    pub start_from: StartFrom,
    /// User librdkafka properties (`bootstrap.servers` included).
    pub client_properties: BTreeMap<String, String>,
}

/// A setting that cannot work, said in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl ConsumerArgs {
    /// Validates the flags for `identity`.
    pub fn settings(&self, identity: &WorkerIdentity) -> Result<ConsumerSettings, ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.kafka.brokers.split(',').all(|b| b.trim().is_empty()) {
            return err("--brokers must name at least one broker".into());
        }
        // librdkafka refuses unknown properties and bad values only when a
        // client is made: say so now, not as "cannot reach Kafka".
        let mut client = rdkafka::ClientConfig::new();
        for (k, v) in self.kafka.client_properties() {
            client.set(k, v);
        }
        if let Err(e) = client.create_native_config() {
            return err(format!("Kafka properties: {e}"));
        }
        if self.topic.trim().is_empty() {
            return err("--topic must not be empty".into());
        }
        let Some(concurrency) = NonZeroUsize::new(self.concurrency) else {
            return err("--concurrency must be at least 1".into());
        };
        if self.concurrency > MAX_CONCURRENCY {
            return err(format!("--concurrency must be at most {MAX_CONCURRENCY}"));
        }
        let group = self.group.clone().unwrap_or_else(|| identity.group.clone());
        if group.trim().is_empty() {
            return err("--group must not be empty".into());
        }
        let dlq_topic = identity.dead_letters.then(|| self.dlq_topic.clone());
        if dlq_topic.as_deref() == Some(self.topic.as_str()) {
            return err(format!(
                "--dlq-topic must differ from --topic ({})",
                self.topic
            ));
        }
        let session = self
            .kafka
            .client_properties()
            .get("session.timeout.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(45_000);
        if self.drain_timeout.is_zero() || self.drain_timeout.as_millis() as u64 >= session {
            return err(format!(
                "--drain-timeout must be above 0 and below the session timeout ({session} ms)"
            ));
        }
        if self.stall_timeout < Duration::from_secs(1) {
            return err("--stall-timeout must be at least 1s".into());
        }
        Ok(ConsumerSettings {
            worker: identity.name,
            topic: self.topic.clone(),
            group,
            concurrency,
            metrics_addr: self.metrics_addr.unwrap_or(identity.metrics_addr),
            dlq_topic,
            drain_timeout: self.drain_timeout,
            stall_timeout: self.stall_timeout,
            start_from: self.start_from,
            client_properties: self.kafka.client_properties(),
        })
    }
}

/// How a second consumer group of a process is named on the command line
/// (e.g. `--actions-topic`, `--actions-group`) and by default (`.actions`
/// after the main group).
#[derive(Debug, Clone, Copy)]
pub struct CompanionFlags {
    /// The topic flag.
    pub topic: &'static str,
    /// The group flag.
    pub group: &'static str,
    /// Appended to the main group for the default group name.
    pub group_suffix: &'static str,
}

impl CompanionFlags {
    /// The moderation actions group: `--actions-topic`, `--actions-group`,
    /// by default the main group plus `.actions` (e.g. `db-writer.actions`).
    pub const ACTIONS: CompanionFlags = CompanionFlags {
        topic: "--actions-topic",
        group: "--actions-group",
        group_suffix: ".actions",
    };
}

/// The flags of a worker's moderation actions group (db-writer, analytics,
/// parquet-exporter read `moderation-actions` beside the messages).
#[derive(Debug, Clone, Args)]
pub struct ActionsArgs {
    /// Topic of moderation actions (Action v1), read by a group of its own
    /// beside the messages group.
    #[arg(long, env = "PARLEY_ACTIONS_TOPIC", default_value = topics::MODERATION_ACTIONS)]
    pub actions_topic: String,

    /// Consumer group of the actions topic (default: the main group with
    /// `.actions` appended, e.g. `db-writer.actions`).
    #[arg(long, env = "PARLEY_ACTIONS_GROUP")]
    pub actions_group: Option<String>,
}

impl ActionsArgs {
    /// The actions group's settings beside `main` (see
    /// [`ConsumerSettings::companion`]).
    pub fn settings(&self, main: &ConsumerSettings) -> Result<ConsumerSettings, ConfigError> {
        main.companion(
            &self.actions_topic,
            self.actions_group.as_deref(),
            CompanionFlags::ACTIONS,
        )
    }
}

impl ConsumerSettings {
    /// The settings of a second group of the same process, beside this one
    /// (db-writer's and analytics' actions groups): the same Kafka, DLQ,
    /// metrics address and timeouts, on `topic`, in `group` (default: this
    /// group plus `flags.group_suffix`), with one consumer. The topic must
    /// differ from this group's topic and DLQ, the group from this group.
    pub fn companion(
        &self,
        topic: &str,
        group: Option<&str>,
        flags: CompanionFlags,
    ) -> Result<ConsumerSettings, ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        let topic = topic.trim();
        if topic.is_empty() {
            return err(format!("{} must not be empty", flags.topic));
        }
        for (other, flag) in [
            (Some(self.topic.as_str()), "--topic"),
            (self.dlq_topic.as_deref(), "--dlq-topic"),
        ] {
            if other == Some(topic) {
                return err(format!("{} must differ from {flag} ({topic})", flags.topic));
            }
        }
        let group = group.map_or_else(
            || format!("{}{}", self.group, flags.group_suffix),
            str::to_owned,
        );
        if group.trim().is_empty() {
            return err(format!("{} must not be empty", flags.group));
        }
        if group == self.group {
            return err(format!(
                "{} must differ from --group ({group})",
                flags.group
            ));
        }
        Ok(ConsumerSettings {
            topic: topic.to_owned(),
            group,
            concurrency: NonZeroUsize::MIN,
            ..self.clone()
        })
    }

    /// librdkafka consumer properties: Parley's at-least-once defaults, then
    /// the user's `--kafka-prop` overrides.
    pub fn consumer_properties(&self, index: usize) -> BTreeMap<String, String> {
        let mut props = BTreeMap::new();
        let defaults = [
            ("group.id", self.group.clone()),
            ("client.id", format!("{}-{index}", self.worker)),
            // Offsets are stored only after the work is durable; the
            // background commit then commits only stored offsets.
            ("enable.auto.offset.store", "false".into()),
            ("enable.auto.commit", "true".into()),
            ("auto.commit.interval.ms", "1000".into()),
            ("auto.offset.reset", self.start_from.as_str().into()),
            ("partition.assignment.strategy", "cooperative-sticky".into()),
            ("session.timeout.ms", "45000".into()),
            ("max.poll.interval.ms", "300000".into()),
            ("statistics.interval.ms", "5000".into()),
            // A bounded prefetch (RSS), refilled quickly: librdkafka's 1 s
            // default backoff after a full queue halves drain throughput.
            ("queued.max.messages.kbytes", "8192".into()),
            ("fetch.queue.backoff.ms", "20".into()),
            ("enable.partition.eof", "false".into()),
        ];
        for (k, v) in defaults {
            props.insert(k.to_owned(), v);
        }
        for (k, v) in &self.client_properties {
            props.insert(k.clone(), v.clone());
        }
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        consumer: ConsumerArgs,
    }

    fn identity() -> WorkerIdentity {
        WorkerIdentity {
            name: "db-writer",
            group: "db-writer".into(),
            metrics_addr: "127.0.0.1:9102".parse().expect("addr"),
            dead_letters: true,
        }
    }

    fn parse(args: &[&str]) -> Result<ConsumerSettings, ConfigError> {
        let mut argv = vec!["test"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .expect("parses")
            .consumer
            .settings(&identity())
    }

    #[test]
    fn defaults_come_from_the_worker() {
        let s = parse(&[]).expect("valid");
        assert_eq!(s.group, "db-writer");
        assert_eq!(s.metrics_addr.port(), 9102);
        assert_eq!(s.dlq_topic.as_deref(), Some("game-messages.dlq"));
        let props = s.consumer_properties(0);
        assert_eq!(props["enable.auto.offset.store"], "false");
        assert_eq!(props["group.id"], "db-writer");
    }

    #[test]
    fn a_companion_group_has_its_own_topic_and_group() {
        const FLAGS: CompanionFlags = CompanionFlags {
            topic: "--actions-topic",
            group: "--actions-group",
            group_suffix: ".actions",
        };
        let main = parse(&["--concurrency", "3"]).expect("valid");
        let actions = main
            .companion("moderation-actions", None, FLAGS)
            .expect("valid");
        assert_eq!(actions.topic, "moderation-actions");
        assert_eq!(actions.group, "db-writer.actions");
        assert_eq!(actions.concurrency.get(), 1);
        assert_eq!(actions.dlq_topic, main.dlq_topic);
        assert_eq!(actions.metrics_addr, main.metrics_addr);
        let named = main.companion("t", Some("ag"), FLAGS).expect("valid");
        assert_eq!((named.topic.as_str(), named.group.as_str()), ("t", "ag"));
        for (topic, group, problem) in [
            (
                "game-messages",
                None,
                "--actions-topic must differ from --topic",
            ),
            (
                "game-messages.dlq",
                None,
                "--actions-topic must differ from --dlq-topic",
            ),
            (" ", None, "--actions-topic must not be empty"),
            (
                "t",
                Some("db-writer"),
                "--actions-group must differ from --group",
            ),
            ("t", Some(" "), "--actions-group must not be empty"),
        ] {
            let e = main.companion(topic, group, FLAGS).expect_err(topic);
            assert!(e.0.contains(problem), "{e}");
        }
    }

    #[test]
    fn overrides_and_bad_values() {
        let s = parse(&[
            "--group",
            "g2",
            "--kafka-prop",
            "auto.commit.interval.ms=500",
        ])
        .expect("valid");
        assert_eq!(s.consumer_properties(1)["auto.commit.interval.ms"], "500");
        assert_eq!(s.group, "g2");
        for bad in [
            &["--concurrency", "0"][..],
            &["--concurrency", "65"],
            &["--dlq-topic", "game-messages"],
            &["--drain-timeout", "60s"],
            &["--brokers", " "],
            &["--brokers", " , ,"],
            &["--kafka-prop", "no.such.property=1"],
            &["--kafka-prop", "fetch.max.bytes=many"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
