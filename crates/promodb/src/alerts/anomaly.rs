//! Promo-aware anomaly rules: each minute of the promo against what it should have been.
//!
//! A rolling z-score on raw counts both misses real drops and fires at the promo's
//! midnight spike. These rules instead compare each interval with an expected value:
//!
//! - [`Anomaly::curve`]: last year's promo aligned by minute offset from its start (the
//!   [`PromoCalendar`]), smoothed, and scaled to this year's level (the median ratio over
//!   the trailing window). Traffic, orders, GMV (per unit: in orders of the average order
//!   value), and per key (channel...) as last year's total times the key's share.
//! - [`Anomaly::success_rate`]: successes among trials (payment attempts per method)
//!   against the trailing pooled rate, with last year's rate as a prior.
//! - [`Anomaly::conversion`] (efficiency): conversions per paid click of a channel against
//!   its own rate over the 4 hours before, judged only while its spend goes on.
//!
//! The newest interval's score is the signed deviance residual of its count against the
//! expected count (close to N(0, 1) down to counts of a few), made robust with the median
//! and the MAD of the trailing window's residuals. An interval breaches beyond `k` with a
//! minimum effect on the log-ratio; an instance fires after 2 consecutive breaching
//! intervals in the same direction (a spike or a drop, said in the alert), stays firing
//! while its z stays beyond `k_resolve`, and resolves after 5 ticks that do not. Series
//! whose expected count is too small are scored over longer intervals, or not at all.
//!
//! [`Rule::stock_out_forecast_by_curve`](crate::alerts::Rule::stock_out_forecast_by_curve)
//! forecasts stock-outs with the same curve: a SKU's recent sales scaled by last year's
//! demand ahead, so that the midnight spike and the evening decline do not mislead it.
//!
//! Evaluation is incremental: one decision per closed minute of event time, each reading
//! only the last [`REFRESH_MINUTES`](detector::REFRESH_MINUTES) minutes of the table (the
//! promo so far at the first), so its cost does not grow with history. docs/alerts.md has
//! the parameters, why they were chosen, and the measured quality.

mod builtin;
mod definition;
mod detector;
mod score;
mod series;
mod stats;
mod stock_out;

pub use definition::{Anomaly, AnomalyParams, Direction, Measure, PromoCalendar};
pub(crate) use detector::{Detector, Firing};
pub(crate) use stock_out::{StockOutForecaster, StockOutRisk};
