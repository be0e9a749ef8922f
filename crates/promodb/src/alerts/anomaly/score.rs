//! Scoring the newest interval of a series at one tick: against last year's curve, a
//! pooled success rate, or the key's own trailing conversion rate.

use std::collections::HashMap;

use super::definition::AnomalyParams;
use super::series::MinuteGrid;
use super::stats::{
    binomial_residual, median, poisson_residual, robust_centre_spread, sliding_sums,
    smoothed_interval_sums,
};

/// The newest interval's deviation from what was expected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Score {
    /// Robust z of the deviance residual (curve, rate), or the signed deviance of the
    /// two-rate comparison rescaled to the rule's k (benchmark).
    pub(crate) z: f64,
    /// `ln((actual + a) / (expected + a))`.
    pub(crate) log_ratio: f64,
    pub(crate) expected: f64,
    pub(crate) actual: f64,
    /// Minutes the interval spans.
    pub(crate) interval: u32,
}

/// What one interval length made of a tick.
enum Outcome {
    /// Too early (warm-up) or past the baseline: no decision at all.
    Undecided,
    /// Too little volume: try a longer interval.
    Thin,
    Scored(Score),
}

/// Tries the rule's intervals shortest first until one has the volume to decide.
fn first_decided(params: &AnomalyParams, mut at: impl FnMut(i64) -> Outcome) -> Option<Score> {
    for width in params.intervals() {
        match at(i64::from(width)) {
            Outcome::Thin => continue,
            Outcome::Undecided => return None,
            Outcome::Scored(score) => return Some(score),
        }
    }
    None
}

/// Robust z of the newest residual against the trailing ones; `None` for the spread
/// means "no history yet": centre 0, spread the floor.
fn robust_z(params: &AnomalyParams, residuals: &[f64], with_history: bool) -> f64 {
    let (newest, history) = residuals.split_last().unwrap_or((&0.0, &[]));
    let (centre, spread) = if with_history {
        robust_centre_spread(history, params.sigma_floor)
    } else {
        (0.0, params.sigma_floor)
    };
    (newest - centre) / spread
}

/// Last year's curve of one key, precomputed when the rule is added.
#[derive(Debug, Clone)]
pub(crate) struct CurveBaseline {
    /// Interval minutes -> smoothed expected sums per minute offset.
    sums: HashMap<u32, Vec<f64>>,
    /// Last year's raw values and units per minute (for per-unit scoring).
    value: Vec<f64>,
    units: Vec<f64>,
}

impl CurveBaseline {
    /// From last year's per-minute `curve` (a key's curve already scaled by its share).
    pub(crate) fn new(
        params: &AnomalyParams,
        curve: &[f64],
        value: Vec<f64>,
        units: Vec<f64>,
    ) -> CurveBaseline {
        let sums = params
            .intervals()
            .map(|width| {
                let sums = smoothed_interval_sums(curve, width as usize, params.smooth as usize);
                (width, sums)
            })
            .collect();
        CurveBaseline { sums, value, units }
    }
}

/// A count against last year's curve scaled to the current level (value 0 of `grid`;
/// value 1 is the units when `per_unit`).
pub(crate) fn score_curve(
    params: &AnomalyParams,
    baseline: &CurveBaseline,
    grid: &MinuteGrid,
    key: &str,
    tick: i64,
    per_unit: bool,
) -> Option<Score> {
    first_decided(params, |width| {
        let newest = tick - 1 - i64::from(params.settle);
        let first = (newest - i64::from(params.window) - width + 1).max(0);
        let intervals = newest - first + 1 - width;
        let Some(sums) = baseline.sums.get(&(width as u32)) else {
            return Outcome::Undecided;
        };
        if newest < width - 1 || intervals < i64::from(params.min_window) {
            return Outcome::Undecided;
        }
        if newest as usize >= sums.len() {
            return Outcome::Undecided;
        }
        let minutes = grid.span(key, 0, first, newest);
        let mut actual = sliding_sums(&minutes, width as usize);
        let mut expected = sums[(first + width - 1) as usize..=newest as usize].to_vec();
        if per_unit {
            let units: f64 = grid.span(key, 1, first, newest).iter().sum();
            let per_unit_now = minutes.iter().sum::<f64>() / units.max(1.0);
            let span = first as usize..=newest as usize;
            let last_value: f64 = baseline
                .value
                .get(span.clone())
                .map_or(0.0, |v| v.iter().sum());
            let last_units: f64 = baseline.units.get(span).map_or(0.0, |v| v.iter().sum());
            let per_unit_then = last_value / last_units.max(1.0);
            actual.iter_mut().for_each(|y| *y /= per_unit_now.max(1e-9));
            expected
                .iter_mut()
                .for_each(|e| *e /= per_unit_then.max(1e-9));
        }
        let a = params.pseudo_count;
        let history = actual.len() - 1;
        let level =
            median((0..history).map(|j| (actual[j] + a) / (expected[j] + a))).unwrap_or(1.0);
        let mean: Vec<f64> = expected.iter().map(|e| level * e).collect();
        let (y, mu) = (actual[history], mean[history]);
        if mu < params.min_volume {
            return Outcome::Thin;
        }
        let residuals: Vec<f64> = actual
            .iter()
            .zip(&mean)
            .map(|(y, mu)| poisson_residual(*y, *mu))
            .collect();
        Outcome::Scored(Score {
            z: robust_z(params, &residuals, true),
            log_ratio: ((y + a) / (mu + a)).ln(),
            expected: mu,
            actual: y,
            interval: width as u32,
        })
    })
}

/// Successes (value 0 of `grid`) among trials (value 1) against the rate pooled over the
/// trailing window, shrunk towards `prior_rate` with weight `prior_weight` trials.
pub(crate) fn score_rate(
    params: &AnomalyParams,
    grid: &MinuteGrid,
    key: &str,
    tick: i64,
    prior_rate: f64,
    prior_weight: f64,
) -> Option<Score> {
    first_decided(params, |width| {
        let newest = tick - 1 - i64::from(params.settle);
        let first = (newest - i64::from(params.window) - width + 1).max(0);
        let intervals = newest - first + 1 - width;
        if newest < width - 1 {
            return Outcome::Undecided;
        }
        let successes = grid.span(key, 0, first, newest);
        let trials = grid.span(key, 1, first, newest);
        let trailing = (newest - width - first + 1).max(0) as usize;
        let rate = (successes[..trailing].iter().sum::<f64>() + prior_weight * prior_rate)
            / (trials[..trailing].iter().sum::<f64>() + prior_weight);
        let actual = sliding_sums(&successes, width as usize);
        let attempts = sliding_sums(&trials, width as usize);
        let (y, n) = (actual[actual.len() - 1], attempts[attempts.len() - 1]);
        let mu = rate * n;
        if mu < params.min_volume {
            return Outcome::Thin;
        }
        let residuals: Vec<f64> = actual
            .iter()
            .zip(&attempts)
            .map(|(y, n)| binomial_residual(*y, *n, rate))
            .collect();
        let a = params.pseudo_count;
        Outcome::Scored(Score {
            z: robust_z(
                params,
                &residuals,
                intervals >= i64::from(params.min_window),
            ),
            log_ratio: ((y + a) / (mu + a)).ln(),
            expected: mu,
            actual: y,
            interval: width as u32,
        })
    })
}

/// How a benchmark rule compares a key's recent conversion with its own past.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BenchmarkShape<'a> {
    pub(crate) lag: u32,
    pub(crate) reference: u32,
    pub(crate) tests: &'a [(u32, f64)],
    pub(crate) spend_guard: f64,
}

/// Conversions (value 0 of `conversions`) per trial (value 0 of `trials`, taken `lag`
/// minutes earlier) in the newest interval against the reference minutes before it; the
/// most significant of the tests, its z rescaled to the rule's k. A test whose spend
/// (value 1 of `trials`) fell below the guard of its reference pace is not judged.
pub(crate) fn score_benchmark(
    params: &AnomalyParams,
    shape: BenchmarkShape<'_>,
    conversions: &MinuteGrid,
    trials: &MinuteGrid,
    key: &str,
    tick: i64,
) -> Option<Score> {
    let a = params.pseudo_count;
    let newest = tick - 1 - i64::from(params.settle);
    let lag = i64::from(shape.lag);
    let mut best: Option<Score> = None;
    for &(width, k_test) in shape.tests {
        let width_i = i64::from(width);
        let first = (newest - width_i - i64::from(shape.reference) + 1).max(0);
        if newest - width_i + 1 - first < i64::from(params.min_window) {
            continue;
        }
        let split = (newest - width_i + 1 - first) as usize;
        let converted = conversions.span(key, 0, first, newest);
        let tried = trials.span(key, 0, first - lag, newest - lag);
        let spend = trials.span(key, 1, first, newest);
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        let (y_test, y_ref) = (sum(&converted[split..]), sum(&converted[..split]));
        let (n_test, n_ref) = (sum(&tried[split..]), sum(&tried[..split]));
        let mu = n_test * (y_ref + a) / (n_ref + a);
        if mu < params.min_volume {
            continue;
        }
        let spend_pace = sum(&spend[..split]) * width_i as f64 / split as f64;
        if sum(&spend[split..]) < shape.spend_guard * spend_pace {
            continue;
        }
        let share = n_test / (n_test + n_ref);
        let z = binomial_residual(y_test, y_test + y_ref, share) * params.k / k_test;
        if best.is_none_or(|b| z < b.z) {
            best = Some(Score {
                z,
                log_ratio: ((y_test + a) / (mu + a)).ln(),
                expected: mu,
                actual: y_test,
                interval: width,
            });
        }
    }
    best
}
