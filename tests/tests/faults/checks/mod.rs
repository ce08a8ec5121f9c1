//! After the stream: every sink checked against the produced set
//! (ClickHouse, Parquet, WebSocket clients, alerts, dead letters), the
//! numbers for the results table, and the suite's assertions.

mod alerts;
mod clickhouse;
mod dlq;
mod parquet;
mod websocket;

use std::collections::BTreeMap;
use std::time::Duration;

use parley_tests::faults::{RoomClient, Truth};

use crate::stage::Stage;
use crate::table::Totals;
use crate::SHARED;
use websocket::WsCheck;

/// What every sink holds, compared with the truth.
pub struct Checked {
    final_rows: u64,
    distinct: u64,
    physical: u64,
    ch_missing: usize,
    parquet_rows: usize,
    parquet_missing: usize,
    parquet_dup: usize,
    ws: WsCheck,
    alerts: usize,
    detected: usize,
    missed: Vec<String>,
    split: usize,
    dead: BTreeMap<String, usize>,
}

impl Checked {
    /// Runs every check, in this order: ClickHouse, Parquet, the WebSocket
    /// clients (closed here), alerts, dead letters.
    pub async fn run(stage: &Stage, truth: &Truth, clients: Vec<RoomClient>) -> Checked {
        let (final_rows, distinct, physical, ch_missing) =
            clickhouse::clickhouse_check(&stage.database, truth);
        let (parquet_rows, parquet_missing, parquet_dup) =
            parquet::parquet_check(&stage.out, truth);
        let ws = websocket::websocket_check(clients, truth).await;
        let (found, detected, missed, split) = alerts::alerts_check(&stage.alerts_topic, truth);
        let dead = dlq::dead_letters(&stage.dlq);
        Checked {
            final_rows,
            distinct,
            physical,
            ch_missing,
            parquet_rows,
            parquet_missing,
            parquet_dup,
            ws,
            alerts: found.len(),
            detected,
            missed,
            split,
            dead,
        }
    }

    /// Valid messages lost by the worst sink.
    pub fn lost(&self, valid: u64) -> usize {
        (valid - self.final_rows.min(valid)) as usize
            + self.ch_missing.max(self.parquet_missing)
            + self.ws.missing
    }

    /// The numbers of the results table.
    pub fn totals(&self, truth: &Truth, took: Duration) -> Totals<'_> {
        Totals {
            final_rows: self.final_rows,
            distinct: self.distinct,
            physical: self.physical,
            ch_missing: self.ch_missing,
            parquet_rows: self.parquet_rows,
            parquet_missing: self.parquet_missing,
            parquet_dup: self.parquet_dup,
            ws_messages: self.ws.messages,
            ws_missing: self.ws.missing,
            ws_dup: self.ws.dup,
            ws_ordered: self.ws.ordered,
            ws_reconnects: self.ws.reconnects,
            ws_gaps: self.ws.gaps,
            incidents: truth.incidents.len(),
            detected: self.detected,
            split: self.split,
            alerts: self.alerts,
            malformed: truth.malformed,
            dead: &self.dead,
            took,
        }
    }

    /// Every valid message exactly once in every sink, every incident
    /// alerted once, every malformed record dead-lettered by every worker.
    pub fn assert_nothing_lost_or_duplicated(&self, valid: u64, truth: &Truth, lost: usize) {
        assert_eq!(self.final_rows, valid, "ClickHouse rows (FINAL)");
        assert_eq!(self.distinct, valid, "ClickHouse distinct ids");
        assert_eq!(self.ch_missing, 0, "valid ids missing from ClickHouse");
        assert_eq!(self.parquet_rows as u64, valid, "Parquet rows");
        assert_eq!(self.parquet_missing, 0, "valid ids missing from Parquet");
        assert_eq!(self.parquet_dup, 0, "Parquet duplicates");
        let ws = &self.ws;
        assert_eq!(
            (ws.missing, ws.dup, ws.gaps),
            (0, 0, 0),
            "WebSocket clients:\n{}",
            ws.lines.join("\n")
        );
        assert!(ws.ordered, "WebSocket order:\n{}", ws.lines.join("\n"));
        let missed = &self.missed;
        assert!(missed.is_empty(), "incidents without an alert: {missed:?}");
        assert_eq!(
            self.split, 0,
            "an incident alerted under more than one alert_id"
        );
        for worker in SHARED {
            assert!(
                self.dead.get(worker).copied().unwrap_or(0) >= truth.malformed,
                "{worker} dead-lettered {:?} of {} malformed records",
                self.dead.get(worker),
                truth.malformed
            );
        }
        assert_eq!(lost, 0);
    }
}
