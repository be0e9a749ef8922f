//! The arguments of `window_funnel` and `window_funnel_times`:
//! `(window, [mode,] ts, cond1, ..., condN)`.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use super::funnel_scan::{FunnelModes, FunnelSpec};

/// Most conditions a funnel takes (as ClickHouse).
pub(crate) const MAX_STEPS: usize = 32;

/// Where the arguments are, from their types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FunnelLayout {
    /// Index of the mode string, if given.
    pub(crate) mode: Option<usize>,
    /// Index of `ts`.
    pub(crate) ts: usize,
    /// Number of conditions (they follow `ts`).
    pub(crate) steps: usize,
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

impl FunnelLayout {
    pub(crate) fn of(name: &str, types: &[DataType]) -> Result<FunnelLayout> {
        let mode = types.get(1).is_some_and(is_string).then_some(1);
        let ts = if mode.is_some() { 2 } else { 1 };
        if types.len() < ts + 2 {
            return plan_err!(
                "{name} expects (window, [mode,] ts, cond1, ..., condN) with at least one condition"
            );
        }
        let steps = types.len() - ts - 1;
        if steps > MAX_STEPS {
            return plan_err!("{name} takes at most {MAX_STEPS} conditions, got {steps}");
        }
        Ok(FunnelLayout { mode, ts, steps })
    }

    /// Checks and coerces argument types: an INTERVAL or integer window, a string mode, a
    /// TIMESTAMP of any unit or an integer `ts` (as BIGINT), BOOLEAN conditions.
    pub(crate) fn coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
        let layout = FunnelLayout::of(name, types)?;
        let mut coerced = types.to_vec();
        match &types[0] {
            DataType::Interval(_) => {}
            t if t.is_integer() => coerced[0] = DataType::Int64,
            t => return plan_err!("{name}: the window must be an INTERVAL or an integer, got {t}"),
        }
        match &types[layout.ts] {
            DataType::Timestamp(_, _) => {}
            t if t.is_integer() => coerced[layout.ts] = DataType::Int64,
            t => return plan_err!("{name}: ts must be a TIMESTAMP or an integer, got {t}"),
        }
        for (i, t) in types.iter().enumerate().skip(layout.ts + 1) {
            match t {
                DataType::Boolean | DataType::Null => coerced[i] = DataType::Boolean,
                t => {
                    return plan_err!(
                        "{name}: condition {} must be BOOLEAN, got {t}",
                        i - layout.ts
                    );
                }
            }
        }
        Ok(coerced)
    }

    /// The scan settings from the constant window and mode arguments.
    pub(crate) fn spec(
        &self,
        name: &str,
        exprs: &[std::sync::Arc<dyn PhysicalExpr>],
        ts_type: &DataType,
    ) -> Result<FunnelSpec> {
        let modes = match self.mode {
            None => FunnelModes::default(),
            Some(i) => match constant(&exprs[i]) {
                Some(ScalarValue::Utf8(Some(s)))
                | Some(ScalarValue::Utf8View(Some(s)))
                | Some(ScalarValue::LargeUtf8(Some(s))) => match FunnelModes::parse(s) {
                    Ok(modes) => modes,
                    Err(reason) => return plan_err!("{name}: {reason}"),
                },
                _ => return plan_err!("{name}: the mode must be a constant string"),
            },
        };
        let window = match constant(&exprs[0]) {
            Some(value) => window_in_ts_units(name, value, ts_type)?,
            None => return plan_err!("{name}: the window must be a constant"),
        };
        Ok(FunnelSpec {
            window,
            steps: self.steps,
            modes,
        })
    }
}

fn constant(expr: &std::sync::Arc<dyn PhysicalExpr>) -> Option<&ScalarValue> {
    (**expr).downcast_ref::<Literal>().map(Literal::value)
}

/// Nanoseconds per unit of `ts`.
fn nanos_per_unit(unit: TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// The window in the unit of `ts`: an integer means seconds for a TIMESTAMP, the integer's
/// own unit for an integer `ts`; an INTERVAL (days and smaller) needs a TIMESTAMP.
fn window_in_ts_units(name: &str, value: &ScalarValue, ts_type: &DataType) -> Result<i64> {
    let unit = match ts_type {
        DataType::Timestamp(unit, _) => Some(*unit),
        _ => None,
    };
    let nanos: i128 = match value {
        ScalarValue::Int64(Some(v)) => match unit {
            Some(_) => i128::from(*v) * 1_000_000_000,
            None => {
                if *v < 0 {
                    return plan_err!("{name}: the window must not be negative");
                }
                return Ok(*v);
            }
        },
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            i128::from(v.days) * 86_400_000_000_000 + i128::from(v.nanoseconds)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            i128::from(v.days) * 86_400_000_000_000 + i128::from(v.milliseconds) * 1_000_000
        }
        ScalarValue::IntervalYearMonth(Some(0)) => 0,
        ScalarValue::IntervalMonthDayNano(Some(_)) | ScalarValue::IntervalYearMonth(Some(_)) => {
            return plan_err!(
                "{name}: the window must not count months or years (they vary in length)"
            );
        }
        other => {
            return plan_err!("{name}: the window must be an INTERVAL or an integer, got {other}");
        }
    };
    let Some(unit) = unit else {
        return plan_err!(
            "{name}: an INTERVAL window needs a TIMESTAMP ts; give an integer window in ts units"
        );
    };
    if nanos < 0 {
        return plan_err!("{name}: the window must not be negative");
    }
    i64::try_from(nanos / nanos_per_unit(unit))
        .or_else(|_| plan_err!("{name}: the window is too large"))
}
