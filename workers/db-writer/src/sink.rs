//! The ClickHouse side: one RowBinary insert per batch (or part of one,
//! while the shared sink driver narrows a permanent failure down to its
//! rows), errors classified as retryable (server down, overloaded: a sink
//! outage, the batch retried in place) or permanent (this data is refused).

use std::ops::Range;

use bytes::Bytes;
use clickhouse::Client;
use parley_shared::runtime::sink_driver::{self, Sink};

use crate::batch::SealedBatch;
use crate::config::{ClickHouseSettings, InsertCompression};
use crate::row::Row;

/// Sink label of db-writer's metrics.
pub const SINK: &str = "clickhouse";

/// Largest chunk handed to the HTTP body at once.
const CHUNK: usize = 1 << 20;

/// ClickHouse error codes that mean "this data is refused": retrying the
/// same rows cannot help, so the batch is split to find the bad rows.
const PERMANENT_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    19,  // SIZES_OF_NESTED_COLUMNS_ARE_INCONSISTENT
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    131, // TOO_LARGE_STRING_SIZE
];

/// Why an insert failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Retrying later can help: ClickHouse unreachable, overloaded, a
    /// missing table (migrations not run yet).
    #[error("ClickHouse unavailable: {0}")]
    Retryable(String),
    /// The data itself is refused.
    #[error("ClickHouse refused the rows: {0}")]
    Permanent(String),
}

impl SinkError {
    /// The `class` label of the sink error metric.
    pub fn class(&self) -> &'static str {
        match self {
            SinkError::Retryable(_) => "retryable",
            SinkError::Permanent(_) => "permanent",
        }
    }
}

impl From<SinkError> for sink_driver::SinkError {
    fn from(error: SinkError) -> Self {
        match error {
            SinkError::Retryable(reason) => sink_driver::SinkError::Retryable(reason),
            SinkError::Permanent(reason) => sink_driver::SinkError::Permanent(reason),
        }
    }
}

/// Classifies a `clickhouse` crate error.
pub fn classify(error: &clickhouse::error::Error) -> SinkError {
    use clickhouse::error::Error;
    let text = error.to_string().replace('\n', " ");
    match error {
        Error::Network(_) | Error::TimedOut => SinkError::Retryable(text),
        Error::BadResponse(body) => match error_code(body) {
            Some(code) if PERMANENT_CODES.contains(&code) => SinkError::Permanent(text),
            _ => SinkError::Retryable(text),
        },
        _ => SinkError::Permanent(text),
    }
}

/// The `Code: N` of a ClickHouse error body.
fn error_code(body: &str) -> Option<u32> {
    let rest = &body[body.find("Code: ")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A ClickHouse client bound to one table and the columns its rows carry
/// (messages, or moderation actions: [`Self::for_rows`]).
#[derive(Clone)]
pub struct ClickHouseSink {
    client: Client,
    table: String,
    columns: &'static str,
    settings: ClickHouseSettings,
    dedup_tokens: bool,
}

impl ClickHouseSink {
    /// A client for `settings`, bound to the messages table. Schema validation is off: Debian's 18.16
    /// server lacks the `RowBinaryWithNamesAndTypes` format it needs; an
    /// integration test checks the row type against the real table instead.
    pub fn new(settings: &ClickHouseSettings) -> Self {
        // Queries name the database themselves (it may not exist before
        // the migration); inserts go to `database.table`.
        let mut client = Client::default()
            .with_url(&settings.url)
            .with_user(&settings.user)
            .with_validation(false)
            .with_compression(match settings.compression {
                InsertCompression::None => clickhouse::Compression::None,
                InsertCompression::Lz4 => clickhouse::Compression::Lz4,
            });
        if !settings.password.is_empty() {
            client = client.with_password(settings.password.expose());
        }
        ClickHouseSink {
            client,
            table: format!("{}.{}", settings.database, settings.table),
            columns: parley_shared::GameMessage::COLUMNS,
            settings: settings.clone(),
            dedup_tokens: false,
        }
    }

    /// The same client (and server facts, once probed) bound to `table` of
    /// the same database, for rows of type `R`.
    pub fn for_rows<R: Row>(&self, table: &str) -> Self {
        ClickHouseSink {
            table: format!("{}.{table}", self.settings.database),
            columns: R::COLUMNS,
            ..self.clone()
        }
    }

    /// The `database.table` inserts go to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The underlying client, for queries.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Asks the server its version and whether it takes
    /// `insert_deduplication_token`; enables tokens if so.
    pub async fn probe(&mut self) -> Result<String, SinkError> {
        let version: String = self
            .client
            .query("SELECT version()")
            .fetch_one()
            .await
            .map_err(|e| classify(&e))?;
        let tokens: u64 = self
            .client
            .query("SELECT count() FROM system.settings WHERE name = 'insert_deduplication_token'")
            .fetch_one()
            .await
            .map_err(|e| classify(&e))?;
        self.dedup_tokens = tokens > 0;
        Ok(version)
    }

    /// Whether inserts carry a deduplication token.
    pub fn dedup_tokens(&self) -> bool {
        self.dedup_tokens
    }

    /// One INSERT of RowBinary `data` (rows encoded by [`Row::encode`] of
    /// the table's row type), optionally with a dedup token.
    pub async fn insert(&self, data: Bytes, token: Option<&str>) -> Result<(), SinkError> {
        let sql = format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            self.table, self.columns
        );
        let mut insert = self.client.insert_formatted_with(sql).with_timeouts(
            Some(self.settings.insert_timeout),
            Some(self.settings.insert_timeout),
        );
        if let (Some(token), true) = (token, self.dedup_tokens) {
            insert = insert.with_setting("insert_deduplication_token", token);
        }
        let mut at = 0;
        while at < data.len() {
            let end = (at + CHUNK).min(data.len());
            insert
                .send(data.slice(at..end))
                .await
                .map_err(|e| classify(&e))?;
            at = end;
        }
        insert.end().await.map_err(|e| classify(&e))
    }
}

impl Sink for ClickHouseSink {
    type Batch = SealedBatch;

    fn label(&self) -> &'static str {
        SINK
    }

    fn verb(&self) -> &'static str {
        "insert"
    }

    async fn write(
        &self,
        batch: &SealedBatch,
        rows: Range<usize>,
    ) -> Result<(), sink_driver::SinkError> {
        // Only the whole batch is a fixed offset range; parts get no token.
        let token = if rows.len() == batch.rows.len() {
            batch.token.as_deref()
        } else {
            None
        };
        // The driver's error names the server: it is the `/healthz` reason.
        self.insert(batch.slice(rows), token).await.map_err(|e| {
            let error = sink_driver::SinkError::from(e);
            let reason = format!("ClickHouse at {}: {}", self.settings.url, error.reason());
            match error {
                sink_driver::SinkError::Retryable(_) => sink_driver::SinkError::Retryable(reason),
                sink_driver::SinkError::Permanent(_) => sink_driver::SinkError::Permanent(reason),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_server_errors() {
        assert_eq!(
            error_code("Code: 27, e.displayText() = DB::Exception: Cannot parse"),
            Some(27)
        );
        assert_eq!(
            error_code("Code: 60. DB::Exception: Table parley.nope doesn't exist"),
            Some(60)
        );
        assert_eq!(error_code("nothing"), None);
    }
}
