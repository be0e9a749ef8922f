//! [`AlertRunner`]: rules evaluated in the background, on a schedule and soon after
//! appends to the tables each rule reads, with a [`Clock`] that replays and tests drive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::engine::Alerts;
use super::event_log::AlertEvent;
use crate::error::{Error, Result};
use crate::schema::Table;

/// Where "now" comes from for an evaluation.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The time of an evaluation.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock: for live promos.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told: event time for replays and tests, so that the
/// lifecycle (`for`, repeats, resolve holds) follows the data, not the wall clock.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// When an [`AlertRunner`] evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Every rule, this often (wall time), so that time alone moves instances along
    /// (`for`, repeats, resolve holds). `None`: only after appends. By default, 10 s.
    pub every: Option<Duration>,
    /// The rules that read a table, soon after rows are appended to it. By default, on.
    pub after_appends: bool,
    /// How long to let a burst of appends land before evaluating. By default, 20 ms.
    pub debounce: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            every: Some(Duration::from_secs(10)),
            after_appends: true,
            debounce: Duration::from_millis(20),
        }
    }
}

/// An [`Alerts`] engine evaluating in the background; see [`Alerts::start`].
///
/// Every rule is evaluated once at start, then per the [`Schedule`]: a rule whose tables
/// (canonical tables, read directly or through views) received rows is evaluated within
/// `debounce` plus the evaluation itself; all rules every `every`. Errors (a failing
/// query or sink) do not stop it: they are kept for [`AlertRunner::take_errors`].
#[derive(Debug)]
pub struct AlertRunner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    alerts: Mutex<Alerts>,
    clock: Arc<dyn Clock>,
    schedule: Schedule,
    stop: AtomicBool,
    evaluations: Mutex<u64>,
    evaluated: Condvar,
    errors: Mutex<Vec<Error>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Alerts {
    /// Starts evaluating in the background, with `clock` giving each evaluation's time.
    pub fn start(self, clock: Arc<dyn Clock>, schedule: Schedule) -> Result<AlertRunner> {
        let shared = Arc::new(Shared {
            alerts: Mutex::new(self),
            clock,
            schedule,
            stop: AtomicBool::new(false),
            evaluations: Mutex::new(0),
            evaluated: Condvar::new(),
            errors: Mutex::new(Vec::new()),
        });
        let runner = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("promodb-alerts".to_string())
            .spawn(move || run(&runner))
            .map_err(|e| Error::Internal(format!("cannot start the alert thread: {e}")))?;
        Ok(AlertRunner {
            shared,
            thread: Some(thread),
        })
    }
}

impl AlertRunner {
    /// Records an acknowledgement (see [`Alerts::acknowledge`]); waits for an evaluation
    /// in progress.
    pub fn acknowledge(
        &self,
        rule: &str,
        key: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<AlertEvent> {
        lock(&self.shared.alerts).acknowledge(rule, key, by, at)
    }

    /// The instances firing now, as (rule, key), sorted.
    pub fn firing(&self) -> Vec<(String, String)> {
        lock(&self.shared.alerts).firing()
    }

    /// Each rule's evaluation count and cost (see [`Alerts::stats`]).
    pub fn stats(&self) -> Vec<(String, super::RuleStats)> {
        lock(&self.shared.alerts).stats()
    }

    /// Evaluations completed so far (each evaluates every rule that was due).
    pub fn evaluations(&self) -> u64 {
        *lock(&self.shared.evaluations)
    }

    /// Waits until more than `count` evaluations have completed, for at most `timeout`;
    /// returns whether they have. With [`AlertRunner::evaluations`], this lets a replay
    /// step in lockstep: append, then wait for the evaluation that follows.
    pub fn wait_past(&self, count: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut done = lock(&self.shared.evaluations);
        while *done <= count {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            done = self
                .shared
                .evaluated
                .wait_timeout(done, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The errors of background evaluations since the last call.
    pub fn take_errors(&self) -> Vec<Error> {
        std::mem::take(&mut *lock(&self.shared.errors))
    }

    /// Stops evaluating (after the evaluation in progress) and returns the engine.
    pub fn stop(mut self) -> Alerts {
        self.halt();
        let shared = Arc::clone(&self.shared);
        drop(self);
        // The thread has ended and the runner is gone: this is the last handle.
        match Arc::try_unwrap(shared) {
            Ok(shared) => shared
                .alerts
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
            Err(_) => unreachable!("the alert thread has ended"),
        }
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AlertRunner {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Longest wait between checks of the stop flag.
const POLL: Duration = Duration::from_millis(100);

fn run(shared: &Shared) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            lock(&shared.errors).push(Error::Internal(format!("alert runtime: {e}")));
            return;
        }
    };
    let changes = Arc::clone(lock(&shared.alerts).db().changes());
    let schedule = &shared.schedule;
    let mut seen_generation = changes.generation();
    let mut seen_versions = changes.versions();
    let mut next_tick = schedule.every.map(|every| Instant::now() + every);
    evaluate(shared, &runtime, |_| true);
    while !shared.stop.load(Ordering::SeqCst) {
        let deadline = next_tick.map_or(Instant::now() + POLL, |t| t.min(Instant::now() + POLL));
        let generation = if schedule.after_appends {
            changes.wait_past(seen_generation, deadline)
        } else {
            thread::sleep(deadline.saturating_duration_since(Instant::now()));
            seen_generation
        };
        let appended = generation > seen_generation;
        let due = next_tick.is_some_and(|t| Instant::now() >= t);
        if !(appended || due) || shared.stop.load(Ordering::SeqCst) {
            continue;
        }
        if appended && !due {
            thread::sleep(schedule.debounce);
        }
        seen_generation = changes.generation();
        let versions = changes.versions();
        let changed: Vec<Table> = Table::ALL
            .into_iter()
            .filter(|t| versions[*t as usize] != seen_versions[*t as usize])
            .collect();
        seen_versions = versions;
        if due {
            next_tick = schedule.every.map(|every| Instant::now() + every);
        }
        evaluate(shared, &runtime, |tables| {
            due || tables.iter().any(|t| changed.contains(t))
        });
    }
}

fn evaluate(shared: &Shared, runtime: &tokio::runtime::Runtime, select: impl Fn(&[Table]) -> bool) {
    let now = shared.clock.now();
    let outcome = {
        let mut alerts = lock(&shared.alerts);
        runtime.block_on(alerts.evaluate_selected(now, select))
    };
    if let Err(error) = outcome {
        lock(&shared.errors).push(error);
    }
    *lock(&shared.evaluations) += 1;
    shared.evaluated.notify_all();
}
