//! How results are printed: a table for people, JSON lines for scripts.

use clap::ValueEnum;
use comfy_table::{presets, Table};
use serde::Serialize;

/// Output format of every command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table.
    #[default]
    Table,
    /// One JSON object per line.
    Json,
}

/// A table with these column headers, in the house style.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_MARKDOWN)
        .set_header(headers);
    table
}

/// Prints `rows` as JSON lines, or as `table` when the format is a table.
pub fn print<T: Serialize>(format: Format, rows: &[T], table: impl FnOnce() -> Table) {
    match format {
        Format::Table => println!("{}", table()),
        Format::Json => {
            for row in rows {
                match serde_json::to_string(row) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("parley-admin: cannot print a row as JSON: {e}"),
                }
            }
        }
    }
}
