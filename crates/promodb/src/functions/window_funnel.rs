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
//! each group's rows are sorted by `ts` at evaluation.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, Int64Builder, ListArray, ListBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::event_groups::{EventAggregate, EventGroups, GroupEvaluator, state_fields};
use super::funnel_args::FunnelLayout;
use super::funnel_scan::{FunnelSpec, LevelChains};
use super::grouped_rows::GroupedRows;
use super::one_group::OneGroup;

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
        Ok(state_fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(EventGroups::new(
            self.event_aggregate(&args)?,
        ))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(EventGroups::new(self.event_aggregate(&args)?)))
    }
}

impl WindowFunnel {
    /// The aggregate these arguments make, apart from any accumulator.
    pub(crate) fn event_aggregate(&self, args: &AccumulatorArgs) -> Result<EventAggregate> {
        let types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let layout = FunnelLayout::of(self.name(), &types)?;
        let ts_type = types[layout.ts].clone();
        let spec = layout.spec(self.name(), args.exprs, &ts_type)?;
        let null_when_unseen = args.expr_fields[layout.ts..]
            .iter()
            .any(|f| f.is_nullable());
        let evaluator = FunnelEvaluator {
            output: self.output,
            spec,
            ts_type,
        };
        Ok(EventAggregate::new(evaluator, layout.ts, null_when_unseen))
    }
}

/// Runs the funnel scan over each group.
#[derive(Debug)]
struct FunnelEvaluator {
    output: Output,
    spec: FunnelSpec,
    ts_type: DataType,
}

impl GroupEvaluator for FunnelEvaluator {
    fn keeps_noise(&self) -> bool {
        self.spec.modes.strict_order
    }

    fn evaluate(&self, groups: &GroupedRows, valid: &dyn Fn(usize) -> bool) -> Result<ArrayRef> {
        let mut chains = LevelChains::new(self.spec.steps, self.output == Output::Times);
        let results = groups.iter().map(|rows| self.spec.scan(rows, &mut chains));
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
