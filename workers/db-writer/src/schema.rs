//! The schema, built in from deploy/clickhouse/*.sql, applied idempotently.

use clickhouse::Client;

use crate::sink::{classify, SinkError};

/// The schema files, in order.
pub const SCHEMA: &[(&str, &str)] = &[(
    "001_messages.sql",
    include_str!("../../../deploy/clickhouse/001_messages.sql"),
)];

/// Statements of a schema file: split at `;` ending a line, comments dropped.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let line = line.split("--").next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let statement = current.trim().trim_end_matches(';').trim().to_owned();
            if !statement.is_empty() {
                out.push(statement);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// The schema files name `parley.messages`; another database or table
/// (tests use one per test) gets the same DDL with its own names.
pub fn for_table(sql: &str, database: &str, table: &str) -> String {
    sql.replace("parley.messages", &format!("{database}.{table}"))
        .replace(
            "DATABASE IF NOT EXISTS parley;",
            &format!("DATABASE IF NOT EXISTS {database};"),
        )
}

/// Applies every statement (all `IF NOT EXISTS`), then, on servers that
/// support it, enables insert deduplication for a non-replicated table. A
/// `Distributed` table (the cluster schema in `deploy/clickhouse/cluster/`)
/// or a `Replicated*` one is left as it is: replicated tables deduplicate
/// inserts by themselves, and the setting does not exist on `Distributed`.
pub async fn migrate(client: &Client, database: &str, table: &str) -> Result<(), SinkError> {
    for (name, sql) in SCHEMA {
        for statement in statements(&for_table(sql, database, table)) {
            client
                .query(&statement)
                .execute()
                .await
                .map_err(|e| classify(&e))?;
        }
        tracing::info!(file = name, "schema applied");
    }
    let window: u64 = client
        .query("SELECT count() FROM system.merge_tree_settings WHERE name = 'non_replicated_deduplication_window'")
        .fetch_one()
        .await
        .map_err(|e| classify(&e))?;
    let engine: String = client
        .query("SELECT engine FROM system.tables WHERE database = ? AND name = ?")
        .bind(database)
        .bind(table)
        .fetch_one()
        .await
        .map_err(|e| classify(&e))?;
    if !is_plain_merge_tree(&engine) {
        tracing::info!(%engine, "table is replicated or distributed: its insert deduplication is left to the cluster schema");
    } else if window > 0 {
        let alter = format!("ALTER TABLE {database}.{table} MODIFY SETTING non_replicated_deduplication_window = 1000");
        client
            .query(&alter)
            .execute()
            .await
            .map_err(|e| classify(&e))?;
        tracing::info!("insert deduplication window enabled");
    }
    Ok(())
}

/// True for the single-node engines whose insert deduplication db-writer
/// switches on (`ReplacingMergeTree`, `MergeTree`…), false for `Distributed`
/// and `Replicated*`.
pub fn is_plain_merge_tree(engine: &str) -> bool {
    engine.ends_with("MergeTree") && !engine.starts_with("Replicated")
}

/// Column names and types db-writer's encoder writes, in order.
pub const EXPECTED_COLUMNS: &[(&str, &str)] = &[
    ("message_id", "String"),
    ("v", "UInt32"),
    ("game_id", "String"),
    ("room_id", "String"),
    ("user_id", "String"),
    ("user_name", "Nullable(String)"),
    ("kind", "String"),
    ("content", "String"),
    ("sent_at", "Int64"),
    ("visibility", "String"),
    ("meta", "String"),
    ("kafka_partition", "Int32"),
    ("kafka_offset", "Int64"),
    ("ingested_at", "DateTime"),
];

/// Compares the table's columns with what the encoder writes, so a drifted
/// schema fails at start with a clear message instead of at the first insert.
/// (This replaces the `clickhouse` crate's validation, which needs a format
/// the 18.16 server lacks.)
pub fn check_columns(actual: &[(String, String)]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, expected) in EXPECTED_COLUMNS {
        match actual.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("missing column {name} {expected}")),
            Some((_, t)) if t != expected && !t.starts_with(&format!("{expected}(")) => {
                problems.push(format!("column {name} is {t}, expected {expected}"))
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Reads the table's columns and checks them.
pub async fn verify(client: &Client, database: &str, table: &str) -> Result<(), SinkError> {
    let columns: Vec<(String, String)> = client
        .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
        .bind(database)
        .bind(table)
        .fetch_all()
        .await
        .map_err(|e| classify(&e))?;
    check_columns(&columns).map_err(|problems| {
        SinkError::Permanent(format!(
            "{database}.{table} does not match db-writer's rows: {problems}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_splits_into_create_statements() {
        let statements = statements(SCHEMA[0].1);
        assert_eq!(statements.len(), 2, "{statements:?}");
        assert!(statements[0].starts_with("CREATE DATABASE IF NOT EXISTS parley"));
        assert!(statements[1].contains("ReplacingMergeTree"));
        assert!(statements.iter().all(|s| !s.contains("--")));
    }

    #[test]
    fn only_single_node_merge_trees_get_the_dedup_setting() {
        assert!(is_plain_merge_tree("ReplacingMergeTree"));
        assert!(is_plain_merge_tree("MergeTree"));
        assert!(!is_plain_merge_tree("ReplicatedReplacingMergeTree"));
        assert!(!is_plain_merge_tree("Distributed"));
    }

    #[test]
    fn column_drift_is_reported() {
        let mut actual: Vec<(String, String)> = EXPECTED_COLUMNS
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(check_columns(&actual), Ok(()));
        actual[1].1 = "UInt64".into();
        actual.pop();
        let problems = check_columns(&actual).expect_err("drift");
        assert!(
            problems.contains("column v is UInt64")
                && problems.contains("missing column ingested_at"),
            "{problems}"
        );
    }

    #[test]
    fn the_schema_file_creates_the_expected_columns() {
        let sql = SCHEMA[0].1;
        for (name, ty) in EXPECTED_COLUMNS {
            assert!(
                sql.lines()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>() == [*name, *ty]
                        || l.trim().starts_with(&format!("{name} ")) && l.contains(ty)),
                "{name} {ty}"
            );
        }
    }

    #[test]
    fn other_databases_get_the_same_ddl() {
        let sql = for_table(SCHEMA[0].1, "it_x", "msgs");
        assert!(sql.contains("CREATE DATABASE IF NOT EXISTS it_x;"));
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS it_x.msgs"));
        assert!(!sql.contains("parley.messages"));
    }
}
