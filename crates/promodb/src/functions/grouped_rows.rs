//! Each group's event rows in one flat buffer, and their order by time.

use super::event_groups::EventRow;

/// Rows of consecutive groups in one flat buffer: group i's rows, in arrival order, are
/// `rows[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GroupedRows {
    pub(super) offsets: Vec<usize>,
    pub(super) rows: Vec<EventRow>,
}

impl GroupedRows {
    /// The rows `rows()` yields as `(group, row)`, of groups `0..groups`, bucketed by
    /// group (a stable counting sort: `rows` is called twice and must yield the same
    /// rows), with rows matching no condition dropped unless `keep_noise`; and whether
    /// each group had a row at all.
    pub(super) fn bucketed<I>(
        groups: usize,
        keep_noise: bool,
        rows: impl Fn() -> I,
    ) -> (Self, Vec<bool>)
    where
        I: Iterator<Item = (usize, EventRow)>,
    {
        let mut seen = vec![false; groups];
        let mut offsets = vec![0usize; groups + 1];
        for (group, row) in rows() {
            seen[group] = true;
            offsets[group + 1] += usize::from(keep_noise || row.mask != 0);
        }
        for i in 0..groups {
            offsets[i + 1] += offsets[i];
        }
        let mut cursor = offsets.clone();
        let mut bucketed = vec![EventRow { ts: 0, mask: 0 }; offsets[groups]];
        for (group, row) in rows() {
            if keep_noise || row.mask != 0 {
                bucketed[cursor[group]] = row;
                cursor[group] += 1;
            }
        }
        let rows = GroupedRows {
            offsets,
            rows: bucketed,
        };
        (rows, seen)
    }

    /// Each group's rows, in group order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[EventRow]> {
        self.offsets.windows(2).map(|w| &self.rows[w[0]..w[1]])
    }

    /// Sorts each group's rows by `ts`, ties in arrival order.
    pub(super) fn sort_each_by_ts(&mut self) {
        let mut scratch = Vec::new();
        for w in self.offsets.windows(2) {
            sort_by_ts(&mut self.rows[w[0]..w[1]], &mut scratch);
        }
    }
}

/// Sorts `rows` by `ts`, ties in their order (a stable sort). Rows of an event log come
/// in time order, and are then only checked; or, from two input partitions, as two such
/// runs, which are merged (a general sort of a user's few rows was 6% of the 4-step
/// funnel over 10M events, perf). `scratch` is reused space.
fn sort_by_ts(rows: &mut [EventRow], scratch: &mut Vec<EventRow>) {
    let Some(split) = rows.windows(2).position(|w| w[1].ts < w[0].ts) else {
        return;
    };
    let split = split + 1;
    if !rows[split..].is_sorted_by_key(|r| r.ts) {
        rows.sort_by_key(|r| r.ts);
        return;
    }
    // Merge from the front, the first run moved aside: the next row written never
    // passes the second run's next row.
    scratch.clear();
    scratch.extend_from_slice(&rows[..split]);
    let (mut first, mut second, mut out) = (0, split, 0);
    // Without a branch on which run goes next: runs from two partitions interleave
    // at random.
    while first < scratch.len() && second < rows.len() {
        let (a, b) = (scratch[first], rows[second]);
        let take_second = b.ts < a.ts;
        rows[out] = EventRow {
            ts: if take_second { b.ts } else { a.ts },
            mask: if take_second { b.mask } else { a.mask },
        };
        second += usize::from(take_second);
        first += usize::from(!take_second);
        out += 1;
    }
    let rest = &scratch[first..];
    rows[out..out + rest.len()].copy_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_by_ts_stably_from_any_number_of_runs() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |bound: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % bound
        };
        let mut scratch = Vec::new();
        for case in 0..2000 {
            // Up to 4 runs, each sorted, with ties within and across runs.
            let runs = next(5);
            let mut rows = Vec::new();
            for _ in 0..runs {
                let mut run: Vec<i64> = (0..next(12)).map(|_| next(20) as i64).collect();
                run.sort();
                rows.extend(run.into_iter().map(|ts| EventRow { ts, mask: 0 }));
            }
            // mask numbers the rows, so that a tie out of arrival order shows.
            for (i, row) in rows.iter_mut().enumerate() {
                row.mask = i as u32;
            }
            let mut expected = rows.clone();
            expected.sort_by_key(|r| r.ts);
            sort_by_ts(&mut rows, &mut scratch);
            assert_eq!(rows, expected, "case {case}");
        }
    }
}
