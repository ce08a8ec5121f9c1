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
    let mut response = ureq::post(&url()).send(sql).map_err(|e| e.to_string())?;
    response
        .body_mut()
        .read_to_string()
        .map(|b| b.trim().to_owned())
        .map_err(|e| e.to_string())
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
