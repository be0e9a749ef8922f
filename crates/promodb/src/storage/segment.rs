//! An immutable slab of rows with its time range.

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;

/// An immutable batch of rows of one table, with the range of its `ts` column.
#[derive(Debug, Clone)]
pub struct Segment {
    batch: RecordBatch,
    time_range: Option<(i64, i64)>,
}

impl Segment {
    /// Wraps `batch`; `time_column` is the index of its `ts` column, if it has one.
    pub(crate) fn new(batch: RecordBatch, time_column: Option<usize>) -> Self {
        let time_range = time_column.and_then(|index| {
            let ts = batch
                .column(index)
                .as_primitive::<TimestampMicrosecondType>();
            let min = datafusion::arrow::compute::min(ts)?;
            let max = datafusion::arrow::compute::max(ts)?;
            Some((min, max))
        });
        Segment { batch, time_range }
    }

    /// The rows.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Smallest and largest `ts` in microseconds since the epoch (None for tables without
    /// time, and for segments whose `ts` is all NULL, which conform never lets in).
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.time_range
    }

    /// Whether the segment may hold rows with `ts` in `[lo, hi]` (inclusive).
    pub(crate) fn overlaps(&self, lo: i64, hi: i64) -> bool {
        match self.time_range {
            Some((min, max)) => max >= lo && min <= hi,
            None => true,
        }
    }
}
