//! An immutable slab of rows with its time range and, built when first asked for, the
//! membership filters of its BIGINT columns.

use std::sync::OnceLock;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};

use super::key_filter::KeyFilter;

/// An immutable batch of rows of one table, with the range of its `ts` column.
#[derive(Debug, Clone)]
pub struct Segment {
    batch: RecordBatch,
    time_range: Option<(i64, i64)>,
    /// Per column, its key filter once a lookup on it has built one.
    key_filters: Box<[OnceLock<KeyFilter>]>,
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
        let key_filters = (0..batch.num_columns()).map(|_| OnceLock::new()).collect();
        Segment {
            batch,
            time_range,
            key_filters,
        }
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
        may_overlap(self.time_range, lo, hi)
    }

    /// Whether the segment may hold a row whose BIGINT column `column` equals one of
    /// `keys` (false only when none can be there). The column's filter is built on the
    /// first call and kept with the segment; other columns always answer true.
    pub fn may_contain_any(&self, column: usize, keys: &[i64]) -> bool {
        match self.key_filter(column) {
            Some(filter) => keys.iter().any(|&key| filter.may_contain(key)),
            None => true,
        }
    }

    /// Whether a lookup on `column` would first have to build its key filter.
    pub(crate) fn lacks_key_filter(&self, column: usize) -> bool {
        self.key_filters
            .get(column)
            .is_some_and(|slot| slot.get().is_none())
    }

    /// The membership filter of BIGINT column `column`, built on first use.
    pub(crate) fn key_filter(&self, column: usize) -> Option<&KeyFilter> {
        let values = self.batch.columns().get(column)?;
        if values.data_type() != &DataType::Int64 {
            return None;
        }
        let slot = self.key_filters.get(column)?;
        Some(slot.get_or_init(|| KeyFilter::of(values.as_primitive::<Int64Type>())))
    }
}

/// Whether rows whose `ts` lies in `time_range` (unknown: anywhere) may fall in `[lo, hi]`.
pub(super) fn may_overlap(time_range: Option<(i64, i64)>, lo: i64, hi: i64) -> bool {
    match time_range {
        Some((min, max)) => max >= lo && min <= hi,
        None => true,
    }
}
