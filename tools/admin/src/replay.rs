//! `replay`: move an idle group's committed offsets to an offset or a
//! time, so it re-reads retained records (e.g. to backfill a new analytics
//! group) or skips them. A dry run unless `--execute`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Args};
use serde::Serialize;

use parley_shared::topics;

use crate::error::AdminError;
use crate::kafka::Kafka;
use crate::output::{self, Format};

/// Flags of `replay`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["to_earliest", "to_latest", "to_offset", "to_time", "ago"])))]
pub struct ReplayArgs {
    /// Group whose offsets move. Stop its workers first.
    #[arg(long)]
    pub group: String,
    /// Topic.
    #[arg(long, default_value = topics::GAME_MESSAGES)]
    pub topic: String,
    /// Only these partitions (repeatable); default: all.
    #[arg(long = "partition")]
    pub partitions: Vec<i32>,
    /// To the oldest retained record.
    #[arg(long)]
    pub to_earliest: bool,
    /// To the end: skip everything not yet read.
    #[arg(long)]
    pub to_latest: bool,
    /// To this offset in every chosen partition (clamped to what is retained).
    #[arg(long)]
    pub to_offset: Option<i64>,
    /// To the first record at or after this time (RFC 3339, e.g. 2026-11-22T03:00:00Z).
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub to_time: Option<SystemTime>,
    /// To the first record at or after this long ago (e.g. 2h).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ago: Option<Duration>,
    /// Commit the new offsets (without it, only print the plan).
    #[arg(long)]
    pub execute: bool,
}

/// One partition of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Move {
    /// Partition id.
    pub partition: i32,
    /// Committed now (`None`: never).
    pub from: Option<i64>,
    /// Committed after.
    pub to: i64,
    /// Records the group will read again (negative: skip).
    pub reread: i64,
}

fn millis(t: SystemTime) -> Result<i64, AdminError> {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AdminError::Invalid("time before 1970".into()))?
        .as_millis();
    i64::try_from(ms).map_err(|_| AdminError::Invalid("time too far ahead".into()))
}

/// Works out the new offsets.
pub fn plan(kafka: &Kafka, args: &ReplayArgs) -> Result<Vec<Move>, AdminError> {
    let consumer = kafka.consumer(None)?;
    let watermarks = kafka.watermarks(&consumer, &args.topic)?;
    let partitions: Vec<i32> = if args.partitions.is_empty() {
        watermarks.keys().copied().collect()
    } else {
        for p in &args.partitions {
            if !watermarks.contains_key(p) {
                return Err(AdminError::Invalid(format!(
                    "{} has no partition {p}",
                    args.topic
                )));
            }
        }
        args.partitions.clone()
    };
    let at_time = match (args.to_time, args.ago) {
        (Some(t), _) => Some(millis(t)?),
        (None, Some(ago)) => Some(millis(SystemTime::now() - ago)?),
        _ => None,
    };
    let targets: BTreeMap<i32, i64> = match at_time {
        Some(ms) => kafka.offsets_for_time(&args.topic, &partitions, ms)?,
        None => partitions
            .iter()
            .map(|p| {
                let (low, high) = watermarks.get(p).copied().unwrap_or((0, 0));
                let to = if args.to_earliest {
                    low
                } else if args.to_latest {
                    high
                } else {
                    args.to_offset.unwrap_or(low).clamp(low, high)
                };
                (*p, to)
            })
            .collect(),
    };
    let committed = kafka.committed(&args.group, &args.topic)?;
    Ok(targets
        .into_iter()
        .map(|(partition, to)| {
            let from = committed.get(&partition).copied();
            let reference = from.unwrap_or_else(|| watermarks.get(&partition).map_or(0, |w| w.1));
            Move {
                partition,
                from,
                to,
                reread: reference - to,
            }
        })
        .collect())
}

/// Prints the plan and, with `--execute`, commits it.
pub fn run(kafka: &Kafka, args: &ReplayArgs, format: Format) -> Result<(), AdminError> {
    let group = kafka.group(&args.group)?;
    if !group.is_idle() {
        return Err(AdminError::Refused(format!(
            "group {} has {} member(s) (state {}); stop its workers first, \
             their next commit would undo the move",
            args.group, group.members, group.state
        )));
    }
    if args.group.starts_with("parquet-exporter") {
        eprintln!(
            "note: parquet-exporter resumes after the highest offset in its file names, \
             whatever the group's offsets say; to re-export, move or delete those files"
        );
    }
    let moves = plan(kafka, args)?;
    output::print(format, &moves, || {
        let mut t = output::table(&["partition", "committed now", "new offset", "re-read"]);
        for m in &moves {
            t.add_row(vec![
                m.partition.to_string(),
                m.from.map_or_else(|| "-".to_owned(), |f| f.to_string()),
                m.to.to_string(),
                m.reread.to_string(),
            ]);
        }
        t
    });
    let total: i64 = moves.iter().map(|m| m.reread).sum();
    if args.execute {
        let offsets = moves.iter().map(|m| (m.partition, m.to)).collect();
        kafka.commit(&args.group, &args.topic, &offsets)?;
        eprintln!(
            "committed: group {} re-reads {total} record(s) of {} when it starts",
            args.group, args.topic
        );
    } else {
        eprintln!("dry run ({total} record(s) to re-read): pass --execute to commit these offsets");
    }
    Ok(())
}
