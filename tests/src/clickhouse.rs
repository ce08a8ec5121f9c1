//! ClickHouse over HTTP for assertions, with a fresh database per test.

/// The local stack's ClickHouse HTTP URL (`PARLEY_CLICKHOUSE_URL`).
pub fn url() -> String {
    std::env::var("PARLEY_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// Runs one query and returns its body, trimmed; panics with the server's
/// message on error.
pub fn query(sql: &str) -> String {
    try_query(sql).unwrap_or_else(|e| panic!("ClickHouse query failed: {e}\n{sql}"))
}

/// Runs one query, or says why not.
pub fn try_query(sql: &str) -> Result<String, String> {
    try_query_with(sql, "")
}

/// Runs a query returning one number.
pub fn number(sql: &str) -> u64 {
    let text = query(sql);
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?} from {sql}"))
}

/// A database name no other test uses.
pub fn fresh_database() -> String {
    format!("it_{}", uuid::Uuid::new_v4().simple())
}

/// Drops a test database (best effort).
pub fn drop_database(name: &str) {
    let _ = try_query(&format!("DROP DATABASE IF EXISTS {name}"));
}

/// Merges every partition of `database.table` into one part with
/// `OPTIMIZE … PARTITION ID … FINAL`, so a ReplacingMergeTree holds no
/// copies. ClickHouse 18 merges only a selection of parts when no partition
/// is named and silently skips a partition whose parts are being merged in
/// the background, so each partition is retried until its merge runs.
pub fn optimize_final(database: &str, table: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let partitions = query(&format!(
        "SELECT DISTINCT partition_id FROM system.parts \
         WHERE database = '{database}' AND table = '{table}' AND active"
    ));
    for partition in partitions.lines() {
        let sql = format!("OPTIMIZE TABLE {database}.{table} PARTITION ID '{partition}' FINAL");
        loop {
            match try_query_with(&sql, "optimize_throw_if_noop=1") {
                Ok(_) => break,
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!("OPTIMIZE partition {partition} not run yet ({e}); retrying");
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Err(e) => panic!("OPTIMIZE partition {partition} never ran: {e}"),
            }
        }
    }
}

/// Runs one query with URL settings (`name=value&…`), or says why not.
fn try_query_with(sql: &str, settings: &str) -> Result<String, String> {
    let mut response = ureq::post(&format!("{}/?{settings}", url()))
        .send(sql)
        .map_err(|e| e.to_string())?;
    response
        .body_mut()
        .read_to_string()
        .map(|b| b.trim().to_owned())
        .map_err(|e| e.to_string())
}
