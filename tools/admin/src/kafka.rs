//! Kafka look-ups the commands share: partitions, end offsets, a group's
//! committed offsets and state, offsets for a time.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::AdminError;

/// How long one broker request may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to the cluster from `--brokers` and `--kafka-prop`.
#[derive(Debug, Clone)]
pub struct Kafka {
    props: BTreeMap<String, String>,
}

/// A consumer group as the coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// `Empty`, `Stable`, `PreparingRebalance`, `Dead`…
    pub state: String,
    /// Members currently joined.
    pub members: usize,
}

impl GroupInfo {
    /// True when no consumer is joined, so its offsets may be changed.
    pub fn is_idle(&self) -> bool {
        self.members == 0 && matches!(self.state.as_str(), "Empty" | "Dead" | "")
    }
}

impl Kafka {
    /// Uses these librdkafka properties (`bootstrap.servers` included).
    pub fn new(props: BTreeMap<String, String>) -> Self {
        Kafka { props }
    }

    /// The librdkafka properties (`bootstrap.servers` included).
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.props
    }

    /// The client configuration, with `extra` applied on top.
    pub fn config(&self, extra: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.props {
            config.set(key, value);
        }
        for (key, value) in extra {
            config.set(*key, *value);
        }
        config
    }

    /// A consumer that never joins a group: for look-ups and manual reads,
    /// or, with `group`, to read and commit that group's offsets.
    pub fn consumer(&self, group: Option<&str>) -> Result<BaseConsumer, AdminError> {
        let mut extra = vec![
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
        ];
        extra.push(("group.id", group.unwrap_or("parley-admin")));
        self.config(&extra)
            .create()
            .map_err(|e| AdminError::kafka("creating a Kafka client", e))
    }

    /// Partition ids of `topic`, or [`AdminError::NoSuchTopic`].
    pub fn partitions(&self, consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, AdminError> {
        let metadata = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| AdminError::kafka("fetching metadata", e))?;
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .filter(|t| !t.partitions().is_empty());
        match found {
            Some(t) => Ok(t.partitions().iter().map(|p| p.id()).collect()),
            None => Err(AdminError::NoSuchTopic(topic.to_owned())),
        }
    }

    /// `(low, high)` watermarks of every partition of `topic`.
    pub fn watermarks(
        &self,
        consumer: &BaseConsumer,
        topic: &str,
    ) -> Result<BTreeMap<i32, (i64, i64)>, AdminError> {
        self.partitions(consumer, topic)?
            .into_iter()
            .map(|p| {
                consumer
                    .fetch_watermarks(topic, p, TIMEOUT)
                    .map(|w| (p, w))
                    .map_err(|e| AdminError::kafka("fetching end offsets", e))
            })
            .collect()
    }

    /// Offsets `group` has committed on `topic` (partitions without one are absent).
    pub fn committed(&self, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>, AdminError> {
        let consumer = self.consumer(Some(group))?;
        let mut tpl = TopicPartitionList::new();
        for p in self.partitions(&consumer, topic)? {
            tpl.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(tpl, TIMEOUT)
            .map_err(|e| AdminError::kafka("fetching committed offsets", e))?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }

    /// Every consumer group the cluster knows, by name.
    pub fn groups(&self) -> Result<BTreeMap<String, GroupInfo>, AdminError> {
        self.describe(None)
    }

    /// One group's state; a group never seen is `Dead` with no members.
    pub fn group(&self, group: &str) -> Result<GroupInfo, AdminError> {
        Ok(self
            .describe(Some(group))?
            .remove(group)
            .unwrap_or(GroupInfo {
                state: "Dead".to_owned(),
                members: 0,
            }))
    }

    fn describe(&self, group: Option<&str>) -> Result<BTreeMap<String, GroupInfo>, AdminError> {
        let consumer = self.consumer(None)?;
        let list = consumer
            .fetch_group_list(group, TIMEOUT)
            .map_err(|e| AdminError::kafka("listing consumer groups", e))?;
        Ok(list
            .groups()
            .iter()
            .map(|g| {
                (
                    g.name().to_owned(),
                    GroupInfo {
                        state: g.state().to_owned(),
                        members: g.members().len(),
                    },
                )
            })
            .collect())
    }

    /// For each partition, the first offset whose record timestamp is at or
    /// after `at_ms` (the end offset when there is none).
    pub fn offsets_for_time(
        &self,
        topic: &str,
        partitions: &[i32],
        at_ms: i64,
    ) -> Result<BTreeMap<i32, i64>, AdminError> {
        let consumer = self.consumer(None)?;
        let watermarks = self.watermarks(&consumer, topic)?;
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition_offset(topic, p, Offset::Offset(at_ms))
                .map_err(|e| AdminError::kafka("building the offsets request", e))?;
        }
        let found = consumer
            .offsets_for_times(tpl, TIMEOUT)
            .map_err(|e| AdminError::kafka("looking up offsets for a time", e))?;
        Ok(found
            .elements()
            .iter()
            .map(|e| {
                let end = watermarks.get(&e.partition()).map_or(0, |w| w.1);
                let offset = match e.offset() {
                    Offset::Offset(o) => o,
                    _ => end,
                };
                (e.partition(), offset)
            })
            .collect())
    }

    /// Commits `offsets` for `group` on `topic`; the group must be idle.
    pub fn commit(
        &self,
        group: &str,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), AdminError> {
        let consumer = self.consumer(Some(group))?;
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in offsets {
            tpl.add_partition_offset(topic, p, Offset::Offset(o))
                .map_err(|e| AdminError::kafka("building the commit", e))?;
        }
        consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| AdminError::kafka("committing offsets", e))
    }
}
