//! `date_trunc` with an arithmetic path for UTC timestamps.
//!
//! DataFusion 55 truncates a timestamp with a time zone to the hour or the day through
//! chrono, value by value (formatting as it goes): 8% of a 600k-row hourly rollup's
//! time, plus as much again in string formatting. In UTC an hour and a day are fixed
//! lengths, so promodb, whose timestamps are all UTC, truncates them with integer
//! arithmetic, like DataFusion already does for seconds and minutes.
//!
//! Seconds and minutes (of any zone, as DataFusion does them) take the same path, with
//! the step a constant for each unit and granularity: DataFusion divides by a step it
//! reads at run time, one integer division per value, 6% of the per-minute KPI query
//! (perf). Everything else (other zones for hours and days, weeks, months, quarters,
//! years, other types) goes to DataFusion's own `date_trunc` ([`BuiltinWithFastPath`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use super::builtin_fast_path::BuiltinWithFastPath;

/// `date_trunc` as registered in every promodb session (it replaces the built-in):
/// DataFusion's, with UTC hours and days done by arithmetic.
pub fn utc_date_trunc_udf() -> Arc<ScalarUDF> {
    static UDF: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDF.get_or_init(|| {
        let inner = datafusion::functions::datetime::date_trunc()
            .as_ref()
            .clone();
        Arc::new(ScalarUDF::from(BuiltinWithFastPath::new(
            inner,
            arithmetic_path,
        )))
    }))
}

/// The truncation when it is a second or a minute of a timestamp, or an hour or a day of
/// a UTC (or zoneless) timestamp; `None` otherwise.
fn arithmetic_path(args: &[ColumnarValue]) -> Option<ColumnarValue> {
    let [granularity, value] = args else {
        return None;
    };
    let (seconds, any_zone) = match granularity {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(g))
            | ScalarValue::Utf8View(Some(g))
            | ScalarValue::LargeUtf8(Some(g)),
        ) => match g.to_ascii_lowercase().as_str() {
            "second" => (1, true),
            "minute" => (60, true),
            "hour" => (3_600, false),
            "day" => (86_400, false),
            _ => return None,
        },
        _ => return None,
    };
    let DataType::Timestamp(unit, zone) = value.data_type() else {
        return None;
    };
    if !any_zone && zone.as_deref().is_some_and(|zone| !is_utc(zone)) {
        return None;
    }
    let step = seconds * per_second(unit);
    match value {
        ColumnarValue::Array(array) => {
            let truncated: ArrayRef = match unit {
                TimeUnit::Second => truncate::<TimestampSecondType>(array, zone, step),
                TimeUnit::Millisecond => truncate::<TimestampMillisecondType>(array, zone, step),
                TimeUnit::Microsecond => truncate::<TimestampMicrosecondType>(array, zone, step),
                TimeUnit::Nanosecond => truncate::<TimestampNanosecondType>(array, zone, step),
            };
            Some(ColumnarValue::Array(truncated))
        }
        ColumnarValue::Scalar(scalar) => {
            let floor = |v: i64| floor_to(v, step);
            let truncated = match scalar {
                ScalarValue::TimestampSecond(v, tz) => {
                    ScalarValue::TimestampSecond(v.map(floor), tz.clone())
                }
                ScalarValue::TimestampMillisecond(v, tz) => {
                    ScalarValue::TimestampMillisecond(v.map(floor), tz.clone())
                }
                ScalarValue::TimestampMicrosecond(v, tz) => {
                    ScalarValue::TimestampMicrosecond(v.map(floor), tz.clone())
                }
                ScalarValue::TimestampNanosecond(v, tz) => {
                    ScalarValue::TimestampNanosecond(v.map(floor), tz.clone())
                }
                _ => return None,
            };
            Some(ColumnarValue::Scalar(truncated))
        }
    }
}

/// `v` floored to a multiple of `step`.
#[inline(always)]
fn floor_to(v: i64, step: i64) -> i64 {
    v - v.rem_euclid(step)
}

/// Each value of `array` floored to a multiple of `step` (seconds, minutes, hours or
/// days in the array's unit), with the step a constant where it is one of those.
fn truncate<T: ArrowTimestampType>(
    array: &ArrayRef,
    zone: Option<Arc<str>>,
    step: i64,
) -> ArrayRef {
    let values = array.as_primitive::<T>();
    macro_rules! constant_steps {
        ($($step:literal),*) => {
            match step {
                $($step => values.values().iter().map(|&v| floor_to(v, $step)).collect(),)*
                _ => values.values().iter().map(|&v| floor_to(v, step)).collect(),
            }
        };
    }
    let truncated: Vec<i64> = constant_steps!(
        1,
        60,
        3_600,
        86_400,
        1_000,
        60_000,
        3_600_000,
        86_400_000,
        1_000_000,
        60_000_000,
        3_600_000_000,
        86_400_000_000,
        1_000_000_000,
        60_000_000_000,
        3_600_000_000_000,
        86_400_000_000_000
    );
    let truncated =
        PrimitiveArray::<T>::new(truncated.into(), values.nulls().cloned()).with_timezone_opt(zone);
    Arc::new(truncated)
}

fn is_utc(zone: &str) -> bool {
    matches!(zone, "UTC" | "utc" | "Z" | "+00:00" | "+0000" | "Etc/UTC")
}

fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    #[test]
    fn utc_hours_and_days_take_the_arithmetic_path() {
        let at = |v: i64, tz: &str| {
            ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(Some(v), Some(tz.into())))
        };
        let unit = |g: &str| ColumnarValue::Scalar(ScalarValue::Utf8(Some(g.into())));
        // 1969-12-31T22:30:00Z, before the epoch: floors to 22:00 and to the day.
        let t = -90 * 60 * 1_000_000;
        let hour = arithmetic_path(&[unit("hour"), at(t, "UTC")]);
        assert!(
            matches!(hour, Some(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(Some(v), _))) if v == -7_200_000_000)
        );
        let day = arithmetic_path(&[unit("Day"), at(t, "+00:00")]);
        assert!(
            matches!(day, Some(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(Some(v), _))) if v == -86_400_000_000)
        );
        // Minutes and seconds of any zone are arithmetic too (as DataFusion's).
        let minute = arithmetic_path(&[unit("MINUTE"), at(t + 59_999_999, "Asia/Kathmandu")]);
        assert!(
            matches!(minute, Some(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(Some(v), Some(tz)))) if v == t && &*tz == "Asia/Kathmandu")
        );
        assert!(arithmetic_path(&[unit("second"), at(t, "Asia/Shanghai")]).is_some());
        // Hours and days of other zones, and other granularities, go to DataFusion.
        assert!(arithmetic_path(&[unit("hour"), at(t, "Asia/Shanghai")]).is_none());
        assert!(arithmetic_path(&[unit("month"), at(t, "UTC")]).is_none());
        assert!(arithmetic_path(&[unit("millisecond"), at(t, "UTC")]).is_none());
    }

    /// The fast path and DataFusion's own give the same result, on both sides of the
    /// epoch, for every unit, every granularity it takes and some it leaves, in UTC, in
    /// other zones and without one, arrays and scalars, NULLs included.
    #[tokio::test]
    async fn agrees_with_datafusions_date_trunc() {
        let builtin = SessionContext::new();
        let ours = SessionContext::new();
        ours.register_udf(utc_date_trunc_udf().as_ref().clone());
        let rows = "(VALUES (TIMESTAMP '2026-11-11T23:59:59.999999999'), (TIMESTAMP '1969-12-31T22:30:00'), \
                    (NULL), (TIMESTAMP '2026-11-11T00:00:00')) AS v(t)";
        let zones = [" AT TIME ZONE 'UTC'", "", " AT TIME ZONE 'Asia/Kathmandu'"];
        let conversions = [
            "to_timestamp_seconds",
            "to_timestamp_millis",
            "to_timestamp_micros",
            "to_timestamp_nanos",
        ];
        let granularities = [
            "hour",
            "day",
            "HOUR",
            "minute",
            "Second",
            "month",
            "week",
            "millisecond",
        ];
        for (zone, convert) in zones
            .iter()
            .flat_map(|zone| conversions.iter().map(move |convert| (zone, convert)))
        {
            for granularity in granularities {
                let column = format!(
                    "SELECT date_trunc('{granularity}', {convert}(t){zone}) AS d FROM {rows}"
                );
                let scalar = format!(
                    "SELECT date_trunc('{granularity}', {convert}(TIMESTAMP '1969-07-20T20:17:40.123456789'){zone}) AS d"
                );
                for sql in [column, scalar] {
                    let expected = builtin.sql(&sql).await.unwrap().collect().await.unwrap();
                    let actual = ours.sql(&sql).await.unwrap().collect().await.unwrap();
                    assert_eq!(
                        datafusion::arrow::util::pretty::pretty_format_batches(&expected)
                            .unwrap()
                            .to_string(),
                        datafusion::arrow::util::pretty::pretty_format_batches(&actual)
                            .unwrap()
                            .to_string(),
                        "{sql}"
                    );
                    let schema =
                        |batches: &[datafusion::arrow::array::RecordBatch]| batches[0].schema();
                    assert_eq!(schema(&expected), schema(&actual), "{sql}");
                }
            }
        }
    }
}
