//! `retention(cond1, ..., condN)`: ClickHouse `retention` semantics.
//!
//! Returns a list of N integers 0/1: `r[1] = any(cond1)`, `r[i] = any(cond1) AND
//! any(cond_i)` for i > 1. No order, no time: the conditions may hold on different rows.
//! As in ClickHouse, a row with NULL in any condition is skipped entirely (so a NULL counts
//! as false, and also hides that row's other conditions). 1 <= N <= 32.
//!
//! ```sql
//! SELECT sum(r[1]) AS day0, sum(r[2]) AS day1 FROM (
//!   SELECT user_id, retention(date_trunc('day', ts) = '2026-11-11', date_trunc('day', ts) = '2026-11-12') AS r
//!   FROM user_events GROUP BY user_id)
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt32Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt32Type};
use datafusion::common::{Result, ScalarValue, internal_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::funnel_args::MAX_STEPS;
use super::one_group::{OneGroup, Regroup};
use super::row_filter::included;
use crate::prefetch::{PREFETCH_DISTANCE, prefetch};

/// The `retention` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    signature: Signature,
}

/// `retention` as a DataFusion aggregate.
pub fn retention_udaf() -> Arc<AggregateUDF> {
    static UDAF: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| {
        Arc::new(AggregateUDF::from(Retention {
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    }))
}

fn result_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Int64, false)))
}

impl AggregateUDFImpl for Retention {
    fn name(&self) -> &str {
        "retention"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() || arg_types.len() > MAX_STEPS {
            return plan_err!(
                "retention takes 1 to {MAX_STEPS} conditions, got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
                t => plan_err!("retention: condition {} must be BOOLEAN, got {t}", i + 1),
            })
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(result_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[conditions]", args.name),
            DataType::UInt32,
            false,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(RetentionGroups::new(args.exprs.len()))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RetentionGroups::new(args.exprs.len())))
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        let mut groups = RetentionGroups::new(0);
        groups.masks.push(0);
        ScalarValue::try_from_array(&groups.evaluate(EmitTo::All)?, 0)
    }
}

/// The OR of every group's condition bits.
#[derive(Debug, Clone)]
struct RetentionGroups {
    conditions: usize,
    masks: Vec<u32>,
}

impl RetentionGroups {
    fn new(conditions: usize) -> Self {
        RetentionGroups {
            conditions,
            masks: Vec::new(),
        }
    }
}

/// Below this share of rows with a condition bit (one in [`SPARSE_SHARE`]), only those
/// rows are visited: a paying-user retention sets bits on the few `pay` events.
const SPARSE_SHARE: usize = 4;

impl RetentionGroups {
    /// ORs each row's condition bits into its group's mask. Most rows of a visit
    /// retention have a bit, in no pattern: every row is ORed without a branch (a zero
    /// ORs nothing). When few rows have one, only those are visited.
    fn or_row_masks(&mut self, row_masks: &[u32], group_indices: &[usize]) {
        let with_bits = row_masks.iter().filter(|&&mask| mask != 0).count();
        if with_bits * SPARSE_SHARE < row_masks.len() {
            let rows: Vec<usize> = (0..row_masks.len())
                .filter(|&row| row_masks[row] != 0)
                .collect();
            for (i, &row) in rows.iter().enumerate() {
                if let Some(&ahead) = rows.get(i + PREFETCH_DISTANCE) {
                    prefetch(&self.masks[group_indices[ahead]]);
                }
                self.masks[group_indices[row]] |= row_masks[row];
            }
            return;
        }
        for (row, &group) in group_indices.iter().enumerate() {
            if let Some(&ahead) = group_indices.get(row + PREFETCH_DISTANCE) {
                prefetch(&self.masks[ahead]);
            }
            self.masks[group] |= row_masks[row];
        }
    }
}

impl GroupsAccumulator for RetentionGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups, 0);
        let conditions: Vec<&BooleanArray> = values.iter().map(|v| v.as_boolean()).collect();
        let mut nulls: Option<NullBuffer> = None;
        for condition in &conditions {
            nulls = NullBuffer::union(nulls.as_ref(), condition.nulls());
        }
        let mut row_masks = vec![0u32; group_indices.len()];
        for (bit, condition) in conditions.iter().enumerate() {
            for row in condition.values().set_indices() {
                row_masks[row] |= 1 << bit;
            }
        }
        if nulls.is_some() || opt_filter.is_some() {
            for (row, mask) in row_masks.iter_mut().enumerate() {
                if !included(row, nulls.as_ref(), opt_filter) {
                    *mask = 0;
                }
            }
        }
        self.or_row_masks(&row_masks, group_indices);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let masks = emit_to.take_needed(&mut self.masks);
        // Every list has one 0/1 per condition: the values and offsets are built flat.
        let mut values = Vec::with_capacity(masks.len() * self.conditions);
        for mask in &masks {
            let first = mask & 1 != 0;
            values.extend((0..self.conditions).map(|k| i64::from(first && mask & (1 << k) != 0)));
        }
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(self.conditions, masks.len()));
        let item = Arc::new(Field::new("item", DataType::Int64, false));
        let values = Arc::new(Int64Array::from(values));
        Ok(Arc::new(ListArray::try_new(item, offsets, values, None)?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let masks = emit_to.take_needed(&mut self.masks);
        Ok(vec![Arc::new(UInt32Array::from(masks))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let [masks] = values else {
            return internal_err!("retention state has 1 field, got {}", values.len());
        };
        self.masks.resize(total_num_groups, 0);
        let masks = masks.as_primitive::<UInt32Type>();
        for (row, &group) in group_indices.iter().enumerate() {
            if let Some(&ahead) = group_indices.get(row + PREFETCH_DISTANCE) {
                prefetch(&self.masks[ahead]);
            }
            self.masks[group] |= masks.value(row);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |v| v.len());
        let mut each_row_alone = RetentionGroups::new(self.conditions);
        let groups: Vec<usize> = (0..rows).collect();
        each_row_alone.update_batch(values, &groups, opt_filter, rows)?;
        each_row_alone.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        self.masks.capacity() * std::mem::size_of::<u32>()
    }
}

impl Regroup for RetentionGroups {
    fn ensure_groups(&mut self, groups: usize) -> Result<()> {
        if self.masks.len() < groups {
            self.masks.resize(groups, 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_random::xorshift;

    /// Each group's mask computed row by row, as the definition reads.
    fn masks_by_definition(
        conditions: &[Vec<Option<bool>>],
        groups: &[usize],
        filter: Option<&[bool]>,
        total: usize,
    ) -> Vec<u32> {
        let mut masks = vec![0u32; total];
        for (row, &group) in groups.iter().enumerate() {
            let null = conditions.iter().any(|c| c[row].is_none());
            if null || filter.is_some_and(|f| !f[row]) {
                continue;
            }
            for (bit, condition) in conditions.iter().enumerate() {
                if condition[row] == Some(true) {
                    masks[group] |= 1 << bit;
                }
            }
        }
        masks
    }

    #[test]
    fn dense_and_sparse_batches_set_the_masks_the_definition_gives() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        // Shares of rows with a condition true: sparse (under a quarter) and dense.
        for per_mille in [0u64, 5, 50, 200, 260, 600, 1000] {
            for (with_nulls, with_filter) in [(false, false), (true, false), (false, true)] {
                let rows = 3000;
                let total = 2000;
                let groups: Vec<usize> = (0..rows).map(|_| next() as usize % total).collect();
                let conditions: Vec<Vec<Option<bool>>> = (0..3)
                    .map(|_| {
                        (0..rows)
                            .map(|_| {
                                let draw = next();
                                if with_nulls && draw.is_multiple_of(50) {
                                    None
                                } else {
                                    Some((draw >> 8) % 1000 < per_mille)
                                }
                            })
                            .collect()
                    })
                    .collect();
                let filter: Option<Vec<bool>> =
                    with_filter.then(|| (0..rows).map(|_| !next().is_multiple_of(3)).collect());
                let values: Vec<ArrayRef> = conditions
                    .iter()
                    .map(|c| Arc::new(BooleanArray::from(c.clone())) as ArrayRef)
                    .collect();
                let filter_array = filter.as_ref().map(|f| BooleanArray::from(f.clone()));
                let mut accumulator = RetentionGroups::new(3);
                // In batches, so that later ones OR into masks the earlier ones set.
                for start in (0..rows).step_by(150) {
                    let end = rows.min(start + 150);
                    let batch: Vec<ArrayRef> =
                        values.iter().map(|v| v.slice(start, end - start)).collect();
                    let filter = filter_array.as_ref().map(|f| f.slice(start, end - start));
                    accumulator
                        .update_batch(&batch, &groups[start..end], filter.as_ref(), total)
                        .unwrap();
                }
                let expected = masks_by_definition(&conditions, &groups, filter.as_deref(), total);
                assert_eq!(
                    accumulator.masks, expected,
                    "{per_mille}/1000 true, nulls {with_nulls}, filter {with_filter}"
                );
            }
        }
    }
}
