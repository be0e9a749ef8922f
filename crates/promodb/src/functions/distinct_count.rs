//! `count` with per-group value lists for `COUNT(DISTINCT x)` of integers, timestamps
//! and dates in a GROUP BY.
//!
//! DataFusion 55 counts distinct integers per group in one hash set of
//! `(group, value)` pairs for the whole operator. At the sizes a war room groups
//! (600k order lines into 1,500 minutes) that set outgrows the CPU caches, and every
//! insert is a cache miss; growing it is a sixth of the time. `perf` on the
//! per-minute KPI rollup put 60% of its time there.
//!
//! promodb keeps each group's values apart instead (`distinct_values`: inline, then a
//! list kept ascending while values arrive in order, or one deduplicated through a bitmap
//! or by sorting (`scratch_bits`),
//! or one bit per value over their range when they lie close together: `value_bits`),
//! and skips a value repeated on consecutive rows of one group (the lines of one order)
//! before storing it. The result and the partial state (a list of each group's distinct
//! values, never repeating one) are the same as DataFusion's, so partial and final
//! stages mix freely. Everything else
//! (`count(x)`, `count(*)`, other types, windows) goes to DataFusion's own `count`.

mod distinct_values;
mod scratch_bits;
mod value_bits;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use datafusion::arrow::buffer::{OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Field, FieldRef, Int8Type, Int16Type,
    Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, Expr, GroupsAccumulator,
    Operator, ReversedUDAF, SetMonotonicity, Signature, StatisticsArgs,
};

use super::row_filter::included;
use distinct_values::DistinctValues;

/// DataFusion's `count`, with `COUNT(DISTINCT x)` per group on per-group value lists (x
/// an integer, TIMESTAMP or DATE).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DistinctCount {
    inner: AggregateUDF,
}

/// `count` as registered in every promodb session (it replaces the built-in).
pub fn distinct_count_udaf() -> Arc<AggregateUDF> {
    static UDAF: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| {
        let inner = datafusion::functions_aggregate::count::count_udaf()
            .as_ref()
            .clone();
        Arc::new(AggregateUDF::from(DistinctCount { inner }))
    }))
}

/// Per-group value lists, when `args` is a `COUNT(DISTINCT x)` of one integer, TIMESTAMP or DATE
/// column.
fn per_group_values(args: &AccumulatorArgs) -> Option<Box<dyn GroupsAccumulator>> {
    if !args.is_distinct || args.exprs.len() != 1 {
        return None;
    }
    let data_type = args.expr_fields[0].data_type();
    macro_rules! lists {
        ($t:ty) => {
            Box::new(PerGroupDistinct::<$t>::new(data_type))
        };
    }
    let lists: Box<dyn GroupsAccumulator> = match data_type {
        DataType::Int8 => lists!(Int8Type),
        DataType::Int16 => lists!(Int16Type),
        DataType::Int32 => lists!(Int32Type),
        DataType::Int64 => lists!(Int64Type),
        DataType::UInt8 => lists!(UInt8Type),
        DataType::UInt16 => lists!(UInt16Type),
        DataType::UInt32 => lists!(UInt32Type),
        DataType::UInt64 => lists!(UInt64Type),
        DataType::Date32 => lists!(Date32Type),
        DataType::Date64 => lists!(Date64Type),
        DataType::Timestamp(TimeUnit::Second, _) => lists!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => lists!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => lists!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => lists!(TimestampNanosecondType),
        _ => return None,
    };
    Some(lists)
}

/// Whether a `COUNT(DISTINCT x)` of this type runs on per-group value lists.
pub(crate) fn has_per_group_values(data_type: &DataType) -> bool {
    data_type.is_integer()
        || matches!(
            data_type,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
        )
}

#[warn(clippy::missing_trait_methods)] // delegates: every method must be forwarded
impl AggregateUDFImpl for DistinctCount {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.inner().accumulator(acc_args)
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().schema_name(params)
    }

    fn human_display(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().human_display(params)
    }

    fn window_function_schema_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> Result<String> {
        self.inner.inner().window_function_schema_name(params)
    }

    fn display_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.inner().display_name(params)
    }

    fn window_function_display_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> Result<String> {
        self.inner.inner().window_function_display_name(params)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.inner().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        per_group_values(&args).is_some() || self.inner.inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        match per_group_values(&args) {
            Some(lists) => Ok(lists),
            None => self.inner.inner().create_groups_accumulator(args),
        }
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.inner().create_sliding_accumulator(args)
    }

    fn with_beneficial_ordering(
        self: Arc<Self>,
        beneficial_ordering: bool,
    ) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        // `count` ignores ordering: DataFusion's returns itself unchanged.
        Arc::clone(self.inner.inner())
            .with_beneficial_ordering(beneficial_ordering)
            .map(|changed| changed.map(|_| self as Arc<dyn AggregateUDFImpl>))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.inner().order_sensitivity()
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        self.inner.inner().simplify()
    }

    fn simplify_expr_op_literal(
        &self,
        agg_function: &AggregateFunction,
        arg: &Expr,
        op: Operator,
        lit: &Expr,
        arg_is_left: bool,
    ) -> Result<Option<Expr>> {
        self.inner
            .inner()
            .simplify_expr_op_literal(agg_function, arg, op, lit, arg_is_left)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        match self.inner.inner().reverse_expr() {
            ReversedUDAF::Reversed(_) => ReversedUDAF::Reversed(distinct_count_udaf()),
            same => same,
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner.inner().return_field(arg_fields)
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner.inner().is_descending()
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        self.inner.inner().value_from_stats(statistics_args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.inner.inner().supports_null_handling_clause()
    }

    fn supports_within_group_clause(&self) -> bool {
        self.inner.inner().supports_within_group_clause()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner.inner().set_monotonicity(data_type)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// The distinct values seen by each group.
struct PerGroupDistinct<T: ArrowPrimitiveType> {
    /// The counted column's type (with its time zone), for the partial state.
    data_type: DataType,
    groups: Vec<DistinctValues<T::Native>>,
    /// Values stored over all groups, so that `size` need not visit every group.
    held: usize,
}

impl<T: ArrowPrimitiveType> PerGroupDistinct<T> {
    fn new(data_type: &DataType) -> Self {
        Self {
            data_type: data_type.clone(),
            groups: Vec::new(),
            held: 0,
        }
    }
}

impl<T> PerGroupDistinct<T>
where
    T: ArrowPrimitiveType,
    T::Native: Ord,
{
    fn grow(&mut self, total_num_groups: usize) {
        if self.groups.len() < total_num_groups {
            self.groups
                .resize_with(total_num_groups, DistinctValues::default);
        }
    }

    /// Adds each row's value to its group, skipping a row that repeats the previous
    /// included row's (group, value) pair (the lines of one order).
    fn insert_rows(
        &mut self,
        group_indices: &[usize],
        values: &[T::Native],
        included: impl Fn(usize) -> bool,
    ) {
        let mut previous = None;
        let mut added = 0isize;
        for (row, (&group, &value)) in group_indices.iter().zip(values).enumerate() {
            if previous != Some((group, value)) && included(row) {
                added += self.groups[group].insert(value);
                previous = Some((group, value));
            }
        }
        self.held = self.held.saturating_add_signed(added);
    }

    /// The values of the groups `emit_to` hands out, removed from the accumulator.
    fn take(&mut self, emit_to: EmitTo) -> Vec<DistinctValues<T::Native>> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.held -= taken.iter().map(DistinctValues::stored).sum::<usize>();
        taken
    }
}

impl<T> GroupsAccumulator for PerGroupDistinct<T>
where
    T: ArrowPrimitiveType + Send,
    T::Native: Ord,
{
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let values = values[0].as_primitive::<T>();
        let nulls = values.logical_nulls();
        if nulls.is_none() && opt_filter.is_none() {
            self.insert_rows(group_indices, values.values(), |_| true);
        } else {
            self.insert_rows(group_indices, values.values(), |row| {
                included(row, nulls.as_ref(), opt_filter)
            });
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let counts: Vec<i64> = self
            .take(emit_to)
            .iter_mut()
            .map(|distinct| distinct.count() as i64)
            .collect();
        Ok(Arc::new(Int64Array::from(counts)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let mut groups = self.take(emit_to);
        let mut offsets = Vec::with_capacity(groups.len() + 1);
        offsets.push(0i32);
        let mut values = Vec::with_capacity(groups.iter().map(DistinctValues::stored).sum());
        for distinct in &mut groups {
            distinct.append_to(&mut values);
            let Ok(end) = i32::try_from(values.len()) else {
                return internal_err!("COUNT(DISTINCT) state of more than 2^31 values");
            };
            offsets.push(end);
        }
        Ok(vec![list_of::<T>(&self.data_type, offsets, values)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let lists = values[0].as_list::<i32>();
        let items = lists.values().as_primitive::<T>();
        let offsets = lists.offsets();
        let mut added = 0isize;
        for (row, &group) in group_indices.iter().enumerate() {
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            added += self.groups[group].merge_distinct(&items.values()[start..end]);
        }
        self.held = self.held.saturating_add_signed(added);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = values[0].as_primitive::<T>();
        let nulls = values.logical_nulls();
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0i32);
        let mut kept = Vec::with_capacity(values.len());
        for (row, &value) in values.values().iter().enumerate() {
            if included(row, nulls.as_ref(), opt_filter) {
                kept.push(value);
            }
            let Ok(end) = i32::try_from(kept.len()) else {
                return internal_err!("COUNT(DISTINCT) state of more than 2^31 values");
            };
            offsets.push(end);
        }
        Ok(vec![list_of::<T>(&self.data_type, offsets, kept)])
    }

    fn size(&self) -> usize {
        // Lists grow by doubling: at most twice what they store (values held inline are
        // counted again, an upper bound).
        let per_group = std::mem::size_of::<DistinctValues<T::Native>>();
        self.groups.capacity() * per_group + 2 * self.held * std::mem::size_of::<T::Native>()
    }
}

/// The partial state: a list of each group's distinct values, as DataFusion's `count`
/// declares it.
fn list_of<T: ArrowPrimitiveType>(
    data_type: &DataType,
    offsets: Vec<i32>,
    values: Vec<T::Native>,
) -> ArrayRef {
    let values =
        datafusion::arrow::array::PrimitiveArray::<T>::new(ScalarBuffer::from(values), None)
            .with_data_type(data_type.clone());
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(data_type.clone(), true)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(values),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(datafusion::arrow::array::Int64Array::from(values.to_vec()))
    }

    fn counts(array: ArrayRef) -> Vec<i64> {
        array.as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn counts_distinct_values_per_group_skipping_nulls_and_filtered_rows() {
        let mut acc = PerGroupDistinct::<Int64Type>::new(&DataType::Int64);
        let values = ints(&[Some(1), Some(1), Some(2), None, Some(1), Some(3), Some(3)]);
        let filter = BooleanArray::from(vec![
            Some(true),
            Some(true),
            Some(true),
            Some(true),
            Some(true),
            None,
            Some(true),
        ]);
        acc.update_batch(&[values], &[0, 0, 0, 1, 1, 1, 2], Some(&filter), 3)
            .unwrap();
        assert_eq!(counts(acc.evaluate(EmitTo::All).unwrap()), vec![2, 1, 1]);
    }

    #[test]
    fn state_merges_into_the_same_counts_in_any_split() {
        let rows: Vec<(usize, i64)> = (0..500).map(|i| (i % 7, (i * 13 % 41) as i64)).collect();
        let whole = {
            let mut acc = PerGroupDistinct::<Int64Type>::new(&DataType::Int64);
            let (groups, values): (Vec<usize>, Vec<Option<i64>>) =
                rows.iter().map(|&(g, v)| (g, Some(v))).unzip();
            acc.update_batch(&[ints(&values)], &groups, None, 7)
                .unwrap();
            counts(acc.evaluate(EmitTo::All).unwrap())
        };
        let mut merged = PerGroupDistinct::<Int64Type>::new(&DataType::Int64);
        for chunk in rows.chunks(60) {
            let mut part = PerGroupDistinct::<Int64Type>::new(&DataType::Int64);
            let (groups, values): (Vec<usize>, Vec<Option<i64>>) =
                chunk.iter().map(|&(g, v)| (g, Some(v))).unzip();
            part.update_batch(&[ints(&values)], &groups, None, 7)
                .unwrap();
            let state = part.state(EmitTo::All).unwrap();
            merged
                .merge_batch(&state, &[0, 1, 2, 3, 4, 5, 6], 7)
                .unwrap();
        }
        let direct_state = merged
            .convert_to_state(&[ints(&[Some(40), None])], None)
            .unwrap();
        merged.merge_batch(&direct_state, &[0, 1], 7).unwrap();
        assert_eq!(counts(merged.evaluate(EmitTo::First(7)).unwrap()), whole);
        assert!(whole.iter().all(|&c| c > 1));
    }
}
