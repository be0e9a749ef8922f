//! What an anomaly rule measures, what it compares with, and how it is tuned.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// When this year's promo starts and when last year's did: anomaly rules count time in
/// whole minutes from these, so that last year's midnight spike lines up with this year's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromoCalendar {
    /// The promo's start, truncated to the minute.
    pub start: DateTime<Utc>,
    /// Last year's promo start, truncated to the minute.
    pub last_year_start: DateTime<Utc>,
}

impl PromoCalendar {
    /// A promo starting at `start`; last year's started 365 days earlier (Double 11 falls
    /// on the same date every year; use [`PromoCalendar::with_last_year_start`] otherwise).
    pub fn new(start: DateTime<Utc>) -> PromoCalendar {
        let start = to_minute(start);
        PromoCalendar {
            start,
            last_year_start: start - Duration::days(365),
        }
    }

    /// Last year's promo started at `start` instead.
    pub fn with_last_year_start(mut self, start: DateTime<Utc>) -> PromoCalendar {
        self.last_year_start = to_minute(start);
        self
    }
}

fn to_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(1)).unwrap_or(at)
}

/// Which deviations alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Spikes and drops.
    Both,
    /// Drops only.
    Drop,
    /// Spikes only.
    Spike,
}

impl Direction {
    /// Whether a deviation of this sign (+1 spike, -1 drop) alerts.
    pub(crate) fn allows(self, sign: i8) -> bool {
        match self {
            Direction::Both => sign != 0,
            Direction::Drop => sign < 0,
            Direction::Spike => sign > 0,
        }
    }
}

/// A per-minute measure of one table: SQL aggregates over the rows of each minute (by
/// `ts`), optionally per key (a channel, a payment method...), over the rows a filter keeps.
///
/// ```
/// use promodb::alerts::Measure;
/// let carts = Measure::new("user_events", "count(DISTINCT session_id)")
///     .per("channel")
///     .filter("event_type = 'add_to_cart'");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub(crate) table: String,
    /// The aggregates, in order; the first is the measured value.
    pub(crate) values: Vec<String>,
    pub(crate) key: Option<String>,
    pub(crate) filter: Option<String>,
}

impl Measure {
    /// The aggregate `value` (e.g. `count(*)`, `sum(amount)`) of `table` per minute.
    pub fn new(table: impl Into<String>, value: impl Into<String>) -> Measure {
        Measure {
            table: table.into(),
            values: vec![value.into()],
            key: None,
            filter: None,
        }
    }

    /// One series per value of the expression `key` (rows where it is NULL are left out).
    pub fn per(mut self, key: impl Into<String>) -> Measure {
        self.key = Some(key.into());
        self
    }

    /// Only the rows where the SQL predicate holds.
    pub fn filter(mut self, predicate: impl Into<String>) -> Measure {
        self.filter = Some(predicate.into());
        self
    }

    /// The same measure over another table (last year's, with the same columns).
    pub(crate) fn on(&self, table: &str) -> Measure {
        Measure {
            table: table.to_string(),
            ..self.clone()
        }
    }

    /// With a further aggregate.
    pub(crate) fn and(mut self, value: impl Into<String>) -> Measure {
        self.values.push(value.into());
        self
    }
}

/// How an anomaly rule scores and when it fires. The defaults are the calibrated values
/// of docs/alerts.md; the built-in rules override some of them.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyParams {
    /// Minutes per scored interval (a sliding sum ending at the newest minute).
    pub interval: u32,
    /// Longer intervals, tried in turn while the expected count is below `min_volume`.
    pub longer: Vec<u32>,
    /// Trailing intervals for the current level and the robust spread.
    pub window: u32,
    /// Trailing intervals needed before any decision (warm-up).
    pub min_window: u32,
    /// Last year's interval sums are smoothed by a running median over +-`smooth` minutes.
    pub smooth: u32,
    /// Pseudo-count `a` in ratios `(actual + a) / (expected + a)`.
    pub pseudo_count: f64,
    /// The robust z (or deviance) beyond which an interval breaches.
    pub k: f64,
    /// Floor of the robust spread, in deviance units (1 = Poisson noise).
    pub sigma_floor: f64,
    /// Consecutive breaching intervals, same direction, to fire.
    pub consecutive: u32,
    /// While firing, a tick with z beyond this (in the alert's direction) keeps it firing.
    pub k_resolve: f64,
    /// Ticks in a row that do not keep it firing before it resolves.
    pub resolve_ticks: u32,
    /// Minimum expected count in the interval; below it there is no decision.
    pub min_volume: f64,
    /// Minutes a closed minute waits before it is scored (for late rows).
    pub settle: u32,
    /// Which deviations alert.
    pub direction: Direction,
    /// `|ln((actual + a) / (expected + a))|` must exceed this too (a tiny but
    /// significant deviation at high volume is not an incident).
    pub min_effect: f64,
}

impl Default for AnomalyParams {
    fn default() -> Self {
        AnomalyParams {
            interval: 1,
            longer: Vec::new(),
            window: 120,
            min_window: 20,
            smooth: 2,
            pseudo_count: 1.0,
            k: 4.5,
            sigma_floor: 1.0,
            consecutive: 2,
            k_resolve: 2.0,
            resolve_ticks: 5,
            min_volume: 10.0,
            settle: 0,
            direction: Direction::Both,
            min_effect: 0.2,
        }
    }
}

impl AnomalyParams {
    /// The intervals tried, shortest first.
    pub(crate) fn intervals(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.interval).chain(self.longer.iter().copied())
    }
}

/// An anomaly rule's model: build it with [`Anomaly::curve`], [`Anomaly::success_rate`] or
/// [`Anomaly::conversion`], then wrap it in a rule with [`super::super::Rule::anomaly`].
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub(crate) calendar: PromoCalendar,
    pub(crate) model: Model,
    pub(crate) params: AnomalyParams,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Model {
    /// A count against last year's curve, scaled to the current level.
    Curve {
        measure: Measure,
        last_year_table: String,
        /// Keyed: a key's curve is last year's total x its share over +-this many minutes.
        share_half: u32,
        /// Score value / its average per unit (measure's second aggregate).
        per_unit: bool,
    },
    /// Successes (first aggregate) of trials (second) against the trailing pooled rate.
    Rate {
        measure: Measure,
        last_year_table: Option<String>,
        /// Weight, in trials, of last year's rate in the expected rate.
        prior_weight: f64,
    },
    /// Conversions per trial against the key's own rate over the reference minutes, while
    /// spend goes on.
    Benchmark {
        conversions: Measure,
        /// Aggregates: trials, then spend.
        trials: Measure,
        lag: u32,
        reference: u32,
        /// (interval minutes, k) pairs tested each tick.
        tests: Vec<(u32, f64)>,
        spend_guard: f64,
    },
}

impl Anomaly {
    /// A count per minute (the measure's value) against last year's promo aligned by
    /// offset from its start: the same measure over `last_year_table`, scaled to the
    /// current level (median ratio over the window). A keyed measure's expected curve is
    /// last year's total times the key's share of it over +-30 minutes.
    pub fn curve(
        calendar: PromoCalendar,
        measure: Measure,
        last_year_table: impl Into<String>,
    ) -> Anomaly {
        Anomaly {
            calendar,
            model: Model::Curve {
                measure,
                last_year_table: last_year_table.into(),
                share_half: 30,
                per_unit: false,
            },
            params: AnomalyParams::default(),
        }
    }

    /// Scores a curve's value divided by its average per unit, the aggregate `units` (e.g.
    /// GMV in orders of the window's average order value), so that its deviance is in
    /// count units. Only for [`Anomaly::curve`].
    pub fn per_unit(mut self, units: impl Into<String>) -> Anomaly {
        if let Model::Curve {
            measure, per_unit, ..
        } = &mut self.model
        {
            measure.values.truncate(1);
            measure.values.push(units.into());
            *per_unit = true;
        }
        self
    }

    /// Successes (the measure's value) among `trials` (another aggregate of the same rows,
    /// e.g. `count(*)`), against the success rate pooled over the trailing window and
    /// shrunk towards last year's rate of the key (`last_year_table`, weighted as 100
    /// trials), so that it decides from the promo's first minutes. Drops only.
    pub fn success_rate(
        calendar: PromoCalendar,
        successes: Measure,
        trials: impl Into<String>,
        last_year_table: Option<String>,
    ) -> Anomaly {
        Anomaly {
            calendar,
            model: Model::Rate {
                measure: successes.and(trials),
                last_year_table,
                prior_weight: 100.0,
            },
            params: AnomalyParams {
                direction: Direction::Drop,
                ..AnomalyParams::default()
            },
        }
    }

    /// Efficiency: conversions per trial of each key (e.g. carting sessions per paid click
    /// of an ad channel) against the key's own rate over the 4 hours before, while its
    /// spend goes on. `trials` and `spend` are aggregates of `trials_of` (e.g. `ad_spend`'s
    /// `sum(clicks)` and `sum(cost)`), keyed like `conversions`. Trials are taken 3 minutes
    /// earlier than conversions (the funnel step's latency). Each tick tests the last 20
    /// minutes at k 5.0 and the last 40 at k 4.5; a window whose spend fell below half its
    /// reference pace is not judged (no money is being wasted). Drops of at least half.
    pub fn conversion(
        calendar: PromoCalendar,
        conversions: Measure,
        trials_of: Measure,
        spend: impl Into<String>,
    ) -> Anomaly {
        Anomaly {
            calendar,
            model: Model::Benchmark {
                conversions,
                trials: trials_of.and(spend),
                lag: 3,
                reference: 240,
                tests: vec![(20, 5.0), (40, 4.5)],
                spend_guard: 0.5,
            },
            params: AnomalyParams {
                min_window: 60,
                min_volume: 5.0,
                settle: 1,
                direction: Direction::Drop,
                min_effect: std::f64::consts::LN_2,
                ..AnomalyParams::default()
            },
        }
    }

    /// Replaces the tuning.
    pub fn with_params(mut self, params: AnomalyParams) -> Anomaly {
        self.params = params;
        self
    }

    /// The tuning.
    pub fn params(&self) -> &AnomalyParams {
        &self.params
    }

    /// The measures read each tick (this year's data).
    pub(crate) fn live_measures(&self) -> Vec<&Measure> {
        match &self.model {
            Model::Curve { measure, .. } | Model::Rate { measure, .. } => vec![measure],
            Model::Benchmark {
                conversions,
                trials,
                ..
            } => vec![conversions, trials],
        }
    }
}
