//! promodb's SQL functions, registered in every database: one file per function
//! (DataFusion `functions-aggregate` style).

mod arg_max;
mod builtin_fast_path;
mod condition_bits;
mod distinct_count;
mod epoch_date_part;
mod event_groups;
mod funnel_args;
mod funnel_scan;
mod grouped_rows;
pub(crate) mod latest_ts;
mod list_element;
mod one_group;
mod retention;
mod row_filter;
mod safe_div;
mod sequence_match;
mod sequence_pattern;
mod utc_date_trunc;
mod window_funnel;

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;

pub use arg_max::{ArgExtreme, arg_max_udaf, arg_min_udaf};
pub use builtin_fast_path::{BuiltinWithFastPath, FastPath};
pub(crate) use condition_bits::ConditionBits;
pub(crate) use distinct_count::has_per_group_values;
pub use distinct_count::{DistinctCount, distinct_count_udaf};
pub(crate) use epoch_date_part::ExtractPlanner;
pub use epoch_date_part::epoch_date_part_udf;
pub(crate) use event_groups::{EventAggregate, EventRow};
pub use latest_ts::LatestTs;
pub(crate) use list_element::ListElementRewrite;
pub use list_element::{ListElement, list_element_udf};
pub use retention::{Retention, retention_udaf};
pub use safe_div::{SafeDiv, safe_div_udf};
pub use sequence_match::{SequenceMatch, sequence_count_udaf, sequence_match_udaf};
pub use utc_date_trunc::utc_date_trunc_udf;
pub use window_funnel::{WindowFunnel, window_funnel_times_udaf, window_funnel_udaf};

/// The functions whose state keeps every input row of its group (the event sequences of
/// funnels and patterns), so that a partial aggregation cannot make it smaller.
enum EventSequence<'a> {
    Funnel(&'a WindowFunnel),
    Pattern(&'a SequenceMatch),
}

impl EventSequence<'_> {
    fn of(function: &AggregateUDF) -> Option<EventSequence<'_>> {
        let function = function.inner();
        if let Some(funnel) = function.downcast_ref::<WindowFunnel>() {
            return Some(EventSequence::Funnel(funnel));
        }
        function
            .downcast_ref::<SequenceMatch>()
            .map(EventSequence::Pattern)
    }

    fn event_aggregate(&self, args: &AccumulatorArgs) -> Result<EventAggregate> {
        match self {
            EventSequence::Funnel(funnel) => funnel.event_aggregate(args),
            EventSequence::Pattern(pattern) => pattern.event_aggregate(args),
        }
    }
}

/// The event-sequence aggregate (funnel or sequence pattern) `aggregate` computes over
/// rows of `input_schema`, taken apart for an aggregation that reads its rows itself;
/// `None` for any other aggregate.
pub(crate) fn event_aggregate(
    aggregate: &AggregateFunctionExpr,
    input_schema: &SchemaRef,
) -> Option<Result<EventAggregate>> {
    let function = EventSequence::of(aggregate.fun())?;
    let exprs = aggregate.expressions();
    let fields = match exprs
        .iter()
        .map(|expr| expr.return_field(input_schema))
        .collect::<Result<Vec<_>>>()
    {
        Ok(fields) => fields,
        Err(error) => return Some(Err(error)),
    };
    let args = AccumulatorArgs {
        return_field: aggregate.field(),
        schema: input_schema,
        expr_fields: &fields,
        ignore_nulls: aggregate.ignore_nulls(),
        order_bys: aggregate.order_bys(),
        is_reversed: aggregate.is_reversed(),
        name: aggregate.name(),
        is_distinct: aggregate.is_distinct(),
        exprs: &exprs,
    };
    Some(function.event_aggregate(&args))
}

/// Whether the aggregate's state keeps every input row of its group (the event sequences
/// of funnels and patterns), so that a partial aggregation cannot make it smaller.
pub(crate) fn keeps_every_row(function: &AggregateUDF) -> bool {
    EventSequence::of(function).is_some()
}

/// Every aggregate function promodb adds to SQL.
pub fn all_aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        window_funnel_udaf(),
        window_funnel_times_udaf(),
        retention_udaf(),
        sequence_match_udaf(),
        sequence_count_udaf(),
        distinct_count_udaf(),
        arg_max_udaf(),
        arg_min_udaf(),
    ]
}

/// Every scalar function promodb adds to SQL.
pub fn all_scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        safe_div_udf(),
        utc_date_trunc_udf(),
        epoch_date_part_udf(),
        list_element_udf(),
    ]
}

/// Registers every promodb function in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for udaf in all_aggregate_functions() {
        ctx.register_udaf(udaf.as_ref().clone());
    }
    for udf in all_scalar_functions() {
        ctx.register_udf(udf.as_ref().clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_no_duplicate_name() {
        let mut names: Vec<String> = all_aggregate_functions()
            .iter()
            .map(|f| f.name().to_string())
            .chain(all_scalar_functions().iter().map(|f| f.name().to_string()))
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
