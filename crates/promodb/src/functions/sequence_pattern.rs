//! The pattern language of `sequence_match` / `sequence_count`, and its matcher: a port of
//! ClickHouse's `sequenceMatch` (26.9), including its quirks, so results agree exactly.
//!
//! Atoms: `(?N)` the next event satisfies condition N; `.` any one event; `.*` any number
//! of events; `(?t op V)` with op in `< <= > >= ==` compares the time since the previously
//! matched event with V (seconds for a TIMESTAMP, raw units for an integer ts). Only rows
//! where some condition holds are events; the match may start anywhere. As in ClickHouse,
//! a time atom lets events pass until one satisfies it, so `(?1)(?t<=5)(?2)` means "a 2
//! within 5 seconds after the 1", while `(?1)(?2)` needs the 2 to be the very next event.

use super::event_groups::EventRow;

/// Matching gives up after this many steps, as ClickHouse does (`TOO_SLOW`).
const MAX_ITERATIONS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TimeOp {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    /// The event satisfies condition `.0` (0-based).
    Specific(u32),
    Any,
    Kleene,
    /// Time since the base event, in ts units.
    Time(TimeOp, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Transition {
    None,
    Specific(u32),
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DfaState {
    has_kleene: bool,
    transition: Transition,
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SequencePattern {
    actions: Vec<Action>,
    dfa: Vec<DfaState>,
    has_time: bool,
    /// Conditions the pattern names, as bits.
    conditions_in_pattern: u32,
}

/// Why a match could not be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooSlow;

impl SequencePattern {
    /// Parses `pattern` for `conditions` conditions; `units_per_second` scales time atoms to
    /// the unit of ts (1 for an integer ts). Errors name the position.
    pub(crate) fn parse(
        pattern: &str,
        conditions: usize,
        units_per_second: i64,
    ) -> Result<SequencePattern, String> {
        let mut actions = vec![Action::Kleene];
        let mut dfa = vec![DfaState {
            has_kleene: true,
            transition: Transition::None,
        }];
        let mut has_time = false;
        let mut conditions_in_pattern = 0u32;
        let bytes = pattern.as_bytes();
        let mut pos = 0;
        let error = |pos: usize, what: &str| {
            format!(
                "{what} '{}' at position {pos} of pattern '{pattern}'",
                &pattern[pos..]
            )
        };
        let eat = |pos: &mut usize, token: &str| {
            if bytes[*pos..].starts_with(token.as_bytes()) {
                *pos += token.len();
                true
            } else {
                false
            }
        };
        let number = |pos: &mut usize| -> Option<u64> {
            let start = *pos;
            while *pos < bytes.len() && bytes[*pos].is_ascii_digit() {
                *pos += 1;
            }
            pattern[start..*pos].parse().ok()
        };
        while pos < bytes.len() {
            if eat(&mut pos, "(?") {
                if eat(&mut pos, "t") {
                    let op = if eat(&mut pos, "<=") {
                        TimeOp::Le
                    } else if eat(&mut pos, "<") {
                        TimeOp::Lt
                    } else if eat(&mut pos, ">=") {
                        TimeOp::Ge
                    } else if eat(&mut pos, ">") {
                        TimeOp::Gt
                    } else if eat(&mut pos, "==") {
                        TimeOp::Eq
                    } else {
                        return Err(error(pos, "unknown time condition"));
                    };
                    let at = pos;
                    let seconds =
                        number(&mut pos).ok_or_else(|| error(at, "could not parse number"))?;
                    if !matches!(
                        actions.last(),
                        Some(Action::Specific(_) | Action::Any | Action::Kleene)
                    ) {
                        return Err(error(at, "a time condition must follow an event condition"));
                    }
                    let units = i64::try_from(seconds)
                        .ok()
                        .and_then(|s| s.checked_mul(units_per_second))
                        .ok_or_else(|| error(at, "time out of range"))?;
                    has_time = true;
                    actions.push(Action::Time(op, units));
                } else {
                    let at = pos;
                    let event =
                        number(&mut pos).ok_or_else(|| error(at, "could not parse number"))?;
                    if event == 0 || event as usize > conditions {
                        return Err(error(
                            at,
                            &format!("event number {event} is out of range 1..={conditions}"),
                        ));
                    }
                    let index = (event - 1) as u32;
                    actions.push(Action::Specific(index));
                    if let Some(last) = dfa.last_mut() {
                        last.transition = Transition::Specific(index);
                    }
                    dfa.push(DfaState {
                        has_kleene: false,
                        transition: Transition::None,
                    });
                    conditions_in_pattern |= 1 << index;
                }
                if !eat(&mut pos, ")") {
                    return Err(error(pos, "expected closing parenthesis, found"));
                }
            } else if eat(&mut pos, ".*") {
                actions.push(Action::Kleene);
                if let Some(last) = dfa.last_mut() {
                    last.has_kleene = true;
                }
            } else if eat(&mut pos, ".") {
                actions.push(Action::Any);
                if let Some(last) = dfa.last_mut() {
                    last.transition = Transition::Any;
                }
                dfa.push(DfaState {
                    has_kleene: false,
                    transition: Transition::None,
                });
            } else {
                return Err(error(pos, "could not parse pattern, unexpected symbol"));
            }
        }
        Ok(SequencePattern {
            actions,
            dfa,
            has_time,
            conditions_in_pattern,
        })
    }

    /// Whether the events (sorted by ts) match. `met` is the OR of their condition bits.
    pub(crate) fn matches(&self, events: &[EventRow], met: u32) -> Result<bool, TooSlow> {
        if self.conditions_in_pattern & met != self.conditions_in_pattern {
            return Ok(false);
        }
        if self.has_time {
            let mut it = 0;
            Ok(self.could_match_deterministic_parts(events)?
                && self.backtracking_match(events, &mut it)?)
        } else {
            Ok(self.dfa_match(events))
        }
    }

    /// Non-overlapping matches, scanning left to right.
    pub(crate) fn count(&self, events: &[EventRow], met: u32) -> Result<i64, TooSlow> {
        if self.conditions_in_pattern & met != self.conditions_in_pattern {
            return Ok(0);
        }
        let mut count = 0;
        if self.could_match_deterministic_parts(events)? {
            let mut it = 0;
            while it < events.len() && self.backtracking_match(events, &mut it)? {
                count += 1;
            }
        }
        Ok(count)
    }

    fn dfa_match(&self, events: &[EventRow]) -> bool {
        let states = self.dfa.len();
        let mut active = vec![false; states];
        let mut next = vec![false; states];
        active[0] = true;
        let mut n_active = 1;
        for event in events {
            if n_active == 0 || active[states - 1] {
                break;
            }
            n_active = 0;
            next.iter_mut().for_each(|s| *s = false);
            for state in 0..states {
                if !active[state] {
                    continue;
                }
                match self.dfa[state].transition {
                    Transition::None => {}
                    Transition::Any => {
                        next[state + 1] = true;
                        n_active += 1;
                    }
                    Transition::Specific(index) => {
                        if event.mask & (1 << index) != 0 {
                            next[state + 1] = true;
                            n_active += 1;
                        }
                    }
                }
                if self.dfa[state].has_kleene {
                    next[state] = true;
                    n_active += 1;
                }
            }
            std::mem::swap(&mut active, &mut next);
        }
        active[states - 1]
    }

    fn backtracking_match(&self, events: &[EventRow], it: &mut usize) -> Result<bool, TooSlow> {
        let actions = &self.actions;
        let end = events.len();
        let begin = *it;
        let mut action = 0;
        let mut base = *it;
        let mut stack: Vec<(usize, usize, usize)> = Vec::new();
        // Pops to the last choice point that still has events after it.
        let backtrack = |stack: &mut Vec<(usize, usize, usize)>,
                         action: &mut usize,
                         it: &mut usize,
                         base: &mut usize|
         -> bool {
            while let Some((a, e, b)) = stack.pop() {
                *action = a;
                *it = e + 1;
                *base = b;
                if *it != end {
                    return true;
                }
            }
            false
        };
        let mut iterations = 0;
        while action < actions.len() && *it < end {
            match actions[action] {
                Action::Specific(index) => {
                    if events[*it].mask & (1 << index) != 0 {
                        base = *it;
                        action += 1;
                        *it += 1;
                    } else if !backtrack(&mut stack, &mut action, it, &mut base) {
                        break;
                    }
                }
                Action::Any => {
                    base = *it;
                    action += 1;
                    *it += 1;
                }
                Action::Kleene => {
                    stack.push((action, *it, base));
                    base = *it;
                    action += 1;
                }
                Action::Time(op, units) => {
                    let ts = events[*it].ts;
                    let limit = events[base].ts.saturating_add(units);
                    let holds = match op {
                        TimeOp::Le => ts <= limit,
                        TimeOp::Lt => ts < limit,
                        TimeOp::Ge => ts >= limit,
                        TimeOp::Gt => ts > limit,
                        TimeOp::Eq => ts == limit,
                    };
                    if holds {
                        stack.push((action, *it, base));
                        base = *it;
                        action += 1;
                    } else if matches!(op, TimeOp::Le | TimeOp::Lt) {
                        if !backtrack(&mut stack, &mut action, it, &mut base) {
                            break;
                        }
                    } else {
                        *it += 1;
                        if *it == end && !backtrack(&mut stack, &mut action, it, &mut base) {
                            break;
                        }
                    }
                }
            }
            iterations += 1;
            if iterations > MAX_ITERATIONS {
                return Err(TooSlow);
            }
        }
        // Trailing atoms that match the empty string.
        while action < actions.len()
            && matches!(
                actions[action],
                Action::Kleene
                    | Action::Time(TimeOp::Le | TimeOp::Lt, _)
                    | Action::Time(TimeOp::Ge, 0)
            )
        {
            action += 1;
        }
        if *it == begin {
            *it += 1;
        }
        Ok(action == actions.len())
    }

    /// A quick necessary condition: the event-only runs between `.*` and time atoms occur
    /// in order.
    fn could_match_deterministic_parts(&self, events: &[EventRow]) -> Result<bool, TooSlow> {
        let mut processed = 0;
        let mut it = 0;
        let mut part_begin = 0;
        let match_part = |it: &mut usize, from: usize, to: usize, processed: &mut usize| {
            let mut start = *it;
            let mut part = from;
            while part != to && *it < events.len() {
                match self.actions[part] {
                    Action::Any => {
                        *it += 1;
                        part += 1;
                    }
                    Action::Specific(index) if events[*it].mask & (1 << index) != 0 => {
                        *it += 1;
                        part += 1;
                    }
                    _ => {
                        start += 1;
                        *it = start;
                        part = from;
                    }
                }
                *processed += 1;
                if *processed > MAX_ITERATIONS {
                    return Err(TooSlow);
                }
            }
            Ok(part == to)
        };
        for (i, action) in self.actions.iter().enumerate() {
            if !matches!(action, Action::Specific(_) | Action::Any) {
                if !match_part(&mut it, part_begin, i, &mut processed)? {
                    return Ok(false);
                }
                part_begin = i + 1;
            }
        }
        match_part(&mut it, part_begin, self.actions.len(), &mut processed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(list: &[(i64, u32)]) -> Vec<EventRow> {
        list.iter()
            .map(|&(ts, mask)| EventRow { ts, mask })
            .collect()
    }

    fn met(events: &[EventRow]) -> u32 {
        events.iter().fold(0, |m, e| m | e.mask)
    }

    fn matches(pattern: &str, conditions: usize, list: &[(i64, u32)]) -> bool {
        let p = SequencePattern::parse(pattern, conditions, 1).unwrap();
        let e = events(list);
        p.matches(&e, met(&e)).unwrap()
    }

    fn count(pattern: &str, conditions: usize, list: &[(i64, u32)]) -> i64 {
        let p = SequencePattern::parse(pattern, conditions, 1).unwrap();
        let e = events(list);
        p.count(&e, met(&e)).unwrap()
    }

    #[test]
    fn clickhouse_examples() {
        // Data 1@1, 3@2, 2@3 with conditions n=1, n=2 (3 is not an event).
        assert!(matches("(?1)(?2)", 2, &[(1, 1), (3, 2)]));
        // With n=3 as a condition too, 3 sits between 1 and 2.
        assert!(!matches("(?1)(?2)", 3, &[(1, 1), (2, 4), (3, 2)]));
        assert!(matches("(?1).*(?2)", 3, &[(1, 1), (2, 4), (3, 2)]));
        assert!(!matches("(?1)(?t<=1)(?2)", 2, &[(1, 1), (3, 2)]));
        assert!(matches("(?1)(?t<=2)(?2)", 2, &[(1, 1), (3, 2)]));
        let repeated = [(1, 1), (2, 4), (3, 2), (4, 1), (5, 4), (6, 2)];
        assert_eq!(count("(?1).*(?2)", 3, &repeated), 2);
        assert_eq!(count("(?1).*(?2)", 2, &[(1, 1), (2, 1), (3, 2), (4, 2)]), 1);
    }

    #[test]
    fn malformed_patterns_name_the_position() {
        for (pattern, position) in [
            ("(?1)(?", 6),
            ("(?1)x", 4),
            ("(?1)(?t~3)", 7),
            ("(?4)", 2),
            ("(?0)", 2),
            ("(?1", 3),
        ] {
            let err = SequencePattern::parse(pattern, 3, 1).unwrap_err();
            assert!(
                err.contains(&format!("at position {position}")),
                "{pattern}: {err}"
            );
        }
        let err = SequencePattern::parse("(?t<1)(?t<2)", 3, 1).unwrap_err();
        assert!(err.contains("must follow an event"), "{err}");
    }
}
