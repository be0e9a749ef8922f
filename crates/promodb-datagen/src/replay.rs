//! Replaying a promo into a database through the append API, in arrival order, as a live
//! feed would deliver it, optionally paced by a simulated clock.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use promodb::schema::Table;
use promodb::{Error, PromoDb, Result};

use crate::Promo;

/// Feeds a [`Promo`] into a [`PromoDb`] a slice of simulated time at a time.
///
/// ```
/// use chrono::Duration;
/// use promodb::PromoDb;
/// use promodb_datagen::{PromoConfig, Replay, generate};
///
/// let promo = generate(&PromoConfig::new(5_000).with_last_year(false));
/// let db = PromoDb::in_memory()?;
/// let mut replay = Replay::new(&promo, &db)?;
/// // The first hour, ten simulated minutes at a time, as fast as possible.
/// let end = promo.config().start + Duration::hours(1);
/// replay.run_until(end, Duration::minutes(10), None, |tick| {
///     assert!(tick.clock <= end);
///     Ok(())
/// })?;
/// assert!(db.row_count("user_events")? > 0);
/// # Ok::<(), promodb::Error>(())
/// ```
#[derive(Debug)]
pub struct Replay<'a> {
    promo: &'a Promo,
    db: PromoDb,
    /// Next row to append, per table.
    next: Vec<usize>,
    clock: i64,
}

/// What one step of a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayTick {
    /// The simulated time reached: every row arriving up to it is in the database.
    pub clock: DateTime<Utc>,
    /// Rows appended in this step.
    pub rows: usize,
    /// Rows appended since the replay began.
    pub total_rows: usize,
}

impl<'a> Replay<'a> {
    /// A replay of `promo` into `db`, with the clock just before the promo opens. Last
    /// year's tables and the targets are registered at once (they are history, not feed).
    pub fn new(promo: &'a Promo, db: &PromoDb) -> Result<Self> {
        promo.register_comparisons(db)?;
        Ok(Replay {
            promo,
            db: db.clone(),
            next: vec![0; Table::ALL.len()],
            clock: promo.config().start.timestamp_micros() - 1,
        })
    }

    /// The simulated time reached.
    pub fn clock(&self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.clock)
            .single()
            .unwrap_or_default()
    }

    /// Whether every row of every table has been appended.
    pub fn is_done(&self) -> bool {
        Table::ALL
            .iter()
            .all(|t| self.next[*t as usize] == self.promo.rows(*t))
    }

    /// Appends every row arriving up to `until` (inclusive); returns how many.
    pub fn advance_to(&mut self, until: DateTime<Utc>) -> Result<usize> {
        let until = until.timestamp_micros();
        let mut rows = 0;
        for table in Table::ALL {
            let generated = self.promo.table(table);
            let from = self.next[table as usize];
            let to = from + generated.arrival[from..].partition_point(|&a| a <= until);
            if to > from {
                self.db
                    .append(table.name(), generated.batch.slice(from, to - from))?;
                rows += to - from;
                self.next[table as usize] = to;
            }
        }
        self.clock = self.clock.max(until);
        Ok(rows)
    }

    /// Replays up to `until` in steps of `step` simulated time, calling `on_tick` after
    /// each. With `speed` (e.g. 60.0 for 60x real time) each step waits until its moment
    /// comes on the wall clock; without, it runs as fast as it can. Returns the rows
    /// appended.
    pub fn run_until(
        &mut self,
        until: DateTime<Utc>,
        step: Duration,
        speed: Option<f64>,
        mut on_tick: impl FnMut(&ReplayTick) -> Result<()>,
    ) -> Result<usize> {
        if step <= Duration::zero() {
            return Err(Error::InvalidArgument(
                "replay step must be positive".into(),
            ));
        }
        if speed.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
            return Err(Error::InvalidArgument(format!(
                "replay speed {speed:?} must be positive"
            )));
        }
        let began = Instant::now();
        // Before the opening, steps count from the opening: 00:00 + step, + 2 step, ...
        let origin = self.clock().max(self.promo.config().start);
        let mut total = 0;
        let mut clock = origin;
        while clock < until {
            clock = (clock + step).min(until);
            if let Some(speed) = speed {
                let simulated = (clock - origin).to_std().unwrap_or_default();
                let due = simulated.div_f64(speed);
                if let Some(wait) = due.checked_sub(began.elapsed()) {
                    std::thread::sleep(wait.min(StdDuration::from_secs(3600)));
                }
            }
            let rows = self.advance_to(clock)?;
            total += rows;
            on_tick(&ReplayTick {
                clock,
                rows,
                total_rows: total,
            })?;
        }
        Ok(total)
    }
}
