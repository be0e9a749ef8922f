//! The windowFunnel scan of ClickHouse 26.9, over one group's rows.
//!
//! Each row contributes one event `(ts, k)` per condition `k` it satisfies (and, under
//! `strict_order`, a noise event `(ts, 0)` when it satisfies none). Events are taken in
//! `(ts, k)` order, so equal timestamps run in step order, noise first, and ties of the
//! same step keep row order (ClickHouse's `strict_once` row ids): the order of
//! ClickHouse's stable sort, walked straight off the rows sorted by `ts`, without
//! materializing the events. Then one scan keeps, per level, the chain that reached it;
//! see METRICS.md for the rules of every mode.
//!
//! Besides the level, the scan can report the timestamps of the winning chain (the chain
//! that set the highest level), which `window_funnel_times` returns.

use std::ops::ControlFlow;

use super::event_groups::EventRow;

/// The modes of `window_funnel`, any combination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct FunnelModes {
    pub(crate) strict_deduplication: bool,
    pub(crate) strict_order: bool,
    pub(crate) allow_reentry: bool,
    pub(crate) strict_increase: bool,
    pub(crate) strict_once: bool,
}

impl FunnelModes {
    /// Parses a comma-separated list of mode names (`''` is the default mode).
    pub(crate) fn parse(text: &str) -> Result<FunnelModes, String> {
        let mut modes = FunnelModes::default();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "strict_deduplication" => modes.strict_deduplication = true,
                "strict_order" => modes.strict_order = true,
                "allow_reentry" => modes.allow_reentry = true,
                "strict_increase" => modes.strict_increase = true,
                "strict_once" => modes.strict_once = true,
                "strict" => {
                    return Err("mode 'strict' is replaced with 'strict_deduplication'".into());
                }
                other => {
                    return Err(format!(
                        "unknown mode '{other}': expected strict_deduplication, strict_order, \
                         allow_reentry, strict_increase or strict_once"
                    ));
                }
            }
        }
        if modes.allow_reentry && !modes.strict_order {
            return Err("mode allow_reentry requires strict_order".into());
        }
        Ok(modes)
    }
}

/// The scan's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FunnelSpec {
    /// Window in the unit of `ts`.
    pub(crate) window: i64,
    /// Number of steps, 1..=32.
    pub(crate) steps: usize,
    pub(crate) modes: FunnelModes,
}

/// What a scan found: the level reached, and the timestamps of the chain that reached it
/// (`times[k]` for step k+1, `times.len() == level`) when asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FunnelResult {
    pub(crate) level: usize,
    pub(crate) times: Vec<i64>,
}

/// One event of the scan.
#[derive(Debug, Clone, Copy)]
struct Event {
    ts: i64,
    /// 0 = noise, k = step k.
    step: usize,
    /// Index of the row in the group's rows: what `strict_once` tells rows apart by.
    row: u32,
}

/// The chain that last reached each level, for every mode but `strict_once`: a bit per
/// level reached, and the first and last times of its chain, in arrays reused from
/// group to group, so that a scan allocates nothing.
#[derive(Debug)]
pub(crate) struct LevelChains {
    steps: usize,
    /// Bit k: level k+1 has a chain.
    reached: u32,
    first: [i64; 32],
    last: [i64; 32],
    /// When times are tracked: row k (`steps` wide) holds the k+1 step times of level
    /// k+1's chain.
    times: Option<Vec<i64>>,
}

impl LevelChains {
    /// Chains for a funnel of `steps` steps; `track_times` keeps each chain's step times.
    pub(crate) fn new(steps: usize, track_times: bool) -> Self {
        LevelChains {
            steps,
            reached: 0,
            first: [0; 32],
            last: [0; 32],
            times: track_times.then(|| vec![0; steps * steps]),
        }
    }

    fn has(&self, k: usize) -> bool {
        self.reached & (1 << k) != 0
    }

    /// A new chain at step 1.
    fn start(&mut self, ts: i64) {
        self.reached |= 1;
        self.first[0] = ts;
        self.last[0] = ts;
        if let Some(times) = &mut self.times {
            times[0] = ts;
        }
    }

    /// Level k+1's chain becomes level k's chain extended by step k+1 at `ts`.
    fn extend(&mut self, k: usize, ts: i64) {
        self.reached |= 1 << k;
        self.first[k] = self.first[k - 1];
        self.last[k] = ts;
        if let Some(times) = &mut self.times {
            let (from, to) = ((k - 1) * self.steps, k * self.steps);
            times.copy_within(from..from + k, to);
            times[to + k] = ts;
        }
    }

    /// Levels 1..=n all reached, counted from level 1.
    fn reached_in_a_row(&self) -> usize {
        self.reached.trailing_ones() as usize
    }

    /// The result with the highest of the first `levels` levels that has a chain.
    fn result(&self, levels: usize) -> FunnelResult {
        let kept = if levels >= 32 {
            self.reached
        } else {
            self.reached & ((1u32 << levels) - 1)
        };
        let level = (32 - kept.leading_zeros()) as usize;
        let times = match (&self.times, level) {
            (Some(times), 1..) => times[(level - 1) * self.steps..][..level].to_vec(),
            _ => Vec::new(),
        };
        FunnelResult { level, times }
    }
}

/// One chain of `strict_once`: first and last timestamps, the rows used, and (when
/// tracked) the step times.
#[derive(Debug, Clone)]
struct Chain {
    first: i64,
    last: i64,
    times: Vec<i64>,
    rows: Vec<u32>,
}

impl FunnelSpec {
    /// Runs the scan over one group's `rows`, which are sorted by `ts`, ties in arrival
    /// order. `chains` is scratch space from [`LevelChains::new`] for this funnel; when
    /// it tracks times, the result carries the winning chain's timestamps.
    pub(crate) fn scan(&self, rows: &[EventRow], chains: &mut LevelChains) -> FunnelResult {
        debug_assert!(rows.is_sorted_by_key(|r| r.ts));
        let track = chains.times.is_some();
        if !self.modes.strict_order && self.steps == 1 {
            // ClickHouse's shortcut: any event is step 1 (there is no other step).
            return match rows.iter().find(|r| r.mask != 0) {
                Some(first) => FunnelResult {
                    level: 1,
                    times: if track { vec![first.ts] } else { Vec::new() },
                },
                None => FunnelResult::default(),
            };
        }
        if self.modes.strict_once {
            self.scan_paths(rows, track)
        } else if self.modes == FunnelModes::default() && !track {
            self.scan_default(rows)
        } else {
            self.scan_levels(rows, chains)
        }
    }

    /// [`Self::scan_levels`] in the default mode, when only the level is asked for: each
    /// level's chain is only its first time, and an event updates them without a branch
    /// (which step an event is, and whether it is in the window, are as unpredictable
    /// as the shoppers: branching on them made the scan the funnel query's biggest cost).
    ///
    /// Level 0 is the empty chain, reached at every event's own time, so that step 1
    /// starting a chain is step k+1 extending level k's chain like every other step.
    /// Equal timestamps run step by step; several rows' events of one step at one time
    /// are one event, since the second finds the chains the first left.
    fn scan_default(&self, rows: &[EventRow]) -> FunnelResult {
        // Level 0 is reached within the window only for a window of 0 or more, which
        // the arguments check.
        debug_assert!(self.window >= 0);
        let mut first = [0i64; 33];
        let mut reached: u64 = 1;
        let all_reached = 1u64 << self.steps;
        let mut start = 0;
        while start < rows.len() && reached & all_reached == 0 {
            let ts = rows[start].ts;
            let mut steps = rows[start].mask;
            let mut end = start + 1;
            while end < rows.len() && rows[end].ts == ts {
                steps |= rows[end].mask;
                end += 1;
            }
            first[0] = ts;
            let earliest = ts.saturating_sub(self.window);
            while steps != 0 {
                let k = (steps.trailing_zeros() & 31) as usize;
                steps &= steps - 1;
                let extends = (reached >> k) & u64::from(first[k] >= earliest);
                let keep = (extends as i64).wrapping_sub(1);
                first[k + 1] = (first[k + 1] & keep) | (first[k] & !keep);
                reached |= extends << (k + 1);
            }
            start = end;
        }
        FunnelResult {
            level: (63 - reached.leading_zeros()) as usize,
            times: Vec::new(),
        }
    }

    /// Calls `visit` on each event of `rows` (sorted by `ts`) in `(ts, step, row)`
    /// order, until it breaks. A row gives an event per condition it satisfies and,
    /// under `strict_order`, a noise event (step 0) when it satisfies none. This is the
    /// order of ClickHouse's stable sort of events by `(ts, step)`, where each row's
    /// events are inserted together.
    fn walk_events(&self, rows: &[EventRow], mut visit: impl FnMut(Event) -> ControlFlow<()>) {
        let noise = self.modes.strict_order;
        let mut start = 0;
        while start < rows.len() {
            let ts = rows[start].ts;
            let end = start + 1 + rows[start + 1..].iter().take_while(|r| r.ts == ts).count();
            let event = |row: usize, step: usize| Event {
                ts,
                step,
                row: row as u32,
            };
            // The rows sharing this `ts` (usually one): noise first, then step by step.
            let run = &rows[start..end];
            if noise {
                for (i, r) in run.iter().enumerate() {
                    if r.mask == 0 && visit(event(start + i, 0)).is_break() {
                        return;
                    }
                }
            }
            let mut steps = run.iter().fold(0, |m, r| m | r.mask);
            while steps != 0 {
                let bit = steps.trailing_zeros();
                steps &= steps - 1;
                for (i, r) in run.iter().enumerate() {
                    if r.mask & (1 << bit) != 0
                        && visit(event(start + i, bit as usize + 1)).is_break()
                    {
                        return;
                    }
                }
            }
            start = end;
        }
    }

    fn in_window(&self, first: i64, last: i64, ts: i64) -> bool {
        ts <= first.saturating_add(self.window) && (!self.modes.strict_increase || last < ts)
    }

    /// The default algorithm: one chain per level, overwritten by later ones.
    fn scan_levels(&self, rows: &[EventRow], chains: &mut LevelChains) -> FunnelResult {
        let modes = self.modes;
        chains.reached = 0;
        let mut levels = self.steps;
        let mut started = false;
        self.walk_events(rows, |Event { ts, step, .. }| {
            if step == 0 {
                // Only strict_order keeps noise events.
                return if started {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                };
            }
            let k = step - 1;
            if k == 0 {
                chains.start(ts);
                started = true;
            } else if modes.strict_deduplication && chains.has(k) {
                return ControlFlow::Break(());
            } else if modes.strict_order && started && !chains.has(k - 1) {
                if !modes.allow_reentry {
                    levels = chains.reached_in_a_row();
                    return ControlFlow::Break(());
                }
            } else if chains.has(k - 1)
                && self.in_window(chains.first[k - 1], chains.last[k - 1], ts)
            {
                chains.extend(k, ts);
                if k + 1 == self.steps {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        chains.result(levels)
    }

    /// `strict_once`: every candidate chain per level, a row never used twice in a chain.
    fn scan_paths(&self, rows: &[EventRow], track: bool) -> FunnelResult {
        let mut levels: Vec<Vec<Chain>> = vec![Vec::new(); self.steps];
        let mut reached = self.steps;
        let mut started = false;
        self.walk_events(rows, |Event { ts, step, row }| {
            if step == 0 {
                return if started {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                };
            }
            let k = step - 1;
            if k == 0 {
                levels[0].push(Chain {
                    first: ts,
                    last: ts,
                    times: if track { vec![ts] } else { Vec::new() },
                    rows: vec![row],
                });
                started = true;
            } else if self.modes.strict_deduplication && !levels[k].is_empty() {
                return ControlFlow::Break(());
            } else if self.modes.strict_order && started && levels[k - 1].is_empty() {
                if !self.modes.allow_reentry {
                    reached = levels.iter().take_while(|l| !l.is_empty()).count();
                    return ControlFlow::Break(());
                }
            } else if !levels[k - 1].is_empty() {
                let (before, after) = levels.split_at_mut(k);
                let previous = &mut before[k - 1];
                let current = &mut after[0];
                let mut i = 0;
                while i < previous.len() {
                    let chain = &previous[i];
                    let within = ts <= chain.first.saturating_add(self.window);
                    if !within && previous.len() > 1 {
                        // Drop chains out of the window, but keep at least one.
                        previous.remove(i);
                        continue;
                    }
                    let fits = within
                        && !chain.rows.contains(&row)
                        && (!self.modes.strict_increase || chain.last < ts);
                    if fits {
                        let mut next = chain.clone();
                        next.last = ts;
                        next.rows.push(row);
                        if track {
                            next.times.push(ts);
                        }
                        current.push(next);
                        if k + 1 == self.steps {
                            return ControlFlow::Break(());
                        }
                    }
                    i += 1;
                }
            }
            ControlFlow::Continue(())
        });
        self.result_paths(&levels[..reached])
    }

    /// The level is the highest non-empty level; its first chain is the winning one.
    fn result_paths(&self, levels: &[Vec<Chain>]) -> FunnelResult {
        match levels.iter().rposition(|l| !l.is_empty()) {
            Some(k) => FunnelResult {
                level: k + 1,
                times: levels[k]
                    .first()
                    .map(|c| c.times.clone())
                    .unwrap_or_default(),
            },
            None => FunnelResult::default(),
        }
    }
}

#[cfg(test)]
mod tests;
