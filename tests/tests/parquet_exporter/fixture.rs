//! The exporter's test fixture: a fresh topic, DLQ, group and output
//! folder; what the output holds (files, ids, coverage); `/healthz`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use parley_tests::process::{http_get, loadgen, loadgen_args, worker_args};
use parley_tests::{fresh_topic, unique_name};
use serde_json::Value;

/// A fresh topic (12 partitions), DLQ, group and output folder (removed on
/// drop).
pub struct Fixture {
    pub topic: String,
    pub dlq: String,
    pub group: String,
    pub out: PathBuf,
}

impl Fixture {
    pub async fn new(prefix: &str) -> Fixture {
        let out = std::env::temp_dir().join(unique_name(prefix));
        Fixture {
            topic: fresh_topic(prefix, 12).await,
            dlq: fresh_topic(&format!("{prefix}-dlq"), 3).await,
            group: unique_name(prefix),
            out,
        }
    }

    pub fn exporter_args(&self, port: u16, extra: &[&str]) -> Vec<String> {
        let out = self.out.to_string_lossy();
        let mut args = vec!["--out", out.as_ref()];
        args.extend_from_slice(extra);
        worker_args(&self.topic, &self.group, &self.dlq, port, &args)
    }

    pub fn loadgen(&self, extra: &[&str]) -> Value {
        loadgen(&loadgen_args(&self.topic, extra))
    }

    /// What DuckDB and pyarrow read from the output.
    pub fn read(&self) -> Value {
        parley_tests::read_parquet(&self.out)
    }

    /// Offsets covered by the file names, per partition, and temp files left.
    pub fn files(&self) -> (Vec<(i32, i64, i64)>, usize) {
        self.files_of("game-messages")
    }

    /// [`Fixture::files`] of one dataset (`game-messages`, `moderation-actions`).
    pub fn files_of(&self, dataset: &str) -> (Vec<(i32, i64, i64)>, usize) {
        let root = self.out.join(dataset);
        let mut parts = Vec::new();
        let mut tmp = 0;
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    stack.push(path);
                } else if name.ends_with(".tmp") {
                    tmp += 1;
                } else if let Some(stem) = name
                    .strip_prefix("part-")
                    .and_then(|n| n.strip_suffix(".parquet"))
                {
                    let n: Vec<i64> = stem.split('-').filter_map(|x| x.parse().ok()).collect();
                    parts.push((n[0] as i32, n[1], n[2]));
                }
            }
        }
        (parts, tmp)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

pub fn truth_ids(path: &Path) -> HashSet<String> {
    std::fs::read_to_string(path)
        .expect("truth")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|t| t["message_id"].as_str().map(str::to_owned))
        .collect()
}

pub fn stored_ids(read: &Value) -> Vec<String> {
    read["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// `/healthz`: status code and body.
pub fn health(port: u16) -> (u16, String) {
    http_get(&format!("127.0.0.1:{port}"), "/healthz").unwrap_or((0, String::new()))
}

/// Rows the file names cover, and the next offset to export per partition.
pub fn coverage(parts: &[(i32, i64, i64)]) -> (u64, HashMap<i32, i64>) {
    let mut next = HashMap::new();
    for &(p, _, last) in parts {
        let n = next.entry(p).or_insert(0);
        *n = (*n).max(last + 1);
    }
    let rows = parts.iter().map(|&(_, f, l)| (l - f + 1) as u64).sum();
    (rows, next)
}
