//! What the dashboard tests share: the dashboards and their targets, the
//! metric names the workers export (and who exports them), a small PromQL
//! scanner for the metric names and selectors of an expression, and Grafana
//! variable substitution. Each test binary uses part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

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

/// A vector selector found in an expression: the metric name and the text
/// between its braces (empty when it has none).
#[derive(Debug, Clone)]
pub struct Selector {
    /// Char index of the name in the expression.
    pub start: usize,
    /// Metric name.
    pub metric: String,
    /// Label matchers, as written.
    pub matchers: String,
}

const AGGREGATIONS: [&str; 12] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

/// The vector selectors of a PromQL expression (a scanner, not a parser:
/// enough for the expressions of dashboards and rules; promtool parses them
/// for real). Label names in grouping clauses, function names, strings,
/// durations and numbers are not selectors.
pub fn selectors(expr: &str) -> Vec<Selector> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(&chars, i, '{', '}'),
            '[' => i = skip_group(&chars, i, '[', ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_{}:".contains(chars[i])) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i]))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let lower = word.to_ascii_lowercase();
                if GROUPING.contains(&word.as_str()) {
                    if chars.get(next) == Some(&'(') {
                        i = skip_group(&chars, next, '(', ')');
                    }
                } else if chars.get(next) == Some(&'(')
                    || AGGREGATIONS.contains(&word.as_str())
                    || KEYWORDS.contains(&lower.as_str())
                {
                    // a function, an aggregation or an operator
                } else {
                    let matchers = if chars.get(next) == Some(&'{') {
                        let end = skip_group(&chars, next, '{', '}');
                        i = end;
                        chars[next + 1..end.saturating_sub(1)].iter().collect()
                    } else {
                        String::new()
                    };
                    out.push(Selector {
                        start,
                        metric: word,
                        matchers,
                    });
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Index just past the string literal starting at `i`.
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() && chars[j] != quote {
        if chars[j] == '\\' && quote != '`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

/// Index just past the group opened at `i` (strings inside skipped).
fn skip_group(chars: &[char], i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j < chars.len() {
        match chars[j] {
            '"' | '\'' | '`' => {
                j = skip_string(chars, j);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    chars.len()
}

/// The range durations (`[…]`) written in an expression.
pub fn ranges(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find('[') {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        out.push(rest[start + 1..start + len].trim().to_owned());
        rest = &rest[start + len..];
    }
    out
}

/// Grafana variables (`$name`, `${name}`, `${name:fmt}`) used in `text`.
pub fn variables_used(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let braced = bytes.get(i + 1) == Some(&b'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if end > start {
            out.insert(text[start..end].to_owned());
        }
        i = end.max(i + 1);
    }
    out
}

/// Replaces Grafana's variables as a dashboard would with "All" selected:
/// `$job`, `$instance`, `$group`, `$game` (and any other) by `all`,
/// `$__rate_interval` by `rate_interval`, `$__range` by `range`,
/// `$__interval` by `interval`.
pub fn substitute(expr: &str, all: &str, rate_interval: &str, range: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let c = expr[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
            continue;
        }
        let braced = bytes.get(i + 1) == Some(&b'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        if braced {
            // `${name}` or `${name:format}`
            while end < bytes.len() && bytes[end] != b'}' {
                end += 1;
            }
            end += 1;
        }
        out.push_str(match name {
            "__rate_interval" => rate_interval,
            "__range" => range,
            "__interval" => "15s",
            _ => all,
        });
        i = end.max(i + 1);
    }
    out
}

/// The selector and label of a `label_values(selector, label)` query.
pub fn label_values(query: &str) -> Option<(String, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim().to_owned(), label.trim().to_owned()))
}
