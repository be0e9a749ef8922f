//! Builds a canonical table row by row, straight into Arrow builders, remembering when
//! each row arrives (which may be later than its `ts`), then orders the rows by arrival.

use std::sync::Arc;

use promodb::arrow::array::{
    ArrayRef, Decimal128Builder, Int64Builder, RecordBatch, StringViewBuilder,
    TimestampMicrosecondBuilder, UInt32Array,
};
use promodb::arrow::compute::take_record_batch;
use promodb::arrow::datatypes::{DataType, SchemaRef};
use promodb::schema::Table;

enum Column {
    Timestamp(TimestampMicrosecondBuilder),
    Int(Int64Builder),
    Text(StringViewBuilder),
    Money(Decimal128Builder),
}

/// A table under construction; columns are written in schema order, one row at a time.
pub(crate) struct TableWriter {
    table: Table,
    schema: SchemaRef,
    columns: Vec<Column>,
    arrival: Vec<i64>,
    cursor: usize,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("rows", &self.arrival.len())
            .finish_non_exhaustive()
    }
}

impl TableWriter {
    pub(crate) fn new(table: Table) -> Self {
        let schema = table.arrow_schema();
        let columns = schema
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                DataType::Timestamp(_, _) => {
                    Column::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
                }
                DataType::Int64 => Column::Int(Int64Builder::new()),
                DataType::Utf8View => Column::Text(StringViewBuilder::new()),
                DataType::Decimal128(p, s) => Column::Money(
                    Decimal128Builder::new()
                        .with_precision_and_scale(*p, *s)
                        .expect("canonical money type"),
                ),
                other => unreachable!("no canonical column has type {other}"),
            })
            .collect();
        TableWriter {
            table,
            schema,
            columns,
            arrival: Vec::new(),
            cursor: 0,
        }
    }

    /// Starts a row that arrives at `arrival` (microseconds); write every column next.
    pub(crate) fn row(&mut self, arrival: i64) -> &mut Self {
        debug_assert_eq!(self.cursor, 0, "the previous row is incomplete");
        self.arrival.push(arrival);
        self
    }

    fn next(&mut self) -> &mut Column {
        let column = &mut self.columns[self.cursor];
        self.cursor = (self.cursor + 1) % self.schema.fields().len();
        column
    }

    pub(crate) fn ts(&mut self, micros: i64) -> &mut Self {
        match self.next() {
            Column::Timestamp(b) => b.append_value(micros),
            _ => unreachable!("column is not a timestamp"),
        }
        self
    }

    pub(crate) fn int(&mut self, value: Option<i64>) -> &mut Self {
        match self.next() {
            Column::Int(b) => b.append_option(value),
            _ => unreachable!("column is not BIGINT"),
        }
        self
    }

    pub(crate) fn text(&mut self, value: Option<&str>) -> &mut Self {
        match self.next() {
            Column::Text(b) => b.append_option(value),
            _ => unreachable!("column is not VARCHAR"),
        }
        self
    }

    /// Money in cents.
    pub(crate) fn money(&mut self, cents: Option<i64>) -> &mut Self {
        match self.next() {
            Column::Money(b) => b.append_option(cents.map(i128::from)),
            _ => unreachable!("column is not money"),
        }
        self
    }

    pub(crate) fn table(&self) -> Table {
        self.table
    }

    /// The rows ordered by arrival (ties keep the order they were written in), and their
    /// arrival times.
    pub(crate) fn finish(self) -> (RecordBatch, Vec<i64>) {
        debug_assert_eq!(self.cursor, 0, "the last row is incomplete");
        let arrays: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|column| -> ArrayRef {
                match column {
                    Column::Timestamp(mut b) => Arc::new(b.finish()),
                    Column::Int(mut b) => Arc::new(b.finish()),
                    Column::Text(mut b) => Arc::new(b.finish()),
                    Column::Money(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema, arrays).expect("columns match the schema");
        let mut order: Vec<u32> = (0..self.arrival.len() as u32).collect();
        order.sort_by_key(|&i| self.arrival[i as usize]); // stable: ties keep write order
        let arrival = order.iter().map(|&i| self.arrival[i as usize]).collect();
        let sorted =
            take_record_batch(&batch, &UInt32Array::from(order)).expect("indices in range");
        (sorted, arrival)
    }
}
