//! ClickHouse: every valid id exactly once in query results (`FINAL`).

use std::collections::HashSet;

use parley_tests::clickhouse;
use parley_tests::faults::Truth;

/// ClickHouse: (rows FINAL, distinct ids, rows before merging, valid ids missing).
pub fn clickhouse_check(database: &str, truth: &Truth) -> (u64, u64, u64, usize) {
    let table = format!("{database}.messages");
    let final_rows = clickhouse::number(&format!("SELECT count() FROM {table} FINAL"));
    let distinct = clickhouse::number(&format!("SELECT uniqExact(message_id) FROM {table}"));
    let physical = clickhouse::number(&format!("SELECT count() FROM {table}"));
    let mut stored: HashSet<String> = HashSet::with_capacity(truth.valid.len());
    const CHUNKS: u32 = 16;
    for chunk in 0..CHUNKS {
        let ids = clickhouse::query(&format!(
            "SELECT DISTINCT message_id FROM {table} WHERE cityHash64(message_id) % {CHUNKS} = {chunk}"
        ));
        stored.extend(ids.lines().map(str::to_owned));
    }
    let missing = truth
        .valid
        .iter()
        .filter(|id| !stored.contains(*id))
        .count();
    (final_rows, distinct, physical, missing)
}
