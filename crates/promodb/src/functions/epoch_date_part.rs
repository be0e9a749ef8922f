//! `date_part` with a one-pass path for the epoch of a duration.
//!
//! War-room queries align hours by their offset from the promo's start:
//! `date_part('epoch', date_trunc('hour', ts) - TIMESTAMP '2026-11-11T00:00:00Z') / 3600`.
//! DataFusion 55 computes the epoch of a duration as two `date_part` passes (whole
//! seconds, then the duration in nanoseconds as `i32`) zipped together through
//! `Option` iterators: about a fifth of 11_last_year_by_offset (perf). promodb computes
//! the same values in one pass over the durations, with DataFusion's exact rules:
//! the whole seconds as `i32` (NULL if they do not fit), plus the fraction of a second
//! only when the whole duration in nanoseconds fits an `i32` (about 2.1 s; longer
//! durations lose their fraction, as in DataFusion). Everything else goes to
//! DataFusion's own `date_part` ([`BuiltinWithFastPath`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, TimeUnit,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarUDF};

use super::builtin_fast_path::BuiltinWithFastPath;

/// `date_part` as registered in every promodb session (it replaces the built-in):
/// DataFusion's, with the epoch of a duration array in one pass.
pub fn epoch_date_part_udf() -> Arc<ScalarUDF> {
    static UDF: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDF.get_or_init(|| {
        let inner = datafusion::functions::datetime::date_part()
            .as_ref()
            .clone();
        Arc::new(ScalarUDF::from(BuiltinWithFastPath::new(
            inner,
            epoch_of_durations,
        )))
    }))
}

/// Plans SQL's `EXTRACT(part FROM x)` as promodb's `date_part`, as DataFusion's
/// planner does with its own: so that `EXTRACT(hour FROM ts)` and `date_part('hour',
/// ts)` are the same expression (a `GROUP BY` of one matches a `SELECT` of the other),
/// and `EXTRACT(EPOCH FROM d)` takes the one-pass path. It comes before DataFusion's.
#[derive(Debug, Default)]
pub(crate) struct ExtractPlanner;

impl ExprPlanner for ExtractPlanner {
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(epoch_date_part_udf(), args),
        )))
    }
}

/// The epochs when `args` are `'epoch'` and an array of durations; `None` otherwise.
fn epoch_of_durations(args: &[ColumnarValue]) -> Option<ColumnarValue> {
    let [
        // DataFusion's `date_part` takes its part as `Utf8` or `Utf8View` only.
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(part)) | ScalarValue::Utf8View(Some(part))),
        ColumnarValue::Array(durations),
    ] = args
    else {
        return None;
    };
    // DataFusion strips one pair of quotes and compares in lower case.
    let part = part
        .strip_prefix(['\'', '"'])
        .and_then(|part| part.strip_suffix(['\'', '"']))
        .unwrap_or(part);
    if !part.eq_ignore_ascii_case("epoch") {
        return None;
    }
    let DataType::Duration(unit) = durations.data_type() else {
        return None;
    };
    Some(ColumnarValue::Array(match unit {
        TimeUnit::Second => epochs::<DurationSecondType>(durations, 1),
        TimeUnit::Millisecond => epochs::<DurationMillisecondType>(durations, 1_000),
        TimeUnit::Microsecond => epochs::<DurationMicrosecondType>(durations, 1_000_000),
        TimeUnit::Nanosecond => epochs::<DurationNanosecondType>(durations, 1_000_000_000),
    }))
}

/// The epoch of each duration of `per_second` units a second, by DataFusion's rules.
fn epochs<T: ArrowPrimitiveType<Native = i64>>(durations: &ArrayRef, per_second: i64) -> ArrayRef {
    let durations = durations.as_primitive::<T>();
    let nanos_per_unit = 1_000_000_000 / per_second;
    let whole_seconds = |duration: i64| i32::try_from(duration / per_second).ok();
    let epochs: Vec<f64> = durations
        .values()
        .iter()
        .map(|&duration| {
            let Some(seconds) = whole_seconds(duration) else {
                return 0.0;
            };
            let nanos = duration
                .checked_mul(nanos_per_unit)
                .and_then(|nanos| i32::try_from(nanos).ok())
                .unwrap_or(0);
            f64::from(seconds) + f64::from(nanos % 1_000_000_000) / 1_000_000_000.0
        })
        .collect();
    // Whole seconds beyond an i32 (68 years) are NULL.
    let in_range = BooleanBuffer::collect_bool(durations.len(), |row| {
        whole_seconds(durations.value(row)).is_some()
    });
    let nulls = NullBuffer::union(durations.nulls(), Some(&NullBuffer::new(in_range)));
    Arc::new(Float64Array::new(epochs.into(), nulls))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// The one-pass path and DataFusion's own give the same epochs for every unit, both
    /// signs, fractions kept (under 2.1 s) and dropped, seconds beyond an `i32`, NULLs,
    /// and any spelling of `'epoch'`.
    #[tokio::test]
    async fn agrees_with_datafusions_date_part() {
        let builtin = SessionContext::new();
        let ours = SessionContext::new();
        ours.register_udf(epoch_date_part_udf().as_ref().clone());
        let nanos = [
            "0",
            "1",
            "-1",
            "999999999",
            "1500000000",
            "-1500000000",
            "2147483647",
            "2147483648",
            "-2147483649",
            "3600000000123",
            "-86399999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "NULL",
        ];
        let rows = nanos
            .iter()
            .map(|n| format!("({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        for unit in ["Second", "Millisecond", "Microsecond", "Nanosecond"] {
            for part in ["epoch", "EPOCH", "''epoch''", "second"] {
                let sql = format!(
                    "SELECT n, date_part('{part}', arrow_cast(n, 'Duration({unit})')) AS e \
                     FROM (VALUES {rows}) AS v(n)"
                );
                let expected = builtin.sql(&sql).await.unwrap().collect().await.unwrap();
                let actual = ours.sql(&sql).await.unwrap().collect().await.unwrap();
                assert_eq!(expected[0].schema(), actual[0].schema(), "{sql}");
                let expected = pretty_format_batches(&expected).unwrap().to_string();
                assert_eq!(
                    expected,
                    pretty_format_batches(&actual).unwrap().to_string(),
                    "{sql}"
                );
                assert!(expected.lines().count() > nanos.len(), "{expected}");
            }
        }
    }

    /// `EXTRACT` and `date_part` plan to the same function in a promodb database, so a
    /// `GROUP BY` of one matches a `SELECT` of the other (`EXTRACT(hour ...)` passes its
    /// part as `'HOUR'`).
    #[test]
    fn extract_and_date_part_are_the_same_expression() {
        let db = crate::PromoDb::in_memory().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let rows = "(VALUES (TIMESTAMP '2026-11-11T01:30:00Z'), (TIMESTAMP '2026-11-11T01:45:00Z'), \
                    (TIMESTAMP '2026-11-11T02:00:00Z')) AS v(ts)";
        for sql in [
            format!(
                "SELECT EXTRACT(hour FROM ts) AS h, count(*) AS n FROM {rows} GROUP BY date_part('HOUR', ts) ORDER BY h"
            ),
            format!(
                "SELECT date_part('HOUR', ts) AS h, count(*) AS n FROM {rows} GROUP BY EXTRACT(hour FROM ts) ORDER BY h"
            ),
        ] {
            let batches = runtime.block_on(db.sql(&sql)).expect(&sql);
            let table = pretty_format_batches(&batches).unwrap().to_string();
            assert!(
                table.contains("| 1 | 2 |") && table.contains("| 2 | 1 |"),
                "{table}"
            );
        }
        let epoch = "SELECT EXTRACT(EPOCH FROM ts - TIMESTAMP '2026-11-11T00:00:00Z') AS e \
                     FROM (VALUES (TIMESTAMP '2026-11-11T01:30:00Z')) AS v(ts)";
        let batches = runtime.block_on(db.sql(epoch)).expect(epoch);
        assert!(
            pretty_format_batches(&batches)
                .unwrap()
                .to_string()
                .contains("5400.0")
        );
    }

    #[test]
    fn only_the_epoch_of_a_duration_array_takes_the_one_pass_path() {
        let durations: ArrayRef = Arc::new(
            datafusion::arrow::array::DurationMicrosecondArray::from(vec![Some(2_500_000), None]),
        );
        let epoch = |part: &str| ColumnarValue::Scalar(ScalarValue::Utf8(Some(part.into())));
        let column = ColumnarValue::Array(Arc::clone(&durations));
        let Some(ColumnarValue::Array(epochs)) =
            epoch_of_durations(&[epoch("Epoch"), column.clone()])
        else {
            panic!("the epoch of a duration array takes the one-pass path");
        };
        let epochs = epochs.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        // 2.5 s in nanoseconds does not fit an i32: the fraction is dropped.
        assert_eq!((epochs.value(0), epochs.is_null(1)), (2.0, true));
        assert!(epoch_of_durations(&[epoch("hour"), column.clone()]).is_none());
        let large = ColumnarValue::Scalar(ScalarValue::LargeUtf8(Some("epoch".into())));
        assert!(epoch_of_durations(&[large, column]).is_none());
        let scalar = ColumnarValue::Scalar(ScalarValue::DurationMicrosecond(Some(1)));
        assert!(epoch_of_durations(&[epoch("epoch"), scalar]).is_none());
    }
}
