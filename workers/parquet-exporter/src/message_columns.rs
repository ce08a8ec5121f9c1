//! GameMessage → Arrow columns: the `game-messages` export schema and a
//! row buffer that turns appended messages into record batches. Pure, no I/O.

use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use parley_shared::GameMessage;

use crate::rows::RowColumns;

/// The export schema: every GameMessage field, then Kafka position and ingest time.
pub fn schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("v", DataType::Int32, false),
        Field::new("message_id", DataType::Utf8, false),
        Field::new("game_id", DataType::Utf8, false),
        Field::new("room_id", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, false),
        Field::new("user_name", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("content", DataType::Utf8, false),
        Field::new("sent_at", ts(), false),
        Field::new("visibility", DataType::Utf8, false),
        Field::new("meta", DataType::Utf8, true),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        Field::new("ingested_at", ts(), false),
    ]))
}

/// Rows being gathered for the next record batch.
pub struct RowBuffer {
    schema: SchemaRef,
    v: Int32Builder,
    message_id: StringBuilder,
    game_id: StringBuilder,
    room_id: StringBuilder,
    user_id: StringBuilder,
    user_name: StringBuilder,
    kind: StringBuilder,
    content: StringBuilder,
    sent_at: TimestampMillisecondBuilder,
    visibility: StringBuilder,
    meta: StringBuilder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
    ingested_at: TimestampMillisecondBuilder,
    rows: usize,
}

impl Default for RowBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl RowBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        let ts = || TimestampMillisecondBuilder::new().with_timezone("UTC");
        RowBuffer {
            schema: schema(),
            v: Int32Builder::new(),
            message_id: StringBuilder::new(),
            game_id: StringBuilder::new(),
            room_id: StringBuilder::new(),
            user_id: StringBuilder::new(),
            user_name: StringBuilder::new(),
            kind: StringBuilder::new(),
            content: StringBuilder::new(),
            sent_at: ts(),
            visibility: StringBuilder::new(),
            meta: StringBuilder::new(),
            kafka_partition: Int32Builder::new(),
            kafka_offset: Int64Builder::new(),
            ingested_at: ts(),
            rows: 0,
        }
    }

    /// Appends one message.
    pub fn push(&mut self, m: &GameMessage, partition: i32, offset: i64, ingested_at_ms: i64) {
        self.v.append_value(i32::try_from(m.v).unwrap_or(i32::MAX));
        self.message_id.append_value(&m.message_id);
        self.game_id.append_value(&m.game_id);
        self.room_id.append_value(&m.room_id);
        self.user_id.append_value(&m.user_id);
        self.user_name.append_option(m.user_name.as_deref());
        self.kind.append_value(m.kind.as_str());
        self.content.append_value(&m.content);
        self.sent_at.append_value(m.sent_at);
        self.visibility.append_value(m.visibility.as_str());
        self.meta
            .append_option(m.meta.as_ref().map(|meta| meta.as_json()));
        self.kafka_partition.append_value(partition);
        self.kafka_offset.append_value(offset);
        self.ingested_at.append_value(ingested_at_ms);
        self.rows += 1;
    }

    /// Rows gathered.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Takes the gathered rows as a record batch, leaving the buffer empty.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.v.finish()),
            Arc::new(self.message_id.finish()),
            Arc::new(self.game_id.finish()),
            Arc::new(self.room_id.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.user_name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.content.finish()),
            Arc::new(self.sent_at.finish()),
            Arc::new(self.visibility.finish()),
            Arc::new(self.meta.finish()),
            Arc::new(self.kafka_partition.finish()),
            Arc::new(self.kafka_offset.finish()),
            Arc::new(self.ingested_at.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
    }
}

impl RowColumns<GameMessage> for RowBuffer {
    fn schema() -> SchemaRef {
        schema()
    }

    fn empty() -> Self {
        RowBuffer::new()
    }

    fn push(&mut self, m: &GameMessage, partition: i32, offset: i64, ingested_at_ms: i64) {
        RowBuffer::push(self, m, partition, offset, ingested_at_ms);
    }

    fn len(&self) -> usize {
        RowBuffer::len(self)
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        RowBuffer::finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;

    #[test]
    fn messages_become_typed_columns() {
        let m = GameMessage::decode(
            r#"{"v":1,"message_id":"m","game_id":"g","room_id":"r","user_id":"u","kind":"chat","content":"gg 🎉","sent_at":1700000000123,"meta":{"platform":"pc"}}"#
                .as_bytes(),
        )
        .expect("valid");
        let mut buffer = RowBuffer::new();
        buffer.push(&m, 4, 77, 1_700_000_000_500);
        let batch = buffer.finish().expect("batch");
        assert_eq!(batch.num_rows(), 1);
        assert!(buffer.is_empty());
        assert_eq!(
            batch
                .column_by_name("content")
                .expect("content")
                .as_string::<i32>()
                .value(0),
            "gg 🎉"
        );
        assert!(batch
            .column_by_name("user_name")
            .expect("user_name")
            .is_null(0));
        let sent = batch
            .column_by_name("sent_at")
            .expect("sent_at")
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(sent.value(0), 1_700_000_000_123);
        assert_eq!(
            batch
                .schema()
                .field_with_name("sent_at")
                .expect("field")
                .data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert_eq!(
            batch
                .column_by_name("meta")
                .expect("meta")
                .as_string::<i32>()
                .value(0),
            r#"{"platform":"pc"}"#
        );
    }
}
