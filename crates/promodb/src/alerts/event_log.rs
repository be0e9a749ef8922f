//! Alert lifecycle events, and the `alert_events` table that keeps them queryable.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringViewArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::rule::Severity;
use crate::error::Result;

/// A step in an alert instance's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// The rule's row appeared; waiting for `for` to elapse.
    Pending,
    /// The alert fired: sinks are told.
    Firing,
    /// Still firing after the repeat interval: sinks are told again.
    Repeat,
    /// Someone took it on: no more repeats.
    Acknowledged,
    /// The row went away: sinks are told.
    Resolved,
}

impl Transition {
    /// Its name in the `alert_events` table.
    pub fn name(self) -> &'static str {
        match self {
            Transition::Pending => "pending",
            Transition::Firing => "firing",
            Transition::Repeat => "repeat",
            Transition::Acknowledged => "acknowledged",
            Transition::Resolved => "resolved",
        }
    }

    /// Whether sinks hear of it (pending and acknowledgements are only recorded).
    pub fn notifies(self) -> bool {
        matches!(
            self,
            Transition::Firing | Transition::Repeat | Transition::Resolved
        )
    }
}

/// One transition of one alert instance.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// When (the evaluation or acknowledgement time).
    pub at: DateTime<Utc>,
    /// The rule's name.
    pub rule: String,
    /// The instance key: the key columns' values, comma separated.
    pub key: String,
    /// What happened.
    pub transition: Transition,
    /// The rule's severity.
    pub severity: Severity,
    /// The rule's owner.
    pub owner: String,
    /// The value column's value, when the rule has one.
    pub value: Option<f64>,
    /// The rendered message.
    pub message: String,
    /// Who acknowledged (acknowledgements only).
    pub actor: Option<String>,
}

/// The schema of `alert_events`.
pub(crate) fn alert_events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("rule", DataType::Utf8View, false),
        Field::new("key", DataType::Utf8View, false),
        Field::new("transition", DataType::Utf8View, false),
        Field::new("severity", DataType::Utf8View, false),
        Field::new("owner", DataType::Utf8View, false),
        Field::new("value", DataType::Float64, true),
        Field::new("message", DataType::Utf8View, false),
        Field::new("actor", DataType::Utf8View, true),
    ]))
}

/// The `alert_events` table: appended to by the engine, read by SQL.
#[derive(Debug)]
pub(crate) struct EventLog {
    schema: SchemaRef,
    batches: RwLock<Vec<RecordBatch>>,
}

impl EventLog {
    pub(crate) fn new() -> Self {
        EventLog {
            schema: alert_events_schema(),
            batches: RwLock::new(Vec::new()),
        }
    }

    pub(crate) fn append(&self, events: &[AlertEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let text = |f: &dyn Fn(&AlertEvent) -> &str| -> ArrayRef {
            Arc::new(StringViewArray::from_iter_values(events.iter().map(f)))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    events.iter().map(|e| e.at.timestamp_micros()),
                )
                .with_timezone("UTC"),
            ),
            text(&|e| &e.rule),
            text(&|e| &e.key),
            text(&|e| e.transition.name()),
            text(&|e| e.severity.name()),
            text(&|e| &e.owner),
            Arc::new(Float64Array::from_iter(events.iter().map(|e| e.value))),
            text(&|e| &e.message),
            Arc::new(StringViewArray::from_iter(
                events.iter().map(|e| e.actor.as_deref()),
            )),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        self.batches
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(batch);
        Ok(())
    }
}

#[async_trait]
impl TableProvider for EventLog {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batches = self
            .batches
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let source =
            MemorySourceConfig::try_new(&[batches], Arc::clone(&self.schema), projection.cloned())?;
        Ok(DataSourceExec::from_data_source(source))
    }
}
