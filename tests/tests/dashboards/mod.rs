//! What the dashboard tests share: the dashboards and their targets, the
//! metric names the workers export (and who exports them); and, in
//! `query.rs`, a small PromQL scanner for the metric names and selectors of
//! an expression and Grafana variable substitution. Each test binary uses
//! part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

mod query;
// Each test binary uses part of it (as of the whole module, `dead_code` above).
#[allow(unused_imports)]
pub use query::{label_values, ranges, selectors, substitute, variables_used, Selector};

/// The dashboards under `dashboards/`, by file stem.
pub const DASHBOARDS: [&str; 3] = ["game-operations", "pipeline-health", "moderation"];

/// Every worker of docs/contracts.md, in start order.
pub const WORKERS: [&str; 5] = [
    "websocket-sender",
    "db-writer",
    "analytics",
    "anomaly-detector",
    "parquet-exporter",
];

/// Names fixed by issue #6 (analytics) and #7 (anomaly-detector) before
/// their code lands; once a worker exports them, its sources list them too.
const ANNOUNCED: [(&str, &str); 12] = [
    ("analytics", "parley_analytics_messages_total"),
    ("analytics", "parley_analytics_active_users"),
    ("analytics", "parley_analytics_active_rooms"),
    ("analytics", "parley_analytics_top_room_messages"),
    ("analytics", "parley_analytics_message_length_chars"),
    ("analytics", "parley_analytics_partitions_warming"),
    ("analytics", "parley_analytics_partition_resets_total"),
    ("anomaly-detector", "parley_anomaly_rule_hits_total"),
    ("anomaly-detector", "parley_anomaly_alerts_total"),
    ("anomaly-detector", "parley_anomaly_alert_sends_total"),
    ("anomaly-detector", "parley_anomaly_state_entries"),
    ("anomaly-detector", "parley_anomaly_rule_eval_seconds"),
];

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// One dashboard, parsed.
pub struct Dashboard {
    /// File stem, e.g. `pipeline-health`.
    pub name: String,
    /// The JSON model.
    pub json: Value,
}

/// One query of one panel.
pub struct Target {
    /// Dashboard file stem.
    pub dashboard: String,
    /// Panel title.
    pub panel: String,
    /// Panel id.
    pub panel_id: i64,
    /// Target refId.
    pub ref_id: String,
    /// PromQL with Grafana variables.
    pub expr: String,
}

/// Reads and parses every dashboard (panics with the file and the error).
pub fn load() -> Vec<Dashboard> {
    DASHBOARDS
        .iter()
        .map(|name| {
            let path = repo().join("dashboards").join(format!("{name}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            Dashboard {
                name: (*name).to_owned(),
                json,
            }
        })
        .collect()
}

impl Dashboard {
    /// Every panel, rows' nested panels included, rows themselves too.
    pub fn panels(&self) -> Vec<&Value> {
        let mut out = Vec::new();
        for panel in self.json["panels"].as_array().into_iter().flatten() {
            out.push(panel);
            out.extend(panel["panels"].as_array().into_iter().flatten());
        }
        out
    }

    /// Every target of every panel.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for panel in self.panels() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push(Target {
                    dashboard: self.name.clone(),
                    panel: panel["title"].as_str().unwrap_or_default().to_owned(),
                    panel_id: panel["id"].as_i64().unwrap_or_default(),
                    ref_id: target["refId"].as_str().unwrap_or_default().to_owned(),
                    expr: target["expr"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
        out
    }

    /// The templating variables.
    pub fn variables(&self) -> Vec<&Value> {
        self.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .collect()
    }
}

/// Which process exports a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exporter {
    /// Every worker (the shared runtime, process metrics) and `up`.
    Every,
    /// Only this worker.
    Worker(String),
}

/// Every metric name a worker exports (from the `pub const … = "name"`
/// lines of `shared/src` and `workers/*/src`), the announced names of
/// workers not written yet, `up`; `process_*` is accepted by [`exporter`].
pub fn exported_metrics() -> BTreeMap<String, Exporter> {
    let mut names = BTreeMap::new();
    names.insert("up".to_owned(), Exporter::Every);
    for (worker, name) in ANNOUNCED {
        names.insert(name.to_owned(), Exporter::Worker(worker.to_owned()));
    }
    for name in consts_in(&repo().join("shared/src")) {
        names.insert(name, Exporter::Every);
    }
    let workers = std::fs::read_dir(repo().join("workers")).expect("workers/");
    for dir in workers.flatten() {
        let worker = dir.file_name().to_string_lossy().into_owned();
        for name in consts_in(&dir.path().join("src")) {
            names.insert(name, Exporter::Worker(worker.clone()));
        }
    }
    names
}

/// The exporter of `name`, a histogram's `_bucket`/`_sum`/`_count` series
/// included; `None` for a name no worker exports.
pub fn exporter(known: &BTreeMap<String, Exporter>, name: &str) -> Option<Exporter> {
    if name.starts_with("process_") {
        return Some(Exporter::Every);
    }
    if let Some(e) = known.get(name) {
        return Some(e.clone());
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| known.get(name.strip_suffix(suffix)?).cloned())
}

/// `parley_*` string constants declared in the Rust files under `dir`.
fn consts_in(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(consts_in(&path));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            let line = line.trim();
            if !(line.starts_with("pub const ") && line.contains(": &str")) {
                continue;
            }
            let Some(value) = line.split('"').nth(1) else {
                continue;
            };
            if value.starts_with("parley_") {
                out.insert(value.to_owned());
            }
        }
    }
    out
}
