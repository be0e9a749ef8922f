//! Which input rows an aggregate takes: the one rule every promodb accumulator shares.

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::buffer::NullBuffer;

/// Whether row `row` counts: it is not NULL in `nulls` (the NULLs that make an aggregate
/// skip a row) and the aggregate's FILTER, if any, is true (not false, not NULL) on it.
pub(crate) fn included(
    row: usize,
    nulls: Option<&NullBuffer>,
    filter: Option<&BooleanArray>,
) -> bool {
    nulls.is_none_or(|nulls| nulls.is_valid(row))
        && filter.is_none_or(|filter| filter.is_valid(row) && filter.value(row))
}
