//! The open buffer: Arrow builders that collect rows pushed one at a time until they are
//! sealed into an immutable segment.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, Decimal128Builder, Int64Builder, RecordBatch, StringViewBuilder,
    TimestampMicrosecondBuilder,
};

use crate::error::{Error, Result};
use crate::schema::{ColumnType, Table};

/// A builder for one canonical column.
#[derive(Debug)]
pub(crate) enum ColumnBuilder {
    Timestamp(TimestampMicrosecondBuilder),
    BigInt(Int64Builder),
    Text(StringViewBuilder),
    Money(Decimal128Builder),
}

impl ColumnBuilder {
    fn new(column_type: ColumnType, capacity: usize) -> Self {
        match column_type {
            ColumnType::Timestamp => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            ColumnType::BigInt => ColumnBuilder::BigInt(Int64Builder::with_capacity(capacity)),
            ColumnType::Text => ColumnBuilder::Text(StringViewBuilder::with_capacity(capacity)),
            ColumnType::Money => ColumnBuilder::Money(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(18, 2)
                    .expect("18,2 is a valid decimal type"),
            ),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::BigInt(b) => Arc::new(b.finish()),
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Money(b) => Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnBuilder::Timestamp(b) => b.len(),
            ColumnBuilder::BigInt(b) => b.len(),
            ColumnBuilder::Text(b) => b.len(),
            ColumnBuilder::Money(b) => b.len(),
        }
    }
}

/// One row as a canonical batch (for appends that must be logged row by row).
pub(crate) fn single_row_batch(
    table: Table,
    write: impl FnOnce(&mut [ColumnBuilder]) -> Result<()>,
) -> Result<RecordBatch> {
    let mut buffer = OpenBuffer::new(table, 1);
    buffer.push_row(write)?;
    buffer
        .seal()?
        .ok_or_else(|| Error::Internal("a pushed row vanished".to_string()))
}

/// Rows of one table that were pushed but not yet sealed.
#[derive(Debug)]
pub(crate) struct OpenBuffer {
    table: Table,
    columns: Vec<ColumnBuilder>,
    rows: usize,
    opened_at: Option<Instant>,
}

impl OpenBuffer {
    pub(crate) fn new(table: Table, capacity: usize) -> Self {
        let columns = table
            .def()
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.column_type, capacity))
            .collect();
        OpenBuffer {
            table,
            columns,
            rows: 0,
            opened_at: None,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    /// Appends one row: `write` fills every column builder exactly once. A row that does
    /// not (a bug in a row type) is rolled back by failing the whole buffer's seal, so it
    /// is checked here instead.
    pub(crate) fn push_row(
        &mut self,
        write: impl FnOnce(&mut [ColumnBuilder]) -> Result<()>,
    ) -> Result<()> {
        write(&mut self.columns)?;
        self.rows += 1;
        if let Some(bad) = self.columns.iter().position(|c| c.len() != self.rows) {
            return Err(Error::Internal(format!(
                "{}: row writer left column {bad} with {} values for {} rows",
                self.table,
                self.columns[bad].len(),
                self.rows
            )));
        }
        self.opened_at.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Takes the buffered rows as a canonical batch and empties the buffer.
    pub(crate) fn seal(&mut self) -> Result<Option<RecordBatch>> {
        if self.rows == 0 {
            return Ok(None);
        }
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        self.opened_at = None;
        let batch = RecordBatch::try_new(self.table.arrow_schema(), arrays)?;
        Ok(Some(batch))
    }
}
