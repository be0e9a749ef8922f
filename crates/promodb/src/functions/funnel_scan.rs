//! The windowFunnel scan of ClickHouse 26.9, over one group's rows.
//!
//! Each row contributes one event `(ts, k)` per condition `k` it satisfies (and, under
//! `strict_order`, a noise event `(ts, 0)` when it satisfies none). Events are stably
//! sorted by `(ts, k)`, so equal timestamps run in step order, noise first, and ties of
//! the same step keep row order (ClickHouse's `strict_once` row ids). Then one scan keeps,
//! per level, the chain that reached it; see METRICS.md for the rules of every mode.
//!
//! Besides the level, the scan can report the timestamps of the winning chain (the chain
//! that set the highest level), which `window_funnel_times` returns.

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

#[derive(Debug, Clone, Copy)]
struct Event {
    ts: i64,
    /// 0 = noise, k = step k.
    step: usize,
    /// Index of the row in the group, in arrival order.
    row: u32,
}

/// One chain: first and last timestamps, and (when tracked) the step times and rows.
#[derive(Debug, Clone)]
struct Chain {
    first: i64,
    last: i64,
    times: Vec<i64>,
    rows: Vec<u32>,
}

impl FunnelSpec {
    /// Runs the scan over `rows` (in arrival order). `track_times` asks for the winning
    /// chain's timestamps.
    pub(crate) fn scan(&self, rows: &[EventRow], track_times: bool) -> FunnelResult {
        let events = self.events(rows);
        if events.is_empty() {
            return FunnelResult::default();
        }
        if !self.modes.strict_order && self.steps == 1 {
            // ClickHouse's shortcut: any event is step 1 (there is no other step).
            let first = events[0].ts;
            return FunnelResult {
                level: 1,
                times: if track_times { vec![first] } else { Vec::new() },
            };
        }
        let needs_paths = self.modes.strict_once;
        if needs_paths {
            self.scan_paths(&events, track_times)
        } else {
            self.scan_levels(&events, track_times)
        }
    }

    fn events(&self, rows: &[EventRow]) -> Vec<Event> {
        let mut events = Vec::with_capacity(rows.len());
        for (row, r) in rows.iter().enumerate() {
            let row = row as u32;
            if r.mask == 0 {
                if self.modes.strict_order {
                    events.push(Event {
                        ts: r.ts,
                        step: 0,
                        row,
                    });
                }
                continue;
            }
            // Highest step first, as ClickHouse inserts them; the stable sort then puts
            // them in step order within the same timestamp.
            for step in (1..=self.steps).rev() {
                if r.mask & (1 << (step - 1)) != 0 {
                    events.push(Event {
                        ts: r.ts,
                        step,
                        row,
                    });
                }
            }
        }
        events.sort_by_key(|e| (e.ts, e.step));
        events
    }

    fn in_window(&self, chain: &Chain, ts: i64) -> bool {
        ts <= chain.first.saturating_add(self.window)
            && (!self.modes.strict_increase || chain.last < ts)
    }

    /// The default algorithm: one chain per level, overwritten by later ones.
    fn scan_levels(&self, events: &[Event], track: bool) -> FunnelResult {
        let mut levels: Vec<Option<Chain>> = vec![None; self.steps];
        let mut started = false;
        for event in events {
            let Event { ts, step, .. } = *event;
            if step == 0 {
                // Only strict_order keeps noise events.
                if started {
                    break;
                }
                continue;
            }
            let k = step - 1;
            if k == 0 {
                levels[0] = Some(Chain {
                    first: ts,
                    last: ts,
                    times: if track { vec![ts] } else { Vec::new() },
                    rows: Vec::new(),
                });
                started = true;
            } else if self.modes.strict_deduplication && levels[k].is_some() {
                return self.result_levels(&levels);
            } else if self.modes.strict_order && started && levels[k - 1].is_none() {
                if self.modes.allow_reentry {
                    continue;
                }
                let reached = levels.iter().take_while(|l| l.is_some()).count();
                return self.result_levels(&levels[..reached]);
            } else if let Some(previous) = &levels[k - 1]
                && self.in_window(previous, ts)
            {
                let mut times = previous.times.clone();
                if track {
                    times.push(ts);
                }
                let first = previous.first;
                levels[k] = Some(Chain {
                    first,
                    last: ts,
                    times,
                    rows: Vec::new(),
                });
                if k + 1 == self.steps {
                    return self.result_levels(&levels);
                }
            }
        }
        self.result_levels(&levels)
    }

    /// The level is the highest set level; its chain is the winning one.
    fn result_levels(&self, levels: &[Option<Chain>]) -> FunnelResult {
        match levels.iter().rposition(Option::is_some) {
            Some(k) => FunnelResult {
                level: k + 1,
                times: levels[k]
                    .as_ref()
                    .map(|c| c.times.clone())
                    .unwrap_or_default(),
            },
            None => FunnelResult::default(),
        }
    }

    /// `strict_once`: every candidate chain per level, a row never used twice in a chain.
    fn scan_paths(&self, events: &[Event], track: bool) -> FunnelResult {
        let mut levels: Vec<Vec<Chain>> = vec![Vec::new(); self.steps];
        let mut started = false;
        for event in events {
            let Event { ts, step, row } = *event;
            if step == 0 {
                if started {
                    break;
                }
                continue;
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
                return self.result_paths(&levels);
            } else if self.modes.strict_order && started && levels[k - 1].is_empty() {
                if self.modes.allow_reentry {
                    continue;
                }
                let reached = levels.iter().take_while(|l| !l.is_empty()).count();
                return self.result_paths(&levels[..reached]);
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
                            return self.result_paths(&levels);
                        }
                    }
                    i += 1;
                }
            }
        }
        self.result_paths(&levels)
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
