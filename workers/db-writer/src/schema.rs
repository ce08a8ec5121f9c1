//! The schema, built in from deploy/clickhouse/*.sql, applied idempotently:
//! one [`TableSchema`] per table db-writer writes (messages, moderation
//! actions), each applied, switched to insert deduplication where the
//! server has it, and checked against the rows db-writer encodes.

use clickhouse::Client;

use crate::sink::{classify, SinkError};

/// One table: its schema file, the name the file gives it, and the columns
/// db-writer's rows carry.
#[derive(Debug, Clone, Copy)]
pub struct TableSchema {
    /// File name under deploy/clickhouse/.
    pub file: &'static str,
    /// The file's SQL.
    pub sql: &'static str,
    /// The `database.table` the file creates (`parley.messages`).
    pub default_name: &'static str,
    /// Column names and types the encoder writes, in order.
    pub columns: &'static [(&'static str, &'static str)],
}

/// `parley.messages`: GameMessage rows.
pub const MESSAGES: TableSchema = TableSchema {
    file: "001_messages.sql",
    sql: include_str!("../../../deploy/clickhouse/001_messages.sql"),
    default_name: "parley.messages",
    columns: EXPECTED_COLUMNS,
};

/// `parley.moderation_actions`: Action v1 rows.
pub const ACTIONS: TableSchema = TableSchema {
    file: "002_moderation_actions.sql",
    sql: include_str!("../../../deploy/clickhouse/002_moderation_actions.sql"),
    default_name: "parley.moderation_actions",
    columns: EXPECTED_ACTION_COLUMNS,
};

/// Every schema file, in the order applied (the order of their names, as
/// `deploy/local/stack.sh` and the compose entrypoint apply them).
pub const SCHEMA: [TableSchema; 2] = [MESSAGES, ACTIONS];

impl TableSchema {
    /// The file's DDL for `database.table` instead of its default name
    /// (tests use a database of their own).
    pub fn ddl(&self, database: &str, table: &str) -> String {
        self.sql
            .replace(self.default_name, &format!("{database}.{table}"))
            .replace(
                "DATABASE IF NOT EXISTS parley;",
                &format!("DATABASE IF NOT EXISTS {database};"),
            )
    }
}

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

/// Applies each table's statements (all `IF NOT EXISTS`) to
/// `database.<table>`, then, on servers that support it, enables insert
/// deduplication for a non-replicated table. A `Distributed` table (the
/// cluster schema in `deploy/clickhouse/cluster/`) or a `Replicated*` one is
/// left as it is: replicated tables deduplicate inserts by themselves, and
/// the setting does not exist on `Distributed`.
pub async fn migrate(
    client: &Client,
    database: &str,
    tables: &[(TableSchema, &str)],
) -> Result<(), SinkError> {
    let window: u64 = client
        .query("SELECT count() FROM system.merge_tree_settings WHERE name = 'non_replicated_deduplication_window'")
        .fetch_one()
        .await
        .map_err(|e| classify(&e))?;
    for (schema, table) in tables {
        for statement in statements(&schema.ddl(database, table)) {
            client
                .query(&statement)
                .execute()
                .await
                .map_err(|e| classify(&e))?;
        }
        tracing::info!(file = schema.file, %database, %table, "schema applied");
        let engine: String = client
            .query("SELECT engine FROM system.tables WHERE database = ? AND name = ?")
            .bind(database)
            .bind(*table)
            .fetch_one()
            .await
            .map_err(|e| classify(&e))?;
        if !is_plain_merge_tree(&engine) {
            tracing::info!(%table, %engine, "table is replicated or distributed: its insert deduplication is left to the cluster schema");
        } else if window > 0 {
            let alter = format!("ALTER TABLE {database}.{table} MODIFY SETTING non_replicated_deduplication_window = 1000");
            client
                .query(&alter)
                .execute()
                .await
                .map_err(|e| classify(&e))?;
            tracing::info!(%table, "insert deduplication window enabled");
        }
    }
    Ok(())
}

/// True for the single-node engines whose insert deduplication db-writer
/// switches on (`ReplacingMergeTree`, `MergeTree`…), false for `Distributed`
/// and `Replicated*`.
pub fn is_plain_merge_tree(engine: &str) -> bool {
    engine.ends_with("MergeTree") && !engine.starts_with("Replicated")
}

/// Column names and types db-writer's message rows carry, in order.
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

/// Column names and types db-writer's action rows carry, in order
/// ([`crate::action_row`]).
pub const EXPECTED_ACTION_COLUMNS: &[(&str, &str)] = &[
    ("action_id", "String"),
    ("v", "UInt32"),
    ("action", "String"),
    ("room_id", "String"),
    ("user_id", "Nullable(String)"),
    ("message_id", "Nullable(String)"),
    ("until", "Nullable(Int64)"),
    ("reason", "String"),
    ("actor", "String"),
    ("alert_id", "Nullable(String)"),
    ("created_at", "Int64"),
    ("kafka_partition", "Int32"),
    ("kafka_offset", "Int64"),
    ("ingested_at", "DateTime"),
];

/// Compares a table's columns with what the encoder writes (`expected`), so
/// a drifted schema fails at start with a clear message instead of at the
/// first insert. (This replaces the `clickhouse` crate's validation, which
/// needs a format the 18.16 server lacks.)
pub fn check_columns(expected: &[(&str, &str)], actual: &[(String, String)]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, expected) in expected {
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

/// Reads the table's columns and checks them against `schema`.
pub async fn verify(
    client: &Client,
    schema: &TableSchema,
    database: &str,
    table: &str,
) -> Result<(), SinkError> {
    let columns: Vec<(String, String)> = client
        .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
        .bind(database)
        .bind(table)
        .fetch_all()
        .await
        .map_err(|e| classify(&e))?;
    check_columns(schema.columns, &columns).map_err(|problems| {
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
        for schema in SCHEMA {
            let statements = statements(schema.sql);
            assert_eq!(statements.len(), 2, "{}: {statements:?}", schema.file);
            assert!(statements[0].starts_with("CREATE DATABASE IF NOT EXISTS parley"));
            assert!(statements[1].contains("ReplacingMergeTree"));
            assert!(statements[1].contains(&format!(
                "CREATE TABLE IF NOT EXISTS {}",
                schema.default_name
            )));
            assert!(statements.iter().all(|s| !s.contains("--")));
        }
    }

    #[test]
    fn actions_collapse_by_id_alone() {
        let create = &statements(ACTIONS.sql)[1];
        assert!(
            create.trim_end().ends_with("ORDER BY action_id"),
            "{create}"
        );
        assert!(
            !create.contains("PARTITION BY"),
            "copies of an action_id must share a partition to collapse"
        );
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
        assert_eq!(check_columns(EXPECTED_COLUMNS, &actual), Ok(()));
        actual[1].1 = "UInt64".into();
        actual.pop();
        let problems = check_columns(EXPECTED_COLUMNS, &actual).expect_err("drift");
        assert!(
            problems.contains("column v is UInt64")
                && problems.contains("missing column ingested_at"),
            "{problems}"
        );
        let problems = check_columns(EXPECTED_ACTION_COLUMNS, &actual).expect_err("drift");
        assert!(problems.contains("missing column action_id"), "{problems}");
    }

    #[test]
    fn the_schema_files_create_the_expected_columns() {
        for schema in SCHEMA {
            for (name, ty) in schema.columns {
                assert!(
                    schema.sql.lines().any(|l| l
                        .trim_end_matches(',')
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        == [*name, *ty]),
                    "{}: {name} {ty}",
                    schema.file
                );
            }
        }
    }

    #[test]
    fn the_encoders_write_the_expected_columns_in_order() {
        for (schema, encoded) in [
            (MESSAGES, crate::row::COLUMNS),
            (ACTIONS, crate::action_row::ACTION_COLUMNS),
        ] {
            let names: Vec<&str> = schema.columns.iter().map(|(n, _)| *n).collect();
            let encoded: Vec<&str> = encoded.split(',').map(str::trim).collect();
            assert_eq!(names, encoded, "{}", schema.file);
        }
    }

    #[test]
    fn other_databases_get_the_same_ddl() {
        let sql = MESSAGES.ddl("it_x", "msgs");
        assert!(sql.contains("CREATE DATABASE IF NOT EXISTS it_x;"));
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS it_x.msgs"));
        assert!(!sql.contains("parley.messages"));
        let sql = ACTIONS.ddl("it_x", "acts");
        assert!(sql.contains("CREATE DATABASE IF NOT EXISTS it_x;"));
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS it_x.acts"));
        assert!(!sql.contains("parley.moderation_actions"));
    }
}
