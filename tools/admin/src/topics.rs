//! `topics setup` and `topics describe`: Parley's topics with the right
//! partitions and retention.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;
use serde::Serialize;

use parley_shared::topics;

use crate::error::AdminError;
use crate::kafka::{Kafka, TIMEOUT};
use crate::output::{self, Format};

/// Flags of `topics setup`.
#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Chat messages topic.
    #[arg(long, default_value = topics::GAME_MESSAGES)]
    pub topic: String,
    /// Dead-letter topic.
    #[arg(long, default_value = topics::GAME_MESSAGES_DLQ)]
    pub dlq_topic: String,
    /// Alerts topic.
    #[arg(long, default_value = topics::MODERATION_ALERTS)]
    pub alerts_topic: String,
    /// Moderation actions topic (kept forever by default: every
    /// websocket-sender rebuilds mutes and bans from it at start).
    #[arg(long, default_value = topics::MODERATION_ACTIONS)]
    pub actions_topic: String,
    /// anomaly-detector's internal topic of cross-room sightings (keyed by
    /// game; as many partitions as the messages topic).
    #[arg(long, default_value = topics::ANOMALY_BY_GAME)]
    pub by_game_topic: String,
    /// Partitions of the messages topic: the most consumers any one group
    /// can use. Alerts and DLQ get a quarter of it (at least 1).
    #[arg(long, default_value_t = topics::GAME_MESSAGES_PARTITIONS)]
    pub partitions: i32,
    /// Replicas per partition (3 on a production cluster).
    #[arg(long, default_value_t = 1)]
    pub replication_factor: i32,
    /// How long chat messages stay replayable (new groups backfill from
    /// it). Default 7d for a new topic; an existing one keeps its retention
    /// unless this is given.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub retention: Option<Duration>,
    /// How long dead letters stay for inspection and replay (new topic: 30d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub dlq_retention: Option<Duration>,
    /// How long alerts stay (new topic: 30d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub alerts_retention: Option<Duration>,
    /// How long moderation actions stay (new topic: forever; a ban "until
    /// lifted" older than this would be forgotten).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub actions_retention: Option<Duration>,
    /// How long sightings stay (new topic: 1d; the detector re-reads at
    /// most its longest cross-room window, 1h at most).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub by_game_retention: Option<Duration>,
    /// Add partitions to an existing topic that has fewer. Rooms then move
    /// to other partitions: only do it with producers briefly stopped.
    #[arg(long)]
    pub grow: bool,
}

/// What `topics setup` did to one topic.
#[derive(Debug, Clone, Serialize)]
pub struct SetupRow {
    /// Topic name.
    pub topic: String,
    /// Partitions wanted.
    pub partitions: i32,
    /// Retention asked for (or the default, for a created topic), in
    /// milliseconds; `None`: an existing topic's retention left as it is.
    pub retention_ms: Option<u128>,
    /// `created`, `ok`, `retention updated`, `grown`…
    pub action: String,
}

/// One topic as `topics describe` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TopicRow {
    /// Topic name.
    pub topic: String,
    /// Partition count.
    pub partitions: usize,
    /// Replicas of partition 0.
    pub replication_factor: usize,
    /// `retention.ms`.
    pub retention_ms: Option<String>,
    /// `min.insync.replicas`.
    pub min_insync_replicas: Option<String>,
    /// `max.message.bytes`: the largest record the topic takes.
    pub max_message_bytes: Option<String>,
}

fn admin(kafka: &Kafka) -> Result<AdminClient<DefaultClientContext>, AdminError> {
    kafka
        .config(&[])
        .create()
        .map_err(|e| AdminError::kafka("creating an admin client", e))
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT))
}

/// Creates missing topics, sets retention, optionally grows partitions.
pub async fn setup(kafka: &Kafka, args: &SetupArgs, format: Format) -> Result<(), AdminError> {
    if args.partitions < 1 || args.replication_factor < 1 {
        return Err(AdminError::Invalid(
            "--partitions and --replication-factor must be at least 1".into(),
        ));
    }
    let small = (args.partitions / 4).max(1);
    const DAY: u64 = 24 * 3600;
    let wanted = [
        (args.topic.as_str(), args.partitions, args.retention),
        (args.dlq_topic.as_str(), small, args.dlq_retention),
        (args.alerts_topic.as_str(), small, args.alerts_retention),
        (args.actions_topic.as_str(), small, args.actions_retention),
        (
            args.by_game_topic.as_str(),
            args.partitions,
            args.by_game_retention,
        ),
    ];
    // Records up to 16 MiB reach the workers, which dead-letter them with
    // their original bytes (alerts keep the broker's default).
    let max_bytes = [
        Some(topics::GAME_MESSAGES_MAX_MESSAGE_BYTES),
        Some(topics::DLQ_MAX_MESSAGE_BYTES),
        None,
        None,
        None,
    ];
    let admin = admin(kafka)?;
    let existing = partition_counts(kafka, wanted.iter().map(|w| w.0))?;
    let mut rows = Vec::new();
    // Duration::MAX stands for "forever" (retention.ms = -1).
    let defaults = [
        Duration::from_secs(7 * DAY),
        Duration::from_secs(30 * DAY),
        Duration::from_secs(30 * DAY),
        Duration::MAX,
        Duration::from_secs(DAY),
    ];
    for (((topic, partitions, asked), default), max_bytes) in
        wanted.into_iter().zip(defaults).zip(max_bytes)
    {
        let max_bytes = max_bytes.map(|b| b.to_string());
        let retention = if existing.contains_key(topic) {
            asked
        } else {
            Some(asked.unwrap_or(default))
        };
        let retention_ms = retention.map(|r| match r {
            Duration::MAX => "-1".to_owned(),
            r => r.as_millis().to_string(),
        });
        let action = match existing.get(topic) {
            None => {
                let ms = retention_ms.clone().unwrap_or_default();
                let size = max_bytes.as_deref();
                create(
                    &admin,
                    topic,
                    partitions,
                    args.replication_factor,
                    &ms,
                    size,
                )
                .await?
            }
            Some(&have) => {
                let mut done = Vec::new();
                if have < partitions as usize {
                    if !args.grow {
                        return Err(AdminError::Refused(format!(
                            "{topic} has {have} partitions, fewer than {partitions}; \
                             pass --grow to add partitions (rooms move to new partitions)"
                        )));
                    }
                    grow(&admin, topic, partitions).await?;
                    done.push(format!("grown {have}→{partitions}"));
                } else if have > partitions as usize {
                    done.push(format!("keeps {have} partitions (cannot shrink)"));
                }
                let mut settings = Vec::new();
                if let Some(ms) = &retention_ms {
                    settings.push(("retention.ms", ms.clone()));
                }
                if let Some(bytes) = &max_bytes {
                    settings.push(("max.message.bytes", bytes.clone()));
                }
                for key in set_overrides(&admin, topic, &settings).await? {
                    done.push(match key {
                        "retention.ms" => "retention updated".to_owned(),
                        other => format!("{other} updated"),
                    });
                }
                if done.is_empty() {
                    "ok".to_owned()
                } else {
                    done.join(", ")
                }
            }
        };
        rows.push(SetupRow {
            topic: topic.to_owned(),
            partitions,
            retention_ms: retention.map(|r| r.as_millis()),
            action,
        });
    }
    output::print(format, &rows, || {
        let mut t = output::table(&["topic", "partitions", "retention", "action"]);
        for r in &rows {
            let retention = r.retention_ms.map_or_else(
                || "unchanged".to_owned(),
                |ms| match u64::try_from(ms) {
                    Ok(ms) => humantime::format_duration(Duration::from_millis(ms)).to_string(),
                    Err(_) => "forever".to_owned(),
                },
            );
            t.add_row(vec![
                r.topic.clone(),
                r.partitions.to_string(),
                retention,
                r.action.clone(),
            ]);
        }
        t
    });
    Ok(())
}

fn partition_counts<'a>(
    kafka: &Kafka,
    names: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<String, usize>, AdminError> {
    let consumer = kafka.consumer(None)?;
    let mut counts = BTreeMap::new();
    for name in names {
        match kafka.partitions(&consumer, name) {
            Ok(p) => {
                counts.insert(name.to_owned(), p.len());
            }
            Err(AdminError::NoSuchTopic(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(counts)
}

async fn create(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replication: i32,
    retention_ms: &str,
    max_message_bytes: Option<&str>,
) -> Result<String, AdminError> {
    let min_insync = if replication >= 3 { "2" } else { "1" };
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication))
        .set("retention.ms", retention_ms)
        .set("min.insync.replicas", min_insync);
    if let Some(bytes) = max_message_bytes {
        new = new.set("max.message.bytes", bytes);
    }
    let results = admin
        .create_topics([&new], &options())
        .await
        .map_err(|e| AdminError::kafka("creating topics", e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(AdminError::Refused(format!(
                    "the broker did not create {name}: {code}"
                )))
            }
        }
    }
    Ok("created".to_owned())
}

async fn grow(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
) -> Result<(), AdminError> {
    let count = usize::try_from(partitions).unwrap_or(1);
    let results = admin
        .create_partitions([&NewPartitions::new(topic, count)], &options())
        .await
        .map_err(|e| AdminError::kafka("adding partitions", e))?;
    for result in results {
        if let Err((name, code)) = result {
            return Err(AdminError::Refused(format!(
                "the broker did not grow {name}: {code}"
            )));
        }
    }
    Ok(())
}

/// Topic configs set on the topic itself (not inherited), by name.
async fn topic_overrides(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<BTreeMap<String, Option<String>>, AdminError> {
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options())
        .await
        .map_err(|e| AdminError::kafka("describing topic configs", e))?;
    let mut overrides = BTreeMap::new();
    for result in results {
        let resource = result.map_err(|code| {
            AdminError::Refused(format!("cannot read the configs of {topic}: {code}"))
        })?;
        for entry in resource.entries {
            if matches!(entry.source, ConfigSource::DynamicTopic) {
                overrides.insert(entry.name, entry.value);
            }
        }
    }
    Ok(overrides)
}

/// Sets topic configs, keeping the topic's other overrides (the Kafka
/// AlterConfigs request replaces them all). Returns the keys that changed.
async fn set_overrides<'a>(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    settings: &[(&'a str, String)],
) -> Result<Vec<&'a str>, AdminError> {
    let mut overrides = topic_overrides(admin, topic).await?;
    let mut changed = Vec::new();
    for (key, value) in settings {
        if overrides.get(*key).and_then(Option::as_deref) != Some(value.as_str()) {
            overrides.insert((*key).to_owned(), Some(value.clone()));
            changed.push(*key);
        }
    }
    if changed.is_empty() {
        return Ok(changed);
    }
    let mut alter = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (key, value) in &overrides {
        if let Some(value) = value {
            alter = alter.set(key, value);
        }
    }
    let results = admin
        .alter_configs([&alter], &options())
        .await
        .map_err(|e| AdminError::kafka("altering topic configs", e))?;
    for result in results {
        if let Err((_, code)) = result {
            return Err(AdminError::Refused(format!(
                "the broker did not change {} of {topic}: {code}",
                changed.join(", ")
            )));
        }
    }
    Ok(changed)
}

/// Prints partitions, replication and retention of `names` (default:
/// Parley's topics).
pub async fn describe(kafka: &Kafka, names: &[String], format: Format) -> Result<(), AdminError> {
    let names: Vec<String> = if names.is_empty() {
        [
            topics::GAME_MESSAGES,
            topics::GAME_MESSAGES_DLQ,
            topics::MODERATION_ALERTS,
            topics::MODERATION_ACTIONS,
            topics::ANOMALY_BY_GAME,
        ]
        .map(str::to_owned)
        .to_vec()
    } else {
        names.to_vec()
    };
    let admin = admin(kafka)?;
    let consumer = kafka.consumer(None)?;
    let mut rows = Vec::new();
    for name in &names {
        let metadata = consumer
            .fetch_metadata(Some(name), TIMEOUT)
            .map_err(|e| AdminError::kafka("fetching metadata", e))?;
        let Some(topic) = metadata
            .topics()
            .iter()
            .find(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
        else {
            return Err(AdminError::NoSuchTopic(name.clone()));
        };
        let configs = admin
            .describe_configs([&ResourceSpecifier::Topic(name)], &options())
            .await
            .map_err(|e| AdminError::kafka("describing topic configs", e))?;
        let entry = |key: &str| {
            configs
                .iter()
                .flatten()
                .find_map(|r| r.get(key).and_then(|e| e.value.clone()))
        };
        rows.push(TopicRow {
            topic: name.clone(),
            partitions: topic.partitions().len(),
            replication_factor: topic.partitions().first().map_or(0, |p| p.replicas().len()),
            retention_ms: entry("retention.ms"),
            min_insync_replicas: entry("min.insync.replicas"),
            max_message_bytes: entry("max.message.bytes"),
        });
    }
    output::print(format, &rows, || {
        let mut t = output::table(&[
            "topic",
            "partitions",
            "replication",
            "retention.ms",
            "min.insync",
            "max.message.bytes",
        ]);
        for r in &rows {
            t.add_row(vec![
                r.topic.clone(),
                r.partitions.to_string(),
                r.replication_factor.to_string(),
                r.retention_ms.clone().unwrap_or_default(),
                r.min_insync_replicas.clone().unwrap_or_default(),
                r.max_message_bytes.clone().unwrap_or_default(),
            ]);
        }
        t
    });
    Ok(())
}
