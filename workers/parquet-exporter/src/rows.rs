//! What a dataset of the export is: a record type of a Kafka topic, the
//! folder its parts go under, its Arrow columns and the time that places a
//! row in its `dt=…/hour=…` folder. One exporter pipeline serves every
//! dataset: `game-messages` ([`GameMessage`]) and `moderation-actions`
//! ([`ModerationAction`]).

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use parley_shared::action::ModerationAction;
use parley_shared::runtime::Decode;
use parley_shared::GameMessage;

use crate::action_columns::ActionColumns;
use crate::message_columns::RowBuffer;

/// A record type exported as one dataset.
pub trait ExportRow: Decode + Send + 'static {
    /// The dataset's folder under the output root (its topic's contract name).
    const DATASET: &'static str;
    /// Columns with no dictionary (unique per row, or nearly).
    const NO_DICTIONARY: &'static [&'static str];
    /// The row buffer building this dataset's record batches.
    type Columns: RowColumns<Self>;
    /// Milliseconds since the epoch (UTC) that place the row in its hour.
    fn event_time(&self) -> i64;
    /// An estimate of the row's bytes in Arrow, before it is encoded.
    fn size_hint(&self) -> usize;
}

/// Rows of one dataset being gathered for the next record batch.
pub trait RowColumns<R>: Send + 'static {
    /// The dataset's Arrow schema.
    fn schema() -> SchemaRef;
    /// An empty buffer.
    fn empty() -> Self;
    /// Appends one row read at `partition`/`offset`.
    fn push(&mut self, row: &R, partition: i32, offset: i64, ingested_at_ms: i64);
    /// Rows gathered.
    fn len(&self) -> usize;
    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Takes the gathered rows as a record batch, leaving the buffer empty.
    fn finish(&mut self) -> Result<RecordBatch, ArrowError>;
}

impl ExportRow for GameMessage {
    const DATASET: &'static str = parley_shared::topics::GAME_MESSAGES;
    const NO_DICTIONARY: &'static [&'static str] =
        &["message_id", "kafka_offset", "sent_at", "ingested_at"];
    type Columns = RowBuffer;

    fn event_time(&self) -> i64 {
        self.sent_at
    }

    fn size_hint(&self) -> usize {
        self.content.len() + 160
    }
}

impl ExportRow for ModerationAction {
    const DATASET: &'static str = parley_shared::topics::MODERATION_ACTIONS;
    const NO_DICTIONARY: &'static [&'static str] =
        &["action_id", "kafka_offset", "created_at", "ingested_at"];
    type Columns = ActionColumns;

    fn event_time(&self) -> i64 {
        self.created_at
    }

    fn size_hint(&self) -> usize {
        self.reason.len() + 200
    }
}
