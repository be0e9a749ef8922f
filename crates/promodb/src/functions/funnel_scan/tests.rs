//! The worked examples of METRICS.md (all produced by ClickHouse 26.9).

use super::*;
use crate::functions::event_groups::EventRow;

const A: u32 = 1;
const B: u32 = 2;
const C: u32 = 4;
const D: u32 = 8; // not a step: noise for a 3-step funnel
const BIG: i64 = 1_000_000;

fn level(modes: &str, window: i64, steps: usize, rows: &[(i64, u32)]) -> usize {
    let spec = FunnelSpec {
        window,
        steps,
        modes: FunnelModes::parse(modes).unwrap(),
    };
    let mut rows: Vec<EventRow> = rows
        .iter()
        .map(|&(ts, mask)| EventRow {
            ts,
            mask: mask & ((1u64 << steps) - 1) as u32,
        })
        .collect();
    rows.sort_by_key(|r| r.ts);
    let with_times = spec.scan(&rows, &mut LevelChains::new(steps, true));
    assert_eq!(
        with_times.times.len(),
        with_times.level,
        "times follow the level"
    );
    let level = spec.scan(&rows, &mut LevelChains::new(steps, false)).level;
    assert_eq!(level, with_times.level);
    level
}

/// `A B C ...` at times 0, 1, 2, ...
fn seq(masks: &[u32]) -> Vec<(i64, u32)> {
    masks
        .iter()
        .enumerate()
        .map(|(i, m)| (i as i64, *m))
        .collect()
}

#[test]
fn default_mode() {
    assert_eq!(level("", 10, 2, &[(0, A), (10, B)]), 2);
    assert_eq!(level("", 10, 2, &[(0, A), (11, B)]), 1);
    assert_eq!(level("", 10, 3, &[(0, A), (6, B), (12, C)]), 2);
    assert_eq!(
        level("", 10, 3, &[(0, A), (6, B), (8, A), (12, B), (15, C)]),
        3
    );
    assert_eq!(level("", 10, 3, &[(0, A), (5, B), (7, A), (9, C)]), 3);
    assert_eq!(level("", 10, 3, &[(0, A | B | C)]), 3);
    // Ties are ordered by step, whatever the arrival order.
    assert_eq!(level("", 10, 2, &[(5, B), (5, A)]), 2);
    assert_eq!(level("", 0, 2, &[(5, A), (5, B)]), 2);
    assert_eq!(level("", 0, 2, &[(5, A), (6, B)]), 1);
}

#[test]
fn strict_deduplication() {
    assert_eq!(
        level("strict_deduplication", BIG, 3, &seq(&[A, B, B, C])),
        2
    );
    assert_eq!(
        level("strict_deduplication", BIG, 3, &seq(&[A, A, B, C])),
        3
    );
    assert_eq!(
        level(
            "strict_deduplication",
            10,
            3,
            &[(0, A), (1, B), (50, B), (51, C)]
        ),
        2
    );
}

#[test]
fn strict_order() {
    assert_eq!(level("strict_order", BIG, 3, &seq(&[A, D, B, C])), 1);
    assert_eq!(level("strict_order", BIG, 3, &seq(&[A, B, D, C])), 2);
    assert_eq!(level("strict_order", BIG, 3, &seq(&[A, A, B, B, C, C])), 3);
    assert_eq!(level("strict_order", BIG, 3, &seq(&[A, C, B])), 1);
    assert_eq!(level("strict_order", BIG, 3, &seq(&[D, A, B, C])), 3);
    assert_eq!(
        level("strict_order", BIG, 3, &[(1, A), (2, B), (2, D), (3, C)]),
        1
    );
}

#[test]
fn strict_increase_and_strict_once() {
    assert_eq!(level("strict_increase", 10, 2, &[(5, A), (5, B)]), 1);
    assert_eq!(
        level("strict_increase", 10, 2, &[(1, A), (2, A), (2, B)]),
        1
    );
    assert_eq!(
        level(
            "strict_increase,strict_once",
            10,
            2,
            &[(1, A), (2, A), (2, B)]
        ),
        2
    );
    assert_eq!(level("strict_once", 10, 3, &[(0, A | B | C)]), 1);
    // One row per step: X@100 X@200 with steps X, X.
    assert_eq!(
        level("strict_once", 50, 2, &[(100, A | B), (200, A | B)]),
        1
    );
    assert_eq!(level("", 50, 2, &[(100, A | B), (200, A | B)]), 2);
    // The PostHog shape: O@1 P@10 P@10 P@11 with steps O, P, P.
    let posthog = [(1, A), (10, B | C), (10, B | C), (11, B | C)];
    assert_eq!(level("strict_once", 100, 3, &posthog), 3);
    assert_eq!(level("strict_increase", 100, 3, &posthog), 2);
}

#[test]
fn allow_reentry() {
    assert_eq!(
        level("strict_order,allow_reentry", BIG, 3, &seq(&[A, C, B])),
        2
    );
    assert_eq!(
        level("strict_order,allow_reentry", BIG, 3, &seq(&[A, D, B, C])),
        1
    );
}

#[test]
fn modes_parse_and_reject_what_clickhouse_rejects() {
    assert!(FunnelModes::parse("strict_order, strict_once").is_ok());
    assert!(FunnelModes::parse("").is_ok());
    for bad in [
        "strict",
        "allow_reentry",
        "strict_deduplication,allow_reentry",
        "fast",
    ] {
        assert!(FunnelModes::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_winning_chain_times_match_the_level() {
    let spec = FunnelSpec {
        window: 10,
        steps: 3,
        modes: FunnelModes::default(),
    };
    let rows = [(0, A), (6, B), (8, A), (12, B), (15, C)].map(|(ts, mask)| EventRow { ts, mask });
    assert_eq!(
        spec.scan(&rows, &mut LevelChains::new(3, true)).times,
        vec![8, 12, 15]
    );
}

/// Events as ClickHouse orders them: each row's events inserted highest step first (a
/// noise event for a row matching nothing, when noise is kept), then a stable sort by
/// `(ts, step)`.
fn events_by_stable_sort(rows: &[EventRow], steps: usize, noise: bool) -> Vec<(i64, usize, u32)> {
    let mut events = Vec::new();
    for (row, r) in rows.iter().enumerate() {
        if r.mask == 0 && noise {
            events.push((r.ts, 0, row as u32));
        }
        for step in (1..=steps).rev() {
            if r.mask & (1 << (step - 1)) != 0 {
                events.push((r.ts, step, row as u32));
            }
        }
    }
    events.sort_by_key(|&(ts, step, _)| (ts, step));
    events
}

/// A small deterministic generator: each call gives a number below its bound.
fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |bound| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    }
}

#[test]
fn events_are_walked_in_the_order_of_a_stable_sort_by_ts_and_step() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    for case in 0..500 {
        let steps = 1 + next(5) as usize;
        let len = next(12) as usize;
        // Few distinct timestamps, so that ties across rows are common.
        let mut rows: Vec<EventRow> = (0..len)
            .map(|_| EventRow {
                ts: next(4) as i64,
                mask: next(1 << steps) as u32,
            })
            .collect();
        rows.sort_by_key(|r| r.ts);
        for strict_order in [false, true] {
            let spec = FunnelSpec {
                window: 10,
                steps,
                modes: FunnelModes {
                    strict_order,
                    ..FunnelModes::default()
                },
            };
            let mut walked = Vec::new();
            spec.walk_events(&rows, |e| {
                walked.push((e.ts, e.step, e.row));
                ControlFlow::Continue(())
            });
            assert_eq!(
                walked,
                events_by_stable_sort(&rows, steps, strict_order),
                "case {case}: {rows:?}"
            );
        }
    }
}

#[test]
fn one_scratch_serves_many_groups() {
    let spec = FunnelSpec {
        window: 10,
        steps: 3,
        modes: FunnelModes::default(),
    };
    let rows = |list: &[(i64, u32)]| -> Vec<EventRow> {
        list.iter()
            .map(|&(ts, mask)| EventRow { ts, mask })
            .collect()
    };
    let mut chains = LevelChains::new(3, true);
    let full = spec.scan(&rows(&[(0, A), (1, B), (2, C)]), &mut chains);
    assert_eq!((full.level, full.times), (3, vec![0, 1, 2]));
    // Nothing of the previous group's chains leaks into the next one.
    let second = spec.scan(&rows(&[(5, B), (6, C)]), &mut chains);
    assert_eq!((second.level, second.times), (0, vec![]));
    let third = spec.scan(&rows(&[(7, A), (30, B)]), &mut chains);
    assert_eq!((third.level, third.times), (1, vec![7]));
}

#[test]
fn the_default_scan_reaches_32_steps() {
    let spec = FunnelSpec {
        window: 31,
        steps: 32,
        modes: FunnelModes::default(),
    };
    let rows: Vec<EventRow> = (0..32)
        .map(|k| EventRow {
            ts: k as i64,
            mask: 1 << k,
        })
        .collect();
    assert_eq!(spec.scan_default(&rows).level, 32);
    // One step later than the window allows: the last step is not reached.
    let late = [
        &rows[..31],
        &[EventRow {
            ts: 32,
            mask: 1 << 31,
        }],
    ]
    .concat();
    assert_eq!(spec.scan_default(&late).level, 31);
}

#[test]
fn the_default_scan_finds_the_level_of_the_chain_scan() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    for case in 0..3000 {
        let steps = 2 + next(31) as usize;
        let len = next(40) as usize;
        let spread = [3, 30, 1000][next(3) as usize];
        // Near the ends of i64 too, where the window saturates.
        let base = [0, i64::MIN, i64::MAX - 1000][next(3) as usize];
        let window = [0, 5, 10, i64::MAX][next(4) as usize];
        let mut rows: Vec<EventRow> = (0..len)
            .map(|_| {
                let bits = next(3) as u32;
                let mask = (0..bits).fold(0, |m, _| m | 1 << next(steps as u64));
                EventRow {
                    ts: base.saturating_add(next(spread) as i64),
                    mask,
                }
            })
            .collect();
        rows.sort_by_key(|r| r.ts);
        let spec = FunnelSpec {
            window,
            steps,
            modes: FunnelModes::default(),
        };
        let chains = spec.scan_levels(&rows, &mut LevelChains::new(steps, false));
        assert_eq!(
            spec.scan_default(&rows).level,
            chains.level,
            "case {case}: window {window}, {steps} steps, {rows:?}"
        );
    }
}
