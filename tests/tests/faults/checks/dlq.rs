//! Bad input: each malformed record dead-lettered by every shared worker.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use parley_tests::read_all;

/// Dead letters per worker: distinct source records.
pub fn dead_letters(dlq: &str) -> BTreeMap<String, usize> {
    let mut per: BTreeMap<String, HashSet<(String, String)>> = BTreeMap::new();
    for r in read_all(dlq, Duration::from_secs(60)) {
        let header = |k: &str| {
            r.headers
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        per.entry(header("worker"))
            .or_default()
            .insert((header("source.partition"), header("source.offset")));
    }
    per.into_iter().map(|(w, s)| (w, s.len())).collect()
}
