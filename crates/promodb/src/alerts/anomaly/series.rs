//! Per-minute series read with SQL: one plan per measure, run over a time range.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::LogicalPlan;
use datafusion::scalar::ScalarValue;

use super::definition::Measure;
use crate::PromoDb;
use crate::error::{Error, Result};
use crate::query::{collect, tables_read};
use crate::schema::Table;

const MINUTE_MICROS: i64 = 60_000_000;

/// A measure's query, planned once with the time range as parameters (`$1 <= ts < $2`).
#[derive(Debug)]
pub(crate) struct MinuteQuery {
    plan: LogicalPlan,
    values: usize,
}

impl MinuteQuery {
    /// Plans `measure`; an error names what did not plan.
    pub(crate) async fn plan(db: &PromoDb, measure: &Measure) -> Result<MinuteQuery> {
        let key = match &measure.key {
            Some(key) => format!("CAST({key} AS VARCHAR)"),
            None => "''".to_string(),
        };
        let values: Vec<String> = measure
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("CAST({v} AS DOUBLE) AS v{i}"))
            .collect();
        let mut filters = vec!["ts >= $1".to_string(), "ts < $2".to_string()];
        if let Some(key) = &measure.key {
            filters.push(format!("({key}) IS NOT NULL"));
        }
        if let Some(filter) = &measure.filter {
            filters.push(format!("({filter})"));
        }
        let sql = format!(
            "SELECT date_trunc('minute', ts) AS minute, {key} AS key, {} FROM {} WHERE {} \
             GROUP BY 1, 2",
            values.join(", "),
            measure.table,
            filters.join(" AND ")
        );
        let frame = db.dataframe(&sql).await?;
        Ok(MinuteQuery {
            plan: frame.logical_plan().clone(),
            values: measure.values.len(),
        })
    }

    /// Its plan.
    pub(crate) fn logical_plan(&self) -> &LogicalPlan {
        &self.plan
    }

    /// The measure per (key, minute) over `from <= ts < to`: calls `row(key, minute
    /// start in µs, values)` for each.
    pub(crate) async fn read(
        &self,
        db: &PromoDb,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut row: impl FnMut(&str, i64, &[f64]),
    ) -> Result<()> {
        let frame = DataFrame::new(db.session().state(), self.plan.clone())
            .with_param_values(vec![time_bound(from), time_bound(to)])?;
        let batches = collect(frame).await?;
        let mut values = vec![0.0; self.values];
        for batch in &batches {
            let minutes = micros(batch.column(0))?;
            let minutes = minutes.as_primitive::<Int64Type>();
            let keys = cast(batch.column(1), &DataType::Utf8)?;
            let keys = keys.as_string::<i32>();
            let columns: Vec<_> = (0..self.values)
                .map(|i| cast(batch.column(2 + i), &DataType::Float64))
                .collect::<std::result::Result<_, _>>()?;
            for r in 0..batch.num_rows() {
                if minutes.is_null(r) || keys.is_null(r) {
                    continue;
                }
                for (value, column) in values.iter_mut().zip(&columns) {
                    let column = column.as_primitive::<Float64Type>();
                    *value = if column.is_valid(r) {
                        column.value(r)
                    } else {
                        0.0
                    };
                }
                row(keys.value(r), minutes.value(r), &values);
            }
        }
        Ok(())
    }
}

/// A timestamp column (any unit) as microseconds since the epoch.
pub(crate) fn micros(column: &ArrayRef) -> Result<ArrayRef> {
    let timestamps = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    Ok(cast(&timestamps, &DataType::Int64)?)
}

/// A time-range parameter (`$1`, `$2`) of a planned query.
pub(crate) fn time_bound(at: DateTime<Utc>) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(at.timestamp_micros()), Some("UTC".into()))
}

/// The canonical tables some plans read, each once.
pub(crate) fn tables_of<'a>(plans: impl IntoIterator<Item = &'a LogicalPlan>) -> Vec<Table> {
    let mut tables: Vec<Table> = plans.into_iter().flat_map(tables_read).collect();
    tables.sort_by_key(|t| t.name());
    tables.dedup();
    tables
}

/// Per-minute values per key, indexed by whole minutes since an origin. Minutes with no
/// row are 0.
#[derive(Debug, Clone, Default)]
pub(crate) struct MinuteGrid {
    /// key -> value index -> minute -> value.
    series: HashMap<String, Vec<Vec<f64>>>,
    values: usize,
}

impl MinuteGrid {
    pub(crate) fn new(values: usize) -> MinuteGrid {
        MinuteGrid {
            series: HashMap::new(),
            values,
        }
    }

    /// Reads `query` over minutes `from..to` since `origin`, replacing what they held.
    pub(crate) async fn refresh(
        &mut self,
        db: &PromoDb,
        query: &MinuteQuery,
        origin: DateTime<Utc>,
        from: i64,
        to: i64,
    ) -> Result<()> {
        for columns in self.series.values_mut() {
            for column in columns.iter_mut() {
                let lo = (from.max(0) as usize).min(column.len());
                column[lo..].iter_mut().for_each(|v| *v = 0.0);
            }
        }
        let at = |minute: i64| origin + chrono::Duration::minutes(minute);
        let origin_us = origin.timestamp_micros();
        let width = self.values;
        let series = &mut self.series;
        query
            .read(db, at(from), at(to), |key, minute_us, values| {
                let minute = (minute_us - origin_us).div_euclid(MINUTE_MICROS);
                let Ok(minute) = usize::try_from(minute) else {
                    return;
                };
                let columns = series
                    .entry(key.to_string())
                    .or_insert_with(|| vec![Vec::new(); width]);
                for (column, value) in columns.iter_mut().zip(values) {
                    if column.len() <= minute {
                        column.resize(minute + 1, 0.0);
                    }
                    column[minute] += value;
                }
            })
            .await
    }

    /// The keys with data.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    /// Value `value` of `key` over minutes `lo..=hi` (0 before the origin and where absent).
    pub(crate) fn span(&self, key: &str, value: usize, lo: i64, hi: i64) -> Vec<f64> {
        let column = self.series.get(key).and_then(|c| c.get(value));
        (lo..=hi)
            .map(|m| {
                usize::try_from(m)
                    .ok()
                    .and_then(|m| column.and_then(|c| c.get(m)))
                    .copied()
                    .unwrap_or(0.0)
            })
            .collect()
    }

    /// The whole series of `key`'s value `value`, from minute 0.
    pub(crate) fn column(&self, key: &str, value: usize) -> &[f64] {
        self.series
            .get(key)
            .and_then(|c| c.get(value))
            .map_or(&[], Vec::as_slice)
    }
}

/// Error for a measure that does not plan, naming the rule.
pub(crate) fn measure_error(rule: &str, error: Error) -> Error {
    Error::InvalidArgument(format!("alert rule '{rule}': measure: {error}"))
}
