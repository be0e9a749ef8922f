//! `window_funnel` (ClickHouse `windowFunnel`, 26.9 semantics) and `window_funnel_times`.
//!
//! ```sql
//! window_funnel(window, [mode,] ts, cond1, ..., condN)        -- BIGINT 0..N
//! window_funnel_times(window, [mode,] ts, cond1, ..., condN)  -- list of N timestamps
//! ```
//! `window` is an INTERVAL, or an integer: seconds when `ts` is a TIMESTAMP, `ts`'s own unit
//! when `ts` is an integer. `mode` is a comma-separated list of `strict_deduplication`,
//! `strict_order`, `allow_reentry` (with strict_order), `strict_increase`, `strict_once`.
//! A row with NULL in `ts` or a condition is skipped; a group with no other row gives NULL
//! (as ClickHouse) when an argument may be NULL, else 0. The users who reached step k are
//! `count(*) FILTER (WHERE level >= k)`.
//!
//! `window_funnel_times` returns, for each step, the time at which the winning chain (the
//! one that set the level `window_funnel` returns) reached it, NULL past that level, so
//! time-to-convert per step is `t[k+1] - t[k]` in one query.
//!
//! Example over the small fixture: `SELECT user_id, window_funnel(INTERVAL '30 minutes',
//! ts, event_type = 'view', event_type = 'add_to_cart', event_type = 'pay') FROM
//! user_events GROUP BY user_id` gives 3 for users 1, 2 and 3, 2 for user 7, 1 for 5 and 6.
//!
//! Implementation: a `GroupsAccumulator` keeps each group's rows `(ts, condition bits)` in
//! arrival order; the state (two lists) concatenates across batches and partitions, and
//! the scan sorts at evaluation.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, Int64Builder, ListArray, ListBuilder,
    PrimitiveBuilder, UInt32Array, UInt32Builder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt32Type};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use super::funnel_args::FunnelLayout;
use super::funnel_scan::{FunnelRow, FunnelSpec};

/// What the function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Output {
    /// The level reached (`window_funnel`).
    Level,
    /// The step times of the winning chain (`window_funnel_times`).
    Times,
}

/// The `window_funnel` and `window_funnel_times` aggregate functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    output: Output,
    signature: Signature,
}

impl WindowFunnel {
    fn new(output: Output) -> Self {
        WindowFunnel {
            output,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// `window_funnel` as a DataFusion aggregate.
pub fn window_funnel_udaf() -> Arc<AggregateUDF> {
    static UDAF: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(WindowFunnel::new(Output::Level)))))
}

/// `window_funnel_times` as a DataFusion aggregate.
pub fn window_funnel_times_udaf() -> Arc<AggregateUDF> {
    static UDAF: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(WindowFunnel::new(Output::Times)))))
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        match self.output {
            Output::Level => "window_funnel",
            Output::Times => "window_funnel_times",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        FunnelLayout::coerce(self.name(), arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let layout = FunnelLayout::of(self.name(), arg_types)?;
        Ok(match self.output {
            Output::Level => DataType::Int64,
            Output::Times => DataType::List(Arc::new(Field::new(
                "item",
                arg_types[layout.ts].clone(),
                true,
            ))),
        })
    }

    fn is_nullable(&self) -> bool {
        true
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new_list(
                format!("{}[ts]", args.name),
                Field::new_list_field(DataType::Int64, false),
                true,
            )),
            Arc::new(Field::new_list(
                format!("{}[conditions]", args.name),
                Field::new_list_field(DataType::UInt32, false),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[seen]", args.name),
                DataType::Boolean,
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(self.groups(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(&args)?))
    }
}

impl WindowFunnel {
    fn groups(&self, args: &AccumulatorArgs) -> Result<FunnelGroups> {
        let types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let layout = FunnelLayout::of(self.name(), &types)?;
        let ts_type = types[layout.ts].clone();
        let spec = layout.spec(self.name(), args.exprs, &ts_type)?;
        // As ClickHouse: when an argument may be NULL, a group without a complete row is
        // NULL rather than 0.
        let null_when_unseen = args.expr_fields[layout.ts..]
            .iter()
            .any(|f| f.is_nullable());
        Ok(FunnelGroups {
            output: self.output,
            layout,
            spec,
            ts_type,
            null_when_unseen,
            rows: Vec::new(),
            seen: Vec::new(),
        })
    }
}

/// Every group's rows, in arrival order.
#[derive(Debug)]
struct FunnelGroups {
    output: Output,
    layout: FunnelLayout,
    spec: FunnelSpec,
    ts_type: DataType,
    null_when_unseen: bool,
    rows: Vec<Vec<FunnelRow>>,
    /// Whether the group had a row without NULLs.
    seen: Vec<bool>,
}

impl FunnelGroups {
    /// The same function, with no group yet.
    fn empty_like(&self) -> FunnelGroups {
        FunnelGroups {
            output: self.output,
            layout: self.layout,
            spec: self.spec,
            ts_type: self.ts_type.clone(),
            null_when_unseen: self.null_when_unseen,
            rows: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn resize(&mut self, groups: usize) {
        if self.rows.len() < groups {
            self.rows.resize_with(groups, Vec::new);
            self.seen.resize(groups, false);
        }
    }

    fn evaluate_groups(&self, rows: &[Vec<FunnelRow>], seen: &[bool]) -> Result<ArrayRef> {
        let track = self.output == Output::Times;
        let results = rows.iter().map(|r| self.spec.scan(r, track));
        let valid = |i: usize| !self.null_when_unseen || seen[i];
        match self.output {
            Output::Level => {
                let levels: Int64Array = results
                    .enumerate()
                    .map(|(i, r)| valid(i).then_some(r.level as i64))
                    .collect();
                Ok(Arc::new(levels))
            }
            Output::Times => {
                let mut builder = ListBuilder::new(Int64Builder::new());
                for (i, result) in results.enumerate() {
                    if !valid(i) {
                        builder.append_null();
                        continue;
                    }
                    for step in 0..self.spec.steps {
                        builder
                            .values()
                            .append_option(result.times.get(step).copied());
                    }
                    builder.append(true);
                }
                let raw = builder.finish();
                let item = Arc::new(Field::new("item", self.ts_type.clone(), true));
                let values = cast(raw.values(), &self.ts_type)?;
                Ok(Arc::new(ListArray::try_new(
                    item,
                    raw.offsets().clone(),
                    values,
                    raw.nulls().cloned(),
                )?))
            }
        }
    }
}

impl GroupsAccumulator for FunnelGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let ts = cast(&values[self.layout.ts], &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        let conditions: Vec<&BooleanArray> = values[self.layout.ts + 1..]
            .iter()
            .map(|c| c.as_boolean())
            .collect();
        let mut nulls = ts.nulls().cloned();
        for condition in &conditions {
            nulls = NullBuffer::union(nulls.as_ref(), condition.nulls());
        }
        let mut masks = vec![0u32; ts.len()];
        for (bit, condition) in conditions.iter().enumerate() {
            for row in condition.values().set_indices() {
                masks[row] |= 1 << bit;
            }
        }
        let keep_noise = self.spec.modes.strict_order;
        for (row, &group) in group_indices.iter().enumerate() {
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                continue;
            }
            if let Some(filter) = opt_filter
                && !(filter.is_valid(row) && filter.value(row))
            {
                continue;
            }
            self.seen[group] = true;
            if masks[row] != 0 || keep_noise {
                self.rows[group].push(FunnelRow {
                    ts: ts.value(row),
                    mask: masks[row],
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let rows = emit_to.take_needed(&mut self.rows);
        let seen = emit_to.take_needed(&mut self.seen);
        self.evaluate_groups(&rows, &seen)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let rows = emit_to.take_needed(&mut self.rows);
        let seen = emit_to.take_needed(&mut self.seen);
        let mut ts = ListBuilder::new(PrimitiveBuilder::<Int64Type>::new())
            .with_field(Field::new_list_field(DataType::Int64, false));
        let mut masks = ListBuilder::new(UInt32Builder::new())
            .with_field(Field::new_list_field(DataType::UInt32, false));
        for group in &rows {
            ts.values().extend(group.iter().map(|r| Some(r.ts)));
            masks.values().extend(group.iter().map(|r| Some(r.mask)));
            ts.append(true);
            masks.append(true);
        }
        Ok(vec![
            Arc::new(ts.finish()),
            Arc::new(masks.finish()),
            Arc::new(BooleanArray::from(seen)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let [ts, masks, seen] = values else {
            return internal_err!("window_funnel state has 3 fields, got {}", values.len());
        };
        let ts = ts.as_list::<i32>();
        let masks = masks.as_list::<i32>();
        let seen = seen.as_boolean();
        for (row, &group) in group_indices.iter().enumerate() {
            if ts.is_null(row) {
                continue;
            }
            self.seen[group] |= seen.is_valid(row) && seen.value(row);
            let times = ts.value(row);
            let times = times.as_primitive::<Int64Type>();
            let bits = masks.value(row);
            let bits: &UInt32Array = bits.as_primitive::<UInt32Type>();
            self.rows[group].extend(
                times
                    .values()
                    .iter()
                    .zip(bits.values().iter())
                    .map(|(&ts, &mask)| FunnelRow { ts, mask }),
            );
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut each_row_alone = self.empty_like();
        let rows = values.first().map_or(0, |v| v.len());
        let groups: Vec<usize> = (0..rows).collect();
        each_row_alone.update_batch(values, &groups, opt_filter, rows)?;
        each_row_alone.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        let rows: usize = self
            .rows
            .iter()
            .map(|r| r.capacity() * std::mem::size_of::<FunnelRow>())
            .sum();
        rows + self.rows.capacity() * std::mem::size_of::<Vec<FunnelRow>>() + self.seen.capacity()
    }
}

/// The plain accumulator DataFusion uses without GROUP BY and in window functions: the
/// same code, with one group.
#[derive(Debug)]
struct SingleGroup(FunnelGroups);

impl Accumulator for SingleGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values.first().map_or(0, |v| v.len())];
        self.0.update_batch(values, &groups, None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.resize(1);
        let array = self.0.evaluate_groups(&self.0.rows, &self.0.seen)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.resize(1);
        let arrays = self.0.state(EmitTo::All)?;
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states.first().map_or(0, |v| v.len())];
        self.0.merge_batch(states, &groups, 1)
    }
}
