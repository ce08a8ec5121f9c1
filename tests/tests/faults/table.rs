//! The results table the suite prints and writes to
//! `.local/results/reliability-faults.md`: one row per fault, then one per
//! sink (expected, got, lost, duplicated).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::knobs::Knobs;

/// One row of the results table.
pub struct Row {
    pub fault: String,
    /// The stream was still running when the fault ended.
    pub under_load: bool,
    pub done: String,
    pub health: String,
}

/// The stream as loadgen measured it.
pub struct Load {
    pub records: u64,
    pub delivered: u64,
    pub rate: f64,
    pub seconds: f64,
    /// From the stream's start to the end of the last fault.
    pub faults: Duration,
}

/// Everything the table reports.
pub struct Totals<'a> {
    pub final_rows: u64,
    pub distinct: u64,
    pub physical: u64,
    pub ch_missing: usize,
    pub parquet_rows: usize,
    pub parquet_missing: usize,
    pub parquet_dup: usize,
    pub ws_messages: usize,
    pub ws_missing: usize,
    pub ws_dup: usize,
    pub ws_ordered: bool,
    pub ws_reconnects: u32,
    pub ws_gaps: u32,
    pub incidents: usize,
    pub detected: usize,
    pub split: usize,
    pub alerts: usize,
    pub malformed: usize,
    pub dead: &'a BTreeMap<String, usize>,
    pub took: Duration,
}

/// The table: the load, a row per fault, a row per sink.
pub fn results_table(
    knobs: &Knobs,
    load: &Load,
    valid: u64,
    rows: &[Row],
    t: &Totals<'_>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Load held: {} records produced ({valid} valid, {} malformed), {} acknowledged, {:.0} msg/s for {:.0} s (asked {} msg/s) into 12 partitions, RF 3, 3 brokers; the faults took the stream's first {:.0} s. Seed {}; {:.0} s in all.\n",
        load.records,
        t.malformed,
        load.delivered,
        load.rate,
        load.seconds,
        knobs.rate,
        load.faults.as_secs_f64(),
        knobs.seed,
        t.took.as_secs_f64(),
    );
    s.push_str("| fault (during the one stream) | done | under load to its end | `/healthz` |\n|---|---|---|---|\n");
    for r in rows {
        let load = if r.under_load {
            "yes"
        } else {
            "NO (stream over)"
        };
        let _ = writeln!(s, "| {} | {} | {load} | {} |", r.fault, r.done, r.health);
    }
    let ch_dup = t.final_rows.saturating_sub(t.distinct);
    let _ = writeln!(
        s,
        "\n| sink | expected | got | lost | duplicated |\n|---|---:|---:|---:|---:|\n\
         | ClickHouse (`FINAL`) | {valid} | {} ({} rows before merging) | {} | {ch_dup} |\n\
         | Parquet (all files) | {valid} | {} | {} | {} |\n\
         | WebSocket clients (6: 3 rooms × 2 senders, `since` after {} reconnects; in Kafka order: {}) | {} | {} | {} | {} |\n\
         | incidents with an alert of their category (split `alert_id`s: {}; {} alert records) | {} | {} | {} | — |\n\
         | malformed records dead-lettered, per shared worker | {} | {} | — | — |",
        t.final_rows,
        t.physical,
        t.ch_missing,
        t.parquet_rows,
        t.parquet_missing,
        t.parquet_dup,
        t.ws_reconnects,
        if t.ws_ordered { "yes" } else { "NO" },
        t.ws_messages,
        t.ws_messages - t.ws_missing,
        t.ws_missing + t.ws_gaps as usize,
        t.ws_dup,
        t.split,
        t.alerts,
        t.incidents,
        t.detected,
        t.incidents - t.detected,
        t.malformed,
        t.dead
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s
}
