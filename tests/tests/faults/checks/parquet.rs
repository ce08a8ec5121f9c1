//! Parquet: every valid id exactly once across files.

use std::collections::HashSet;
use std::path::Path;

use parley_tests::faults::Truth;
use parley_tests::read_parquet;
use serde_json::Value;

/// (rows in all files, valid ids missing, duplicated rows).
pub fn parquet_check(out: &Path, truth: &Truth) -> (usize, usize, usize) {
    let parquet = read_parquet(out);
    let parquet_ids: Vec<&str> = parquet["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let parquet_set: HashSet<&str> = parquet_ids.iter().copied().collect();
    let parquet_missing = truth
        .valid
        .iter()
        .filter(|id| !parquet_set.contains(id.as_str()))
        .count();
    let parquet_dup = parquet_ids.len() - parquet_set.len();
    (parquet_ids.len(), parquet_missing, parquet_dup)
}
