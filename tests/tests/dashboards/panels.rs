//! The live dashboard test's checks against its Prometheus, after the load:
//! every query of every panel returns series (with Grafana's variables as
//! "All"), every template variable's `label_values` finds values, every
//! metric a queried panel names was scraped; and the report of what each
//! panel query returned.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::dashboards::{self, exporter, Dashboard, Exporter, Target};
use crate::harness::Prometheus;
use crate::{NOT_EMITTED_YET, RANGE, RATE_INTERVAL};

/// One line of the report.
pub struct Row {
    dashboard: String,
    panel: String,
    ref_id: String,
    series: Option<usize>,
    nan: usize,
    note: String,
}

/// Queries every panel target and variable of every dashboard as of
/// `evaluated_at`; panels of only `missing` workers are skipped. Returns
/// the report's rows, and pushes what failed to `failures`.
pub fn check_dashboards(
    prometheus: &Prometheus,
    missing: &BTreeSet<String>,
    evaluated_at: f64,
    failures: &mut Vec<String>,
) -> Vec<Row> {
    let mut checker = Checker {
        prometheus,
        known: dashboards::exported_metrics(),
        missing,
        evaluated_at,
        failures,
        rows: Vec::new(),
        queried_metrics: BTreeSet::new(),
    };
    for d in dashboards::load() {
        for t in d.targets() {
            checker.target(&t);
        }
        for v in d.variables() {
            checker.variable(&d, v);
        }
    }
    checker.metrics_scraped();
    checker.rows
}

/// The checks' state while they walk the dashboards.
struct Checker<'a> {
    prometheus: &'a Prometheus,
    known: BTreeMap<String, Exporter>,
    missing: &'a BTreeSet<String>,
    evaluated_at: f64,
    failures: &'a mut Vec<String>,
    rows: Vec<Row>,
    queried_metrics: BTreeSet<String>,
}

impl Checker<'_> {
    /// One query of one panel: it must return series, not only NaN.
    fn target(&mut self, t: &Target) {
        let known = &self.known;
        let metrics: BTreeSet<String> = dashboards::selectors(&t.expr)
            .into_iter()
            .map(|s| s.metric)
            .collect();
        let owners: BTreeSet<String> = metrics
            .iter()
            .filter_map(|m| match exporter(known, m) {
                Some(Exporter::Worker(w)) => Some(w),
                _ => None,
            })
            .collect();
        let only_missing = metrics
            .iter()
            .all(|m| matches!(exporter(known, m), Some(Exporter::Worker(_))))
            && owners.iter().all(|w| self.missing.contains(w));
        let mut row = Row {
            dashboard: t.dashboard.clone(),
            panel: t.panel.clone(),
            ref_id: t.ref_id.clone(),
            series: None,
            nan: 0,
            note: String::new(),
        };
        if only_missing {
            row.note = format!(
                "skipped: {} not built",
                owners.into_iter().collect::<Vec<_>>().join(", ")
            );
            self.rows.push(row);
            return;
        }
        self.queried_metrics.extend(metrics.iter().cloned());
        let expr = dashboards::substitute(&t.expr, ".+", RATE_INTERVAL, RANGE);
        match self.prometheus.query(&expr, self.evaluated_at) {
            Ok(series) => self.judge(t, &metrics, &expr, &series, &mut row),
            Err(e) => self.failures.push(format!(
                "{} / {} / {}: {e} for {expr}",
                t.dashboard, t.panel, t.ref_id
            )),
        }
        self.rows.push(row);
    }

    /// What a target's query returned: series, or a known gap.
    fn judge(
        &mut self,
        t: &Target,
        metrics: &BTreeSet<String>,
        expr: &str,
        series: &[Value],
        row: &mut Row,
    ) {
        row.nan = series.iter().filter(|s| s["value"][1] == "NaN").count();
        let gap = metrics
            .iter()
            .map(|m| NOT_EMITTED_YET.iter().find(|(n, _)| n == m))
            .collect::<Option<Vec<_>>>();
        if let (true, Some(gap)) = (series.is_empty(), gap) {
            row.note = format!("empty, not emitted yet: {}", gap[0].1);
        } else if !series.is_empty() && row.nan == series.len() {
            self.failures.push(format!(
                "{} / {} / {}: only NaN for {expr}",
                t.dashboard, t.panel, t.ref_id
            ));
        } else if series.is_empty() {
            self.failures.push(format!(
                "{} / {} / {}: no series for {expr}",
                t.dashboard, t.panel, t.ref_id
            ));
        }
        row.series = Some(series.len());
    }

    /// Template variables: `label_values(selector, label)` must find values.
    fn variable(&mut self, d: &Dashboard, v: &Value) {
        let Some((selector, label)) = v["query"].as_str().and_then(dashboards::label_values) else {
            return;
        };
        let name = v["name"].as_str().unwrap_or_default();
        let metric = dashboards::selectors(&selector)
            .first()
            .map(|s| s.metric.clone())
            .unwrap_or_default();
        if let Some(Exporter::Worker(w)) = exporter(&self.known, &metric) {
            if self.missing.contains(&w) {
                println!("note: {} ${name} skipped: {w} not built", d.name);
                return;
            }
        }
        let selector = dashboards::substitute(&selector, ".+", RATE_INTERVAL, RANGE);
        let series = self.prometheus.api(
            "series",
            &[
                ("match[]", selector.clone()),
                ("start", (self.evaluated_at - 120.0).to_string()),
                ("end", self.evaluated_at.to_string()),
            ],
        );
        let values: BTreeSet<String> = series
            .ok()
            .and_then(|s| s.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s[&label].as_str().map(str::to_owned))
            .collect();
        println!("{} ${name}: {values:?}", d.name);
        if values.is_empty() {
            self.failures.push(format!(
                "{} ${name}: label_values({selector}, {label}) is empty",
                d.name
            ));
        }
    }

    /// Every metric a queried panel names exists (even under `or vector(0)`).
    fn metrics_scraped(&mut self) {
        for m in &self.queried_metrics {
            if NOT_EMITTED_YET.iter().any(|(n, _)| n == m) {
                continue;
            }
            let found = self
                .prometheus
                .query(&format!("count({{__name__=\"{m}\"}})"), self.evaluated_at)
                .unwrap_or_default();
            if found.is_empty() {
                self.failures.push(format!("metric {m}: no series scraped"));
            }
        }
    }
}

/// Prints what every panel query returned, and how many were skipped.
pub fn print_report(rows: &[Row], missing: &BTreeSet<String>) {
    println!(
        "\n{:<16} {:<44} {:<3} {:>6} {:>4}  note",
        "dashboard", "panel", "ref", "series", "NaN"
    );
    for r in rows {
        println!(
            "{:<16} {:<44} {:<3} {:>6} {:>4}  {}",
            r.dashboard,
            r.panel.chars().take(44).collect::<String>(),
            r.ref_id,
            r.series
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            r.nan,
            r.note
        );
    }
    let skipped = rows.iter().filter(|r| r.series.is_none()).count();
    println!(
        "{} targets: {} queried, {skipped} skipped (missing workers: {missing:?})",
        rows.len(),
        rows.len() - skipped
    );
}
