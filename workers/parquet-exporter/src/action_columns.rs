//! ModerationAction → Arrow columns: the `moderation-actions` export schema
//! (every Action v1 field, then Kafka position and ingest time) and its row
//! buffer. Pure, no I/O.

use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use parley_shared::action::ModerationAction;

use crate::rows::RowColumns;

/// The actions' export schema.
pub fn schema() -> SchemaRef {
    let ts = |nullable| {
        Field::new(
            "",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            nullable,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("v", DataType::Int32, false),
        Field::new("action_id", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("room_id", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("message_id", DataType::Utf8, true),
        ts(true).with_name("until"),
        Field::new("reason", DataType::Utf8, false),
        Field::new("actor", DataType::Utf8, false),
        Field::new("alert_id", DataType::Utf8, true),
        ts(false).with_name("created_at"),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        ts(false).with_name("ingested_at"),
    ]))
}

/// Actions being gathered for the next record batch.
pub struct ActionColumns {
    schema: SchemaRef,
    v: Int32Builder,
    action_id: StringBuilder,
    action: StringBuilder,
    room_id: StringBuilder,
    user_id: StringBuilder,
    message_id: StringBuilder,
    until: TimestampMillisecondBuilder,
    reason: StringBuilder,
    actor: StringBuilder,
    alert_id: StringBuilder,
    created_at: TimestampMillisecondBuilder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
    ingested_at: TimestampMillisecondBuilder,
    rows: usize,
}

impl RowColumns<ModerationAction> for ActionColumns {
    fn schema() -> SchemaRef {
        schema()
    }

    fn empty() -> Self {
        let ts = || TimestampMillisecondBuilder::new().with_timezone("UTC");
        ActionColumns {
            schema: schema(),
            v: Int32Builder::new(),
            action_id: StringBuilder::new(),
            action: StringBuilder::new(),
            room_id: StringBuilder::new(),
            user_id: StringBuilder::new(),
            message_id: StringBuilder::new(),
            until: ts(),
            reason: StringBuilder::new(),
            actor: StringBuilder::new(),
            alert_id: StringBuilder::new(),
            created_at: ts(),
            kafka_partition: Int32Builder::new(),
            kafka_offset: Int64Builder::new(),
            ingested_at: ts(),
            rows: 0,
        }
    }

    fn push(&mut self, a: &ModerationAction, partition: i32, offset: i64, ingested_at_ms: i64) {
        self.v.append_value(i32::try_from(a.v).unwrap_or(i32::MAX));
        self.action_id.append_value(&a.action_id);
        self.action.append_value(a.action.as_str());
        self.room_id.append_value(&a.room_id);
        self.user_id.append_option(a.user_id.as_deref());
        self.message_id.append_option(a.message_id.as_deref());
        self.until.append_option(a.until);
        self.reason.append_value(&a.reason);
        self.actor.append_value(&a.actor);
        self.alert_id.append_option(a.alert_id.as_deref());
        self.created_at.append_value(a.created_at);
        self.kafka_partition.append_value(partition);
        self.kafka_offset.append_value(offset);
        self.ingested_at.append_value(ingested_at_ms);
        self.rows += 1;
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.v.finish()),
            Arc::new(self.action_id.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.room_id.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.message_id.finish()),
            Arc::new(self.until.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.actor.finish()),
            Arc::new(self.alert_id.finish()),
            Arc::new(self.created_at.finish()),
            Arc::new(self.kafka_partition.finish()),
            Arc::new(self.kafka_offset.finish()),
            Arc::new(self.ingested_at.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;
    use parley_shared::runtime::Decode;

    #[test]
    fn actions_become_typed_columns_with_absent_fields_null() {
        let record = br#"{"v":1,"action_id":"a1","action":"mute","room_id":"r","user_id":"u","until":1700000600000,"reason":"flood","actor":"mod-1","created_at":1700000000000}"#;
        let action = ModerationAction::decode(Some(b"r"), Some(record)).expect("valid");
        let mut columns = ActionColumns::empty();
        columns.push(&action, 2, 9, 1_700_000_000_500);
        assert_eq!(columns.len(), 1);
        let batch = columns.finish().expect("batch");
        assert!(columns.is_empty());
        assert_eq!(batch.num_rows(), 1);
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .expect(name)
                .as_string::<i32>()
                .value(0)
                .to_owned()
        };
        assert_eq!(text("action"), "mute");
        assert_eq!(text("actor"), "mod-1");
        assert!(batch
            .column_by_name("message_id")
            .expect("message_id")
            .is_null(0));
        assert!(batch
            .column_by_name("alert_id")
            .expect("alert_id")
            .is_null(0));
        let until = batch
            .column_by_name("until")
            .expect("until")
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(until.value(0), 1_700_000_600_000);
        assert_eq!(
            batch.column_by_name("kafka_offset").expect("offset").len(),
            1
        );
    }
}
