//! `sequence_match(pattern, ts, cond1, ..., condN)` -> BOOLEAN and
//! `sequence_count(pattern, ts, cond1, ..., condN)` -> BIGINT: ClickHouse `sequenceMatch`
//! and `sequenceCount` (26.9), with the pattern language of [`super::sequence_pattern`].
//!
//! Only rows where some condition holds are events; a row with NULL in `ts` or a condition
//! is skipped, and a group with no other row is NULL when an argument may be NULL (as
//! ClickHouse). Unlike ClickHouse, whose sort of equal timestamps is unstable, events
//! with the same `ts` keep their input order. `sequence_count` counts non-overlapping
//! matches left to right. A malformed pattern is a planning error naming the position.
//!
//! ```sql
//! SELECT user_id, sequence_match('(?1)(?t<=600)(?2)', ts, event_type = 'add_to_cart', event_type = 'pay')
//! FROM user_events GROUP BY user_id
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::event_groups::{EventAggregate, EventGroups, EventRow, GroupEvaluator, state_fields};
use super::funnel_args::MAX_STEPS;
use super::grouped_rows::GroupedRows;
use super::one_group::OneGroup;
use super::sequence_pattern::{SequencePattern, TooSlow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Output {
    Match,
    Count,
}

/// The `sequence_match` and `sequence_count` aggregate functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceMatch {
    output: Output,
    signature: Signature,
}

/// `sequence_match` as a DataFusion aggregate.
pub fn sequence_match_udaf() -> Arc<AggregateUDF> {
    static UDAF: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(SequenceMatch::new(Output::Match)))))
}

/// `sequence_count` as a DataFusion aggregate.
pub fn sequence_count_udaf() -> Arc<AggregateUDF> {
    static UDAF: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| Arc::new(AggregateUDF::from(SequenceMatch::new(Output::Count)))))
}

const TS: usize = 1;

impl SequenceMatch {
    fn new(output: Output) -> Self {
        SequenceMatch {
            output,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// The aggregate these arguments make, apart from any accumulator.
    pub(crate) fn event_aggregate(&self, args: &AccumulatorArgs) -> Result<EventAggregate> {
        let name = self.name();
        let pattern = match (*args.exprs[0])
            .downcast_ref::<Literal>()
            .map(Literal::value)
        {
            Some(ScalarValue::Utf8(Some(p)))
            | Some(ScalarValue::Utf8View(Some(p)))
            | Some(ScalarValue::LargeUtf8(Some(p))) => p.clone(),
            _ => return plan_err!("{name}: the pattern must be a constant string"),
        };
        let units_per_second = match args.expr_fields[TS].data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => 1,
            DataType::Timestamp(TimeUnit::Millisecond, _) => 1_000,
            DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000_000,
            DataType::Timestamp(TimeUnit::Nanosecond, _) => 1_000_000_000,
            _ => 1,
        };
        let conditions = args.exprs.len() - TS - 1;
        let pattern = match SequencePattern::parse(&pattern, conditions, units_per_second) {
            Ok(pattern) => pattern,
            Err(reason) => return plan_err!("{name}: {reason}"),
        };
        let null_when_unseen = args.expr_fields[TS..].iter().any(|f| f.is_nullable());
        let evaluator = SequenceEvaluator {
            name: name.to_string(),
            output: self.output,
            pattern,
        };
        Ok(EventAggregate::new(evaluator, TS, null_when_unseen))
    }
}

impl AggregateUDFImpl for SequenceMatch {
    fn name(&self) -> &str {
        match self.output {
            Output::Match => "sequence_match",
            Output::Count => "sequence_count",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        if arg_types.len() < 3 || arg_types.len() > MAX_STEPS + 2 {
            return plan_err!(
                "{name} expects (pattern, ts, cond1, ..., condN) with 1 to {MAX_STEPS} conditions"
            );
        }
        let mut coerced = arg_types.to_vec();
        if !matches!(
            arg_types[0],
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) {
            return plan_err!("{name}: the pattern must be a string, got {}", arg_types[0]);
        }
        match &arg_types[TS] {
            DataType::Timestamp(_, _) => {}
            t if t.is_integer() => coerced[TS] = DataType::Int64,
            t => return plan_err!("{name}: ts must be a TIMESTAMP or an integer, got {t}"),
        }
        for (i, t) in arg_types.iter().enumerate().skip(TS + 1) {
            match t {
                DataType::Boolean | DataType::Null => coerced[i] = DataType::Boolean,
                t => return plan_err!("{name}: condition {} must be BOOLEAN, got {t}", i - TS),
            }
        }
        Ok(coerced)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            Output::Match => DataType::Boolean,
            Output::Count => DataType::Int64,
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

/// Sorts each group's events by time (stably) and runs the pattern.
#[derive(Debug)]
struct SequenceEvaluator {
    name: String,
    output: Output,
    pattern: SequencePattern,
}

impl GroupEvaluator for SequenceEvaluator {
    fn keeps_noise(&self) -> bool {
        false
    }

    fn evaluate(&self, groups: &GroupedRows, valid: &dyn Fn(usize) -> bool) -> Result<ArrayRef> {
        let too_slow = |_: TooSlow| {
            DataFusionError::Execution(format!(
                "{}: the pattern is too difficult to apply (over 1,000,000 steps)",
                self.name
            ))
        };
        let run = |i: usize, rows: &[EventRow]| -> Result<Option<i64>> {
            if !valid(i) {
                return Ok(None);
            }
            let met = rows.iter().fold(0, |m, e| m | e.mask);
            Ok(Some(match self.output {
                Output::Match => i64::from(self.pattern.matches(rows, met).map_err(too_slow)?),
                Output::Count => self.pattern.count(rows, met).map_err(too_slow)?,
            }))
        };
        let values: Vec<Option<i64>> = groups
            .iter()
            .enumerate()
            .map(|(i, rows)| run(i, rows))
            .collect::<Result<_>>()?;
        Ok(match self.output {
            Output::Match => Arc::new(
                values
                    .into_iter()
                    .map(|v| v.map(|v| v != 0))
                    .collect::<BooleanArray>(),
            ),
            Output::Count => Arc::new(Int64Array::from(values)),
        })
    }
}
