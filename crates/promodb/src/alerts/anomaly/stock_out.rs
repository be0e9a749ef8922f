//! The stock-out forecast that knows the promo's day curve: a SKU's recent sales, scaled
//! by last year's demand curve ahead, against its stock.
//!
//! A sell rate over the last minutes extrapolated flat overestimates demand after the
//! midnight spike and in the evening decline, and underestimates it before a peak. Here a
//! SKU's *level* is its units over the trailing 30 minutes divided by last year's units
//! (all SKUs) over the same minutes of its promo; its expected sales over the next `h`
//! minutes are that level times last year's units over those minutes. The forecast
//! fires when the stock (the latest snapshot per warehouse, summed) is at most the sales
//! expected within the lead, and at once when it is zero. Once at risk, a SKU stays at
//! risk while it would run out within 1.5 x the lead, so that a forecast hovering at the
//! lead does not clear and re-raise the warning.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::LogicalPlan;

use super::definition::{Measure, PromoCalendar};
use super::detector::REFRESH_MINUTES;
use super::series::{MinuteGrid, MinuteQuery, measure_error, micros, tables_of, time_bound};
use crate::PromoDb;
use crate::error::Result;
use crate::query::collect;
use crate::schema::Table;

/// Trailing minutes a SKU's sales level is measured over.
const LEVEL_MINUTES: i64 = 45;
/// A SKU at risk stays at risk while its stock lasts less than this many leads.
const STAY_LEADS: f64 = 1.5;
/// Last year's curve is smoothed by a running mean over +-this many minutes.
const CURVE_SMOOTH: usize = 5;

/// One SKU forecast to run out within the lead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StockOutRisk {
    pub(crate) minutes: f64,
    pub(crate) on_hand: f64,
}

/// The forecaster's state: plans, last year's curve, sales per SKU, the latest stock.
#[derive(Debug)]
pub(crate) struct StockOutForecaster {
    calendar: PromoCalendar,
    lead: i64,
    sales_query: MinuteQuery,
    sales: MinuteGrid,
    stock_query: LogicalPlan,
    /// (sku, warehouse) -> (snapshot µs, on_hand) of the latest snapshot.
    stock: HashMap<(String, String), (i64, f64)>,
    /// Last year's units per minute of its promo, smoothed.
    curve: Vec<f64>,
    /// Start of the inventory rows read next; `None` before the first evaluation.
    stock_from: Option<DateTime<Utc>>,
    tick: i64,
    risks: BTreeMap<String, StockOutRisk>,
}

impl StockOutForecaster {
    /// Plans its queries and reads last year's curve from `last_year_orders`.
    pub(crate) async fn prepare(
        db: &PromoDb,
        name: &str,
        calendar: PromoCalendar,
        lead: Duration,
    ) -> Result<StockOutForecaster> {
        let units = Measure::new("orders", "sum(qty)").per("sku_id");
        let sales_query = MinuteQuery::plan(db, &units)
            .await
            .map_err(|e| measure_error(name, e))?;
        let last_year = MinuteQuery::plan(db, &Measure::new("last_year_orders", "sum(qty)"))
            .await
            .map_err(|e| measure_error(name, e))?;
        let mut history = MinuteGrid::new(1);
        let minutes = Duration::days(366).num_minutes();
        history
            .refresh(db, &last_year, calendar.last_year_start, 0, minutes)
            .await?;
        let curve = running_mean(history.column("", 0), CURVE_SMOOTH);
        let stock_query = db
            .dataframe(
                "SELECT CAST(sku_id AS VARCHAR) AS sku, warehouse, max(ts) AS ts, \
                        arg_max(on_hand, ts) AS on_hand \
                 FROM inventory WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2",
            )
            .await
            .map_err(|e| measure_error(name, e))?
            .logical_plan()
            .clone();
        Ok(StockOutForecaster {
            calendar,
            lead: lead.num_minutes().max(1),
            sales_query,
            sales: MinuteGrid::new(1),
            stock_query,
            stock: HashMap::new(),
            curve,
            stock_from: None,
            tick: 0,
            risks: BTreeMap::new(),
        })
    }

    /// The canonical tables it reads.
    pub(crate) fn tables(&self) -> Vec<Table> {
        tables_of([self.sales_query.logical_plan(), &self.stock_query])
    }

    /// The SKUs at risk at `now` (decided once per closed minute), reading only the
    /// last few minutes of orders and inventory (all of them at the first call).
    pub(crate) async fn evaluate(
        &mut self,
        db: &PromoDb,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, StockOutRisk>> {
        let start = self.calendar.start;
        let tick = (now - start).num_minutes();
        if tick <= self.tick {
            return Ok(self.risks.clone());
        }
        let until = start + Duration::minutes(tick);
        let from = (self.tick - REFRESH_MINUTES).max(0);
        self.sales
            .refresh(db, &self.sales_query, start, from, tick)
            .await?;
        let stock_from = self.stock_from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        self.read_stock(db, stock_from, until).await?;
        self.stock_from = Some(until - Duration::minutes(REFRESH_MINUTES));
        self.tick = tick;
        self.risks = self.forecast(tick);
        Ok(self.risks.clone())
    }

    async fn read_stock(
        &mut self,
        db: &PromoDb,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<()> {
        let frame = DataFrame::new(db.session().state(), self.stock_query.clone())
            .with_param_values(vec![time_bound(from), time_bound(to)])?;
        let batches = collect(frame).await?;
        for batch in &batches {
            let skus = cast(batch.column(0), &DataType::Utf8)?;
            let warehouses = cast(batch.column(1), &DataType::Utf8)?;
            let times = micros(batch.column(2))?;
            let on_hand = cast(batch.column(3), &DataType::Float64)?;
            let (skus, warehouses) = (skus.as_string::<i32>(), warehouses.as_string::<i32>());
            let times = times.as_primitive::<Int64Type>();
            let on_hand = on_hand.as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                if skus.is_null(row) || warehouses.is_null(row) || on_hand.is_null(row) {
                    continue;
                }
                let slot = (
                    skus.value(row).to_string(),
                    warehouses.value(row).to_string(),
                );
                let latest = (times.value(row), on_hand.value(row));
                let entry = self.stock.entry(slot).or_insert(latest);
                if latest.0 >= entry.0 {
                    *entry = latest;
                }
            }
        }
        Ok(())
    }

    /// Every SKU whose stock lasts less than the lead at tick `tick` (1.5 x the lead if
    /// it was at risk before).
    fn forecast(&self, tick: i64) -> BTreeMap<String, StockOutRisk> {
        let mut on_hand: HashMap<&str, f64> = HashMap::new();
        for ((sku, _), (_, units)) in &self.stock {
            *on_hand.entry(sku.as_str()).or_default() += units;
        }
        let from = (tick - LEVEL_MINUTES).max(0);
        let curve_at = |minute: i64| -> f64 {
            let index = usize::try_from(minute).unwrap_or(0);
            self.curve
                .get(index)
                .or(self.curve.last())
                .copied()
                .unwrap_or(1.0)
                .max(1e-6)
        };
        let recent_curve: f64 = (from..tick).map(curve_at).sum();
        let stay = (self.lead as f64 * STAY_LEADS).ceil() as i64;
        let ahead: Vec<f64> = (tick..tick + stay).map(curve_at).collect();
        let mut risks = BTreeMap::new();
        for (sku, stock) in on_hand {
            let minutes = if stock <= 0.0 {
                Some(0.0)
            } else {
                let sold: f64 = self.sales.span(sku, 0, from, tick - 1).iter().sum();
                let level = sold / recent_curve.max(1e-6);
                minutes_until(stock, level, &ahead)
            };
            let limit = if self.risks.contains_key(sku) {
                stay
            } else {
                self.lead
            };
            if let Some(minutes) = minutes.filter(|m| *m < limit as f64) {
                risks.insert(
                    sku.to_string(),
                    StockOutRisk {
                        minutes,
                        on_hand: stock,
                    },
                );
            }
        }
        risks
    }
}

/// Minutes until `stock` is sold at `level` x the curve `ahead` (fractional within the
/// minute it runs out), or `None` if it lasts through `ahead`.
fn minutes_until(stock: f64, level: f64, ahead: &[f64]) -> Option<f64> {
    if level <= 0.0 {
        return None;
    }
    let mut sold = 0.0;
    for (minute, curve) in ahead.iter().enumerate() {
        let this_minute = level * curve;
        if sold + this_minute >= stock {
            return Some(minute as f64 + (stock - sold) / this_minute);
        }
        sold += this_minute;
    }
    None
}

/// Centred running mean over +-`half` (fewer values at the ends).
fn running_mean(x: &[f64], half: usize) -> Vec<f64> {
    (0..x.len())
        .map(|m| {
            let lo = m.saturating_sub(half);
            let hi = (m + half + 1).min(x.len());
            x[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_runs_out_when_the_curve_ahead_sells_it() {
        // 10 units, 2 per minute at a flat curve: 5 minutes.
        assert_eq!(minutes_until(10.0, 2.0, &[1.0; 30]), Some(5.0));
        // The curve halves after 2 minutes: 4 sold, then 1 per minute: 8 minutes.
        let mut ahead = vec![1.0, 1.0];
        ahead.extend([0.5; 28]);
        assert_eq!(minutes_until(10.0, 2.0, &ahead), Some(8.0));
        assert_eq!(minutes_until(100.0, 2.0, &[1.0; 30]), None);
        assert_eq!(minutes_until(10.0, 0.0, &[1.0; 30]), None);
    }

    #[test]
    fn running_mean_shrinks_at_the_ends() {
        assert_eq!(
            running_mean(&[3.0, 0.0, 0.0, 3.0], 1),
            vec![1.5, 1.0, 1.0, 1.5]
        );
    }
}
