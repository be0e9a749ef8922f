//! Running one anomaly rule: its series kept up to date a few minutes at a time, one
//! decision per closed minute, and each key's breach/fire/resolve state.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::definition::{Anomaly, Model};
use super::score::{
    BenchmarkShape, CurveBaseline, Score, score_benchmark, score_curve, score_rate,
};
use super::series::{MinuteGrid, MinuteQuery, measure_error, tables_of};
use super::stats::local_share;
use crate::PromoDb;
use crate::error::Result;

/// Minutes re-read at each tick: rows arriving up to this long after their minute closed
/// are counted; later ones are not (each tick reads only this much, whatever the
/// promo's length).
pub(crate) const REFRESH_MINUTES: i64 = 6;

/// Ticks of breach history kept per key (more than any interval x consecutive count).
const HISTORY_TICKS: usize = 256;

/// A firing instance of an anomaly rule, as the engine reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Firing {
    pub(crate) direction: &'static str,
    pub(crate) score: Score,
}

/// An anomaly rule's state: its plans, its series, its baselines and each key's lifecycle.
#[derive(Debug)]
pub(crate) struct Detector {
    anomaly: Anomaly,
    queries: Vec<MinuteQuery>,
    grids: Vec<MinuteGrid>,
    baseline: Baseline,
    keys: HashMap<String, KeyState>,
    /// The last tick decided (minutes since the promo start); 0 before the first.
    tick: i64,
    loaded: bool,
}

#[derive(Debug)]
enum Baseline {
    Curve(HashMap<String, CurveBaseline>),
    /// Last year's success rate per key.
    Rate(HashMap<String, f64>),
    None,
}

#[derive(Debug, Default)]
struct KeyState {
    /// (tick, breach sign, interval) of the latest ticks.
    history: VecDeque<(i64, i8, u32)>,
    firing: Option<Firing>,
    quiet: u32,
}

impl Detector {
    /// Plans the rule's queries and computes its baseline from last year's tables.
    pub(crate) async fn prepare(db: &PromoDb, name: &str, anomaly: Anomaly) -> Result<Detector> {
        let mut queries = Vec::new();
        let mut grids = Vec::new();
        for measure in anomaly.live_measures() {
            let query = MinuteQuery::plan(db, measure)
                .await
                .map_err(|e| measure_error(name, e))?;
            grids.push(MinuteGrid::new(measure.values.len()));
            queries.push(query);
        }
        let baseline = match &anomaly.model {
            Model::Curve {
                measure,
                last_year_table,
                share_half,
                ..
            } => {
                let history =
                    read_history(db, name, &anomaly, &measure.on(last_year_table)).await?;
                Baseline::Curve(curve_baselines(
                    &anomaly,
                    &history,
                    measure.key.is_some(),
                    *share_half,
                ))
            }
            Model::Rate {
                measure,
                last_year_table: Some(table),
                ..
            } => {
                let history = read_history(db, name, &anomaly, &measure.on(table)).await?;
                let rates = history
                    .keys()
                    .map(|key| {
                        let total = |v| history.column(key, v).iter().sum::<f64>();
                        (key.to_string(), (total(0) + 1.0) / (total(1) + 1.0))
                    })
                    .collect();
                Baseline::Rate(rates)
            }
            _ => Baseline::None,
        };
        Ok(Detector {
            anomaly,
            queries,
            grids,
            baseline,
            keys: HashMap::new(),
            tick: 0,
            loaded: false,
        })
    }

    /// The canonical tables its live measures read.
    pub(crate) fn tables(&self) -> Vec<crate::schema::Table> {
        tables_of(self.queries.iter().map(MinuteQuery::logical_plan))
    }

    /// Decides every minute closed by `now` not decided yet, reading only the last few
    /// minutes of data (all of the promo so far at the first call), and returns the
    /// firing instances by key.
    pub(crate) async fn evaluate(
        &mut self,
        db: &PromoDb,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, Firing>> {
        let start = self.anomaly.calendar.start;
        let tick = (now - start).num_minutes();
        if tick > self.tick {
            let from = if self.loaded {
                (self.tick - REFRESH_MINUTES).max(0)
            } else {
                0
            };
            for (grid, query) in self.grids.iter_mut().zip(&self.queries) {
                grid.refresh(db, query, start, from, tick).await?;
            }
            self.loaded = true;
            for t in self.tick + 1..=tick {
                self.decide(t);
            }
            self.tick = tick;
        }
        Ok(self
            .keys
            .iter()
            .filter_map(|(key, state)| Some((key.clone(), state.firing.clone()?)))
            .collect())
    }

    /// One tick for every key.
    fn decide(&mut self, tick: i64) {
        let params = &self.anomaly.params;
        let keys: Vec<String> = match &self.baseline {
            Baseline::Curve(curves) => curves.keys().cloned().collect(),
            _ => self.grids[0].keys().map(str::to_string).collect(),
        };
        for key in keys {
            let score = self.score(&key, tick);
            let state = self.keys.entry(key).or_default();
            let sign = score.map_or(0, |s| breach(params, &s));
            // A benchmark rule's tests slide by one minute; other rules compare
            // non-overlapping intervals (this one and the one before).
            let step = match (&self.anomaly.model, score) {
                (Model::Benchmark { .. }, _) => 1,
                (_, Some(s)) => i64::from(s.interval),
                (_, None) => i64::from(params.interval),
            };
            state.history.push_back((tick, sign, step as u32));
            while state.history.len() > HISTORY_TICKS {
                state.history.pop_front();
            }
            let sign_at = |t: i64| {
                state
                    .history
                    .iter()
                    .rev()
                    .find(|(at, ..)| *at == t)
                    .map_or(0, |(_, s, _)| *s)
            };
            let holds = sign != 0
                && (0..i64::from(params.consecutive)).all(|i| sign_at(tick - i * step) == sign);
            match (&state.firing, score) {
                (None, Some(score)) if holds => {
                    state.firing = Some(Firing {
                        direction: if sign > 0 { "spike" } else { "drop" },
                        score,
                    });
                    state.quiet = 0;
                }
                (None, _) => {}
                (Some(firing), score) => {
                    let want = if firing.direction == "drop" {
                        -1.0
                    } else {
                        1.0
                    };
                    match score {
                        Some(score) if score.z * want > params.k_resolve => {
                            state.quiet = 0;
                            let direction = firing.direction;
                            state.firing = Some(Firing { direction, score });
                        }
                        _ => {
                            state.quiet += 1;
                            if state.quiet >= params.resolve_ticks {
                                state.firing = None;
                            }
                        }
                    }
                }
            }
        }
    }

    fn score(&self, key: &str, tick: i64) -> Option<Score> {
        let params = &self.anomaly.params;
        match (&self.anomaly.model, &self.baseline) {
            (Model::Curve { per_unit, .. }, Baseline::Curve(curves)) => score_curve(
                params,
                curves.get(key)?,
                &self.grids[0],
                key,
                tick,
                *per_unit,
            ),
            (Model::Rate { prior_weight, .. }, baseline) => {
                let prior = match baseline {
                    Baseline::Rate(rates) => rates.get(key).copied().unwrap_or(1.0),
                    _ => 1.0,
                };
                score_rate(params, &self.grids[0], key, tick, prior, *prior_weight)
            }
            (
                Model::Benchmark {
                    lag,
                    reference,
                    tests,
                    spend_guard,
                    ..
                },
                _,
            ) => {
                let shape = BenchmarkShape {
                    lag: *lag,
                    reference: *reference,
                    tests,
                    spend_guard: *spend_guard,
                };
                score_benchmark(params, shape, &self.grids[0], &self.grids[1], key, tick)
            }
            _ => None,
        }
    }
}

/// +1 for a spike, -1 for a drop, 0 for neither (or a direction the rule ignores).
fn breach(params: &super::AnomalyParams, score: &Score) -> i8 {
    let sign = if score.z > params.k && score.log_ratio > params.min_effect {
        1
    } else if score.z < -params.k && score.log_ratio < -params.min_effect {
        -1
    } else {
        0
    };
    if params.direction.allows(sign) {
        sign
    } else {
        0
    }
}

/// Last year's per-minute values of `measure` from the last-year start, whole.
async fn read_history(
    db: &PromoDb,
    name: &str,
    anomaly: &Anomaly,
    measure: &super::Measure,
) -> Result<MinuteGrid> {
    let query = MinuteQuery::plan(db, measure)
        .await
        .map_err(|e| measure_error(name, e))?;
    let start = anomaly.calendar.last_year_start;
    let mut grid = MinuteGrid::new(measure.values.len());
    grid.refresh(db, &query, start, 0, Duration::days(366).num_minutes())
        .await?;
    Ok(grid)
}

/// Each key's expected curve: its own last-year series when the measure is not keyed;
/// else last year's total times the key's share over +-`share_half` minutes (a key's own
/// series is thin and noisy; the total carries the shape, the mix changes slowly).
fn curve_baselines(
    anomaly: &Anomaly,
    history: &MinuteGrid,
    keyed: bool,
    share_half: u32,
) -> HashMap<String, CurveBaseline> {
    let params = &anomaly.params;
    let length = history
        .keys()
        .map(|k| history.column(k, 0).len())
        .max()
        .unwrap_or(0);
    let padded = |v: &[f64]| {
        let mut v = v.to_vec();
        v.resize(length, 0.0);
        v
    };
    let mut total = vec![0.0; length];
    for key in history.keys() {
        for (t, v) in total.iter_mut().zip(history.column(key, 0)) {
            *t += v;
        }
    }
    history
        .keys()
        .map(|key| {
            let value = padded(history.column(key, 0));
            let units = padded(history.column(key, 1));
            let curve = if keyed {
                let share = local_share(&value, &total, share_half as usize);
                total.iter().zip(&share).map(|(t, s)| t * s).collect()
            } else {
                value.clone()
            };
            let baseline = CurveBaseline::new(params, &curve, value, units);
            (key.to_string(), baseline)
        })
        .collect()
}
