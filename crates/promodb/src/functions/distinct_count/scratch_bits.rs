//! Deduplicating a group's list through one bitmap per thread, for values within
//! [`REACH`] of each other: the 400 buyers of a minute, among 500k user ids, span a
//! 62 KiB stretch of it. Each value tests and sets its bit, and is kept when the bit was
//! clear; the bits set are cleared again after. That is two passes over the list where
//! sorting it took a dozen compares per value: `perf` put a quarter of the per-minute
//! KPI rollup in those sorts.
//!
//! The list keeps its order (each value where it first came), so a deduplicated list is
//! not sorted. Values are placed as [`super::value_bits`] places them, modulo 2^64.

use std::cell::RefCell;

use datafusion::arrow::datatypes::ArrowNativeType;

use super::value_bits::value_range;

/// The widest span of values (greatest minus least) deduplicated through the bitmap:
/// 2^21 bits, 256 KiB, half the per-core L2 cache of the benchmark machine. A list
/// spread wider is sorted instead. The work touches one cache line per value at most,
/// whatever the span.
pub(super) const REACH: usize = 1 << 21;

/// Lists shorter than this are sorted: for a few values, the sort costs less than the
/// range pass and the scattered bits.
pub(super) const MIN_VALUES: usize = 32;

const WORD_BITS: usize = u64::BITS as usize;

thread_local! {
    /// All clear between calls; allocated to the widest span seen, at most `REACH`
    /// bits (256 KiB per thread that ever deduplicates such a list, kept for the next).
    static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Removes the repeats from `values`, each value staying where it first came, when they
/// are at least [`MIN_VALUES`] and lie within [`REACH`] of each other; `false`, with
/// `values` untouched, otherwise.
pub(super) fn dedup_within_reach<V: ArrowNativeType + Ord>(values: &mut Vec<V>) -> bool {
    const {
        assert!(
            std::mem::size_of::<V>() <= 8,
            "values are placed as 64 bits"
        )
    };
    if values.len() < MIN_VALUES {
        return false;
    }
    let Some((least, greatest)) = value_range(values) else {
        return false;
    };
    let first = least.as_usize();
    let span = greatest.as_usize().wrapping_sub(first);
    if span >= REACH {
        return false;
    }
    SCRATCH.with_borrow_mut(|scratch| {
        let needed = span / WORD_BITS + 1;
        if scratch.len() < needed {
            scratch.reserve_exact(needed - scratch.len());
            scratch.resize(needed, 0);
        }
        let words = ClearedOnUnwind(&mut scratch[..needed]);
        let mut kept = 0;
        for index in 0..values.len() {
            let value = values[index];
            let offset = value.as_usize().wrapping_sub(first);
            let word = &mut words.0[offset / WORD_BITS];
            let bit = 1 << (offset % WORD_BITS);
            let new = *word & bit == 0;
            *word |= bit;
            // Written always, counted only when new: no branch on the data.
            values[kept] = value;
            kept += usize::from(new);
        }
        values.truncate(kept);
        for value in values.iter() {
            words.0[value.as_usize().wrapping_sub(first) / WORD_BITS] = 0;
        }
    });
    true
}

/// The scratch words in use, all cleared if a panic unwinds through them: a bit left
/// set would drop that value from every later list on the thread.
struct ClearedOnUnwind<'a>(&'a mut [u64]);

impl Drop for ClearedOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fill(0);
        }
    }
}

/// Whether this thread's scratch is all clear, as it must be between calls.
#[cfg(test)]
pub(super) fn scratch_is_clear() -> bool {
    SCRATCH.with_borrow(|words| words.iter().all(|&word| word == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_removed_in_place_and_first_comers_keep_their_order() {
        let mut values: Vec<i64> = [500, 7, 500, 9, 7, 7, 1_000_000, 9, 8].repeat(4);
        assert!(dedup_within_reach(&mut values));
        assert_eq!(values, vec![500, 7, 9, 1_000_000, 8]);
        assert!(scratch_is_clear());
        // Fewer than MIN_VALUES: left to the sort.
        let mut few: Vec<i64> = vec![3, 1, 3];
        assert!(!dedup_within_reach(&mut few));
        assert_eq!(few, vec![3, 1, 3]);

        // 400 buyers of a minute among 500k users, each twice.
        let buyers: Vec<i64> = (0..400).map(|i| (i * 1_249) % 500_000).collect();
        let mut twice: Vec<i64> = buyers.iter().chain(buyers.iter().rev()).copied().collect();
        assert!(dedup_within_reach(&mut twice));
        assert_eq!(twice, buyers);
        assert!(scratch_is_clear());
    }

    #[test]
    fn the_ends_of_the_types_are_within_reach_of_their_neighbours() {
        let mut low = [i64::MIN + 2, i64::MIN].repeat(MIN_VALUES);
        assert!(dedup_within_reach(&mut low));
        assert_eq!(low, vec![i64::MIN + 2, i64::MIN]);
        let mut around_zero = [-3i64, 2, -3, 0, 2].repeat(MIN_VALUES);
        assert!(dedup_within_reach(&mut around_zero));
        assert_eq!(around_zero, vec![-3, 2, 0]);
        let mut high = [u64::MAX, u64::MAX - 64, u64::MAX].repeat(MIN_VALUES);
        assert!(dedup_within_reach(&mut high));
        assert_eq!(high, vec![u64::MAX, u64::MAX - 64]);
        let mut bytes: Vec<i8> = (i8::MIN..=i8::MAX).chain(i8::MIN..=i8::MAX).collect();
        assert!(dedup_within_reach(&mut bytes));
        assert_eq!(bytes, (i8::MIN..=i8::MAX).collect::<Vec<i8>>());
        assert!(scratch_is_clear());
    }

    #[test]
    fn values_spread_wider_than_the_reach_are_left_untouched() {
        let mut wide = [0i64, REACH as i64, 0].repeat(MIN_VALUES);
        assert!(!dedup_within_reach(&mut wide));
        assert_eq!(wide, [0, REACH as i64, 0].repeat(MIN_VALUES));
        let mut just_within = [0i64, REACH as i64 - 1, 0].repeat(MIN_VALUES);
        assert!(dedup_within_reach(&mut just_within));
        assert_eq!(just_within, vec![0, REACH as i64 - 1]);
        let mut ends = [u64::MAX, 0, u64::MAX].repeat(MIN_VALUES);
        assert!(!dedup_within_reach(&mut ends));
        assert!(scratch_is_clear());
    }
}
