//! `lag`: how far each consumer group is behind the end of the topic.

use clap::Args;
use serde::Serialize;

use parley_shared::topics;

use crate::error::AdminError;
use crate::kafka::Kafka;
use crate::output::{self, Format};

/// Flags of `lag`.
#[derive(Debug, Clone, Args)]
pub struct LagArgs {
    /// Groups to show (repeatable); default: every group with offsets on the topic.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Topic consumed.
    #[arg(long, default_value = topics::GAME_MESSAGES)]
    pub topic: String,
    /// One row per partition instead of one per group.
    #[arg(long)]
    pub partitions: bool,
}

/// One partition of one group.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionLag {
    /// Partition id.
    pub partition: i32,
    /// Committed offset (`None`: the group has never committed here).
    pub committed: Option<i64>,
    /// End offset (high watermark).
    pub end: i64,
    /// Records not yet committed (from the oldest retained one when nothing is committed).
    pub lag: i64,
}

/// One group's lag on the topic.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLag {
    /// Group id.
    pub group: String,
    /// Coordinator's state of the group.
    pub state: String,
    /// Members joined now.
    pub members: usize,
    /// Sum of the partitions' lag.
    pub lag: i64,
    /// Per partition.
    pub partitions: Vec<PartitionLag>,
}

/// Computes every asked group's lag on `topic`.
pub fn measure(kafka: &Kafka, groups: &[String], topic: &str) -> Result<Vec<GroupLag>, AdminError> {
    let consumer = kafka.consumer(None)?;
    let watermarks = kafka.watermarks(&consumer, topic)?;
    let known = kafka.groups()?;
    let names: Vec<String> = if groups.is_empty() {
        known.keys().cloned().collect()
    } else {
        groups.to_vec()
    };
    let mut report = Vec::new();
    for name in names {
        let committed = kafka.committed(&name, topic)?;
        if groups.is_empty() && committed.is_empty() {
            continue; // a group of another topic
        }
        let partitions: Vec<PartitionLag> = watermarks
            .iter()
            .map(|(&partition, &(low, high))| {
                let at = committed.get(&partition).copied();
                PartitionLag {
                    partition,
                    committed: at,
                    end: high,
                    lag: (high - at.unwrap_or(low).max(low)).max(0),
                }
            })
            .collect();
        let info = known.get(&name);
        report.push(GroupLag {
            state: info.map_or_else(|| "Dead".to_owned(), |g| g.state.clone()),
            members: info.map_or(0, |g| g.members),
            lag: partitions.iter().map(|p| p.lag).sum(),
            group: name,
            partitions,
        });
    }
    Ok(report)
}

/// Prints the lag report.
pub fn run(kafka: &Kafka, args: &LagArgs, format: Format) -> Result<(), AdminError> {
    let report = measure(kafka, &args.groups, &args.topic)?;
    if report.is_empty() && format == Format::Table {
        println!("no group has committed offsets on {}", args.topic);
        return Ok(());
    }
    output::print(format, &report, || {
        if args.partitions {
            let mut t = output::table(&["group", "partition", "committed", "end", "lag"]);
            for g in &report {
                for p in &g.partitions {
                    t.add_row(vec![
                        g.group.clone(),
                        p.partition.to_string(),
                        p.committed
                            .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                        p.end.to_string(),
                        p.lag.to_string(),
                    ]);
                }
            }
            t
        } else {
            let mut t = output::table(&["group", "state", "members", "lag", "max partition lag"]);
            for g in &report {
                let max = g.partitions.iter().max_by_key(|p| p.lag);
                t.add_row(vec![
                    g.group.clone(),
                    g.state.clone(),
                    g.members.to_string(),
                    g.lag.to_string(),
                    max.map_or_else(String::new, |p| format!("{} (p{})", p.lag, p.partition)),
                ]);
            }
            t
        }
    });
    Ok(())
}
