//! The cluster schema (`deploy/clickhouse/cluster/001_messages.sql`) keeps
//! the single-node table's columns, partition key and sorting key
//! (`deploy/clickhouse/001_messages.sql`), so db-writer's rows and every
//! query fit both. Checked twice: on the parsed DDL (a clear message naming
//! what drifted), and on the real ClickHouse, which creates both tables and
//! reports them in `system.columns` and `system.tables`. The test server is
//! one 18.16 node without Keeper, so the cluster table is created there with
//! its engine as `ReplacingMergeTree(<version>)` and without `ON CLUSTER`.

use parley_tests::clickhouse;

const SINGLE: &str = include_str!("../../deploy/clickhouse/001_messages.sql");
const CLUSTER: &str = include_str!("../../deploy/clickhouse/cluster/001_messages.sql");

/// Statements of a schema file: comments dropped, whitespace collapsed.
fn statements(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    text.split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The `CREATE TABLE` statement of `table` (`database.name`).
fn create_table(sql: &str, table: &str) -> String {
    statements(sql)
        .into_iter()
        .find(|s| {
            s.strip_prefix("CREATE TABLE IF NOT EXISTS ")
                .and_then(|rest| rest.strip_prefix(table))
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no CREATE TABLE IF NOT EXISTS {table} in the schema"))
}

/// A `CREATE TABLE` statement taken apart.
#[derive(Debug)]
struct TableDdl {
    /// `(name, type)` in order.
    columns: Vec<(String, String)>,
    /// `ENGINE = …` up to `PARTITION BY`.
    engine: String,
    partition_by: String,
    order_by: String,
}

/// The text after `keyword` up to `end` (or the end of the statement).
fn between<'a>(statement: &'a str, keyword: &str, end: Option<&str>) -> &'a str {
    let start = statement
        .find(keyword)
        .unwrap_or_else(|| panic!("no {keyword} in: {statement}"))
        + keyword.len();
    let rest = &statement[start..];
    let stop = end.and_then(|e| rest.find(e)).unwrap_or(rest.len());
    rest[..stop].trim()
}

/// Splits at commas outside parentheses (`Decimal(10, 2)` stays whole).
fn split_top_level(list: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(list[start..].trim());
    parts
}

fn parse(statement: &str) -> TableDdl {
    let open = statement.find('(').expect("column list");
    let close = statement
        .find(") ENGINE")
        .expect("`) ENGINE` after the columns");
    let columns = split_top_level(&statement[open + 1..close])
        .into_iter()
        .map(|column| {
            let (name, ty) = column
                .split_once(' ')
                .unwrap_or_else(|| panic!("column without a type: {column}"));
            (name.to_owned(), ty.trim().to_owned())
        })
        .collect();
    TableDdl {
        columns,
        engine: between(statement, "ENGINE =", Some(" PARTITION BY ")).to_owned(),
        partition_by: between(statement, "PARTITION BY", Some(" ORDER BY ")).to_owned(),
        order_by: between(statement, "ORDER BY", None).to_owned(),
    }
}

/// The last argument of `Engine(a, b, c)`: ReplacingMergeTree's version column.
fn version_column(engine: &str) -> &str {
    let args =
        &engine[engine.find('(').expect("engine arguments") + 1..engine.rfind(')').expect(")")];
    split_top_level(args).last().copied().unwrap_or("")
}

#[test]
fn cluster_local_table_has_the_single_node_columns_and_keys() {
    let single = parse(&create_table(SINGLE, "parley.messages"));
    let local = parse(&create_table(CLUSTER, "parley.messages_local"));
    let drift: Vec<String> = (0..single.columns.len().max(local.columns.len()))
        .filter(|&i| single.columns.get(i) != local.columns.get(i))
        .map(|i| {
            format!(
                "column {}: single node {:?}, cluster {:?}",
                i + 1,
                single.columns.get(i),
                local.columns.get(i)
            )
        })
        .collect();
    assert!(
        drift.is_empty(),
        "cluster messages_local columns (name, type, order) differ from the single-node table:\n{}",
        drift.join("\n")
    );
    assert_eq!(
        local.partition_by, single.partition_by,
        "PARTITION BY differs"
    );
    assert_eq!(local.order_by, single.order_by, "ORDER BY differs");
    assert_eq!(single.engine, "ReplacingMergeTree(ingested_at)");
    assert!(
        local
            .engine
            .starts_with("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/")
            && local.engine.contains("'{replica}'"),
        "cluster engine: {}",
        local.engine
    );
    assert_eq!(
        version_column(&local.engine),
        version_column(&single.engine),
        "the replicated table collapses copies by another version column"
    );
}

#[test]
fn cluster_statements_run_on_the_cluster_and_distribute_by_room() {
    for statement in statements(CLUSTER) {
        assert!(
            statement.contains(" ON CLUSTER '{cluster}'"),
            "not ON CLUSTER: {statement}"
        );
    }
    let distributed = create_table(CLUSTER, "parley.messages");
    assert!(
        distributed.contains(" AS parley.messages_local "),
        "the Distributed table must take its columns from messages_local: {distributed}"
    );
    let engine = between(&distributed, "ENGINE =", None);
    assert_eq!(
        engine,
        "Distributed('{cluster}', parley, messages_local, cityHash64(room_id))"
    );
    // Copies of a message share its room: sharding by room keeps them on one
    // shard, where ReplacingMergeTree collapses them.
    let single = parse(&create_table(SINGLE, "parley.messages"));
    assert!(
        single.order_by.starts_with("(room_id,"),
        "{}",
        single.order_by
    );
}

/// Drops the test database when the test ends, however it ends.
struct Database(String);

impl Drop for Database {
    fn drop(&mut self) {
        clickhouse::drop_database(&self.0);
    }
}

/// What ClickHouse says of a table: its columns and keys.
fn describe(database: &str, table: &str) -> (String, String) {
    let columns = clickhouse::query(&format!(
        "SELECT name, type, default_kind, default_expression, is_in_partition_key, \
         is_in_sorting_key, is_in_primary_key FROM system.columns \
         WHERE database = '{database}' AND table = '{table}' FORMAT TSV"
    ));
    let keys = clickhouse::query(&format!(
        "SELECT engine, partition_key, sorting_key, primary_key FROM system.tables \
         WHERE database = '{database}' AND name = '{table}' FORMAT TSV"
    ));
    (columns, keys)
}

#[test]
fn cluster_local_table_matches_the_single_node_table_on_clickhouse() {
    let database = Database(clickhouse::fresh_database());
    let db = &database.0;
    clickhouse::query(&format!("CREATE DATABASE {db}"));

    let single = create_table(SINGLE, "parley.messages").replacen(
        "parley.messages",
        &format!("{db}.messages"),
        1,
    );
    clickhouse::query(&single);

    let local = create_table(CLUSTER, "parley.messages_local");
    let engine = parse(&local).engine;
    let local = local
        .replacen("parley.messages_local", &format!("{db}.messages_local"), 1)
        .replace(" ON CLUSTER '{cluster}'", "")
        .replace(
            &engine,
            &format!("ReplacingMergeTree({})", version_column(&engine)),
        );
    clickhouse::query(&local);

    let (single_columns, single_keys) = describe(db, "messages");
    let (local_columns, local_keys) = describe(db, "messages_local");
    assert!(!single_columns.is_empty(), "{db}.messages has no columns");
    assert_eq!(
        local_columns, single_columns,
        "system.columns of messages_local (cluster DDL) differ from messages (single node)"
    );
    assert_eq!(
        local_keys, single_keys,
        "engine, partition key, sorting key or primary key differ"
    );
    let names: Vec<&str> = single_columns
        .lines()
        .map(|row| row.split('\t').next().unwrap_or(""))
        .collect();
    let parsed: Vec<String> = parse(&create_table(SINGLE, "parley.messages"))
        .columns
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names, parsed,
        "ClickHouse lists the columns in another order than the DDL"
    );
}
