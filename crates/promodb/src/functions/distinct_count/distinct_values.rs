//! One group's distinct values for `COUNT(DISTINCT x)`, stored by how they arrive.
//!
//! - Up to [`INLINE`] values sit in place: grouped by buyer, most groups hold one or two
//!   orders, and an allocation per buyer would dominate.
//! - Values that keep arriving in increasing order (order ids and timestamps within a
//!   minute or an hour) are appended to a list that stays sorted and free of repeats:
//!   one comparison with the last value, nothing to deduplicate later.
//! - Otherwise values are appended to a list that is deduplicated whenever it has
//!   doubled, and not before it holds [`COMPACT_MIN`] values: the 400 buyers of a
//!   minute are deduplicated once, when the minute is emitted, instead of at 64, 128
//!   and 256 values and again at the end. Appending stays in cache where a hash set of
//!   100k buyers per channel misses on every insert (an open-addressing table per group
//!   was also slower on the 400 buyers of a minute: its branches mispredict).
//!   - A list whose values lie within [`scratch_bits::REACH`] of each other (user ids
//!     up to 2 million apart) is deduplicated through one bitmap per thread, in two
//!     passes, and keeps its order.
//!   - A list spread wider is sorted: only the values appended since the last
//!     compaction (unstable, the faster sort of integers), then the run-merging sort
//!     merges them with the rest.
//! - A list whose values turn out to lie close together (order ids within a minute or
//!   an hour, which arrive interleaved) becomes a set of bits over their range
//!   ([`ValueBits`]): adding a value sets a bit instead of sorting the list again. A
//!   value too far away for the set's budget turns it back into a list.
//!
//! A final aggregation takes a partial state's list (which holds no repeats) as it is,
//! so a group that one partition saw whole is counted without being sorted again.

use datafusion::arrow::datatypes::ArrowNativeType;

use super::scratch_bits;
use super::value_bits::ValueBits;

/// Values a group holds inline before it needs a list.
const INLINE: usize = 4;

/// A list is deduplicated when it has grown to this many times its distinct
/// values (and at least `COMPACT_MIN`). Until then it may hold repeats: up to 1,024
/// values (8 KiB of `i64`) for a group with fewer distinct values, at most one per
/// input row of the group.
const COMPACT_GROWTH: usize = 2;
const COMPACT_MIN: usize = 1024;

/// One group's distinct values.
#[derive(Debug, Clone)]
pub(super) enum DistinctValues<V> {
    Few {
        len: u8,
        values: [V; INLINE],
    },
    /// Strictly increasing values.
    Ascending(Vec<V>),
    /// `distinct`: the list held no repeats when it had this many values (values
    /// appended since may repeat). Those first values are in no particular order.
    List {
        values: Vec<V>,
        distinct: usize,
    },
    /// Values close together, one bit each.
    Bits(ValueBits),
}

impl<V: ArrowNativeType + Ord> Default for DistinctValues<V> {
    fn default() -> Self {
        DistinctValues::Few {
            len: 0,
            values: [V::default(); INLINE],
        }
    }
}

impl<V: ArrowNativeType + Ord> DistinctValues<V> {
    /// Adds `value`; returns how many more values are stored (a list's compaction can
    /// make it negative).
    pub(super) fn insert(&mut self, value: V) -> isize {
        match self {
            DistinctValues::Ascending(values) => match values.last() {
                Some(&last) if last < value => {
                    values.push(value);
                    1
                }
                Some(&last) if last == value => 0,
                _ => {
                    let values = std::mem::take(values);
                    let distinct = values.len();
                    *self = DistinctValues::List { values, distinct };
                    self.insert(value)
                }
            },
            DistinctValues::List { values, distinct } => {
                values.push(value);
                if values.len() < COMPACT_MIN.max(COMPACT_GROWTH * *distinct) {
                    return 1;
                }
                1 + self.compact_when_grown()
            }
            DistinctValues::Bits(bits) => {
                let words = bits.words();
                if bits.insert(value) {
                    return values_in_words::<V>(bits.words()) as isize
                        - values_in_words::<V>(words) as isize;
                }
                let before = self.stored();
                self.bits_to_list();
                let listed = self.stored() as isize - before as isize;
                listed + self.insert(value)
            }
            DistinctValues::Few { len, values } => {
                let held = &values[..usize::from(*len)];
                if held.contains(&value) {
                    return 0;
                }
                if held.len() < INLINE {
                    values[held.len()] = value;
                    *len += 1;
                    return 1;
                }
                let mut list = Vec::with_capacity(2 * (INLINE + 1));
                list.extend_from_slice(held);
                list.push(value);
                *self = if list.is_sorted() {
                    // No repeats: `held` did not contain `value`.
                    DistinctValues::Ascending(list)
                } else {
                    DistinctValues::List {
                        values: list,
                        distinct: 0,
                    }
                };
                1
            }
        }
    }

    /// Adds `more`, a list with no repeats (a partial state's list); returns how many
    /// more values are stored.
    pub(super) fn merge_distinct(&mut self, more: &[V]) -> isize {
        match self {
            DistinctValues::Few { len: 0, .. } if more.len() > INLINE => {
                // Most groups of a final aggregation come from one partition: their
                // list is taken as it is, and counted without deduplication.
                *self = DistinctValues::List {
                    values: more.to_vec(),
                    distinct: more.len(),
                };
                more.len() as isize
            }
            DistinctValues::List { values, .. } => {
                values.extend_from_slice(more);
                more.len() as isize + self.compact_when_grown()
            }
            DistinctValues::Few { .. } | DistinctValues::Ascending(_) | DistinctValues::Bits(_) => {
                more.iter().map(|&value| self.insert(value)).sum()
            }
        }
    }

    /// Compacts a list that has grown enough, and turns it into bits if its values lie
    /// close enough together; returns the change in values stored.
    #[cold]
    fn compact_when_grown(&mut self) -> isize {
        match self {
            DistinctValues::List { values, distinct }
                if values.len() >= COMPACT_MIN.max(COMPACT_GROWTH * *distinct) =>
            {
                let before = values.len();
                self.compact();
                if let DistinctValues::List { values, .. } = self {
                    if let Some(bits) = ValueBits::from_distinct(values) {
                        *self = DistinctValues::Bits(bits);
                    } else if values.capacity() > COMPACT_GROWTH * values.len() {
                        // Many repeats: the room they took is given back, so that a
                        // list never holds more than twice what it stores (`size`).
                        values.shrink_to(COMPACT_GROWTH * values.len());
                    }
                }
                self.stored() as isize - before as isize
            }
            _ => 0,
        }
    }

    /// Turns bits back into a list (of the same values, without repeats).
    fn bits_to_list(&mut self) {
        if let DistinctValues::Bits(bits) = self {
            let mut values = Vec::with_capacity(2 * bits.len());
            bits.append_to(&mut values);
            let distinct = values.len();
            *self = DistinctValues::List { values, distinct };
        }
    }

    /// Deduplicates a list; returns the change in values stored.
    fn compact(&mut self) -> isize {
        match self {
            DistinctValues::List { values, distinct } if values.len() > *distinct => {
                let before = values.len();
                if !scratch_bits::dedup_within_reach(values) {
                    values[*distinct..].sort_unstable();
                    if *distinct > 0 {
                        // The first values are one ascending run after a sort, any
                        // order otherwise: `sort` merges runs, and sorts the rest.
                        values.sort();
                    }
                    values.dedup();
                }
                *distinct = values.len();
                values.len() as isize - before as isize
            }
            _ => 0,
        }
    }

    /// Values stored, repeats not yet removed included; for bits, the values that
    /// would fill as much memory.
    pub(super) fn stored(&self) -> usize {
        match self {
            DistinctValues::Few { len, .. } => usize::from(*len),
            DistinctValues::Ascending(values) | DistinctValues::List { values, .. } => values.len(),
            DistinctValues::Bits(bits) => values_in_words::<V>(bits.words()),
        }
    }

    /// The number of distinct values (deduplicates first).
    pub(super) fn count(&mut self) -> usize {
        match self {
            DistinctValues::Bits(bits) => bits.len(),
            _ => {
                self.compact();
                self.stored()
            }
        }
    }

    /// Appends the distinct values to `out`, in no particular order.
    pub(super) fn append_to(&mut self, out: &mut Vec<V>) {
        self.compact();
        match self {
            DistinctValues::Few { len, values } => {
                out.extend_from_slice(&values[..usize::from(*len)])
            }
            DistinctValues::Ascending(values) | DistinctValues::List { values, .. } => {
                out.extend_from_slice(values)
            }
            DistinctValues::Bits(bits) => bits.append_to(out),
        }
    }
}

/// How many values of type `V` fill as much memory as `words` words of bits.
fn values_in_words<V>(words: usize) -> usize {
    (words * std::mem::size_of::<u64>()).div_ceil(std::mem::size_of::<V>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(values: &mut DistinctValues<i64>) -> Vec<i64> {
        let mut all = Vec::new();
        values.append_to(&mut all);
        all.sort();
        all
    }

    #[test]
    fn increasing_values_stay_on_the_ascending_list_until_one_is_out_of_order() {
        let mut values = DistinctValues::<i64>::default();
        for v in [-3, 1, 1, 4, 5, 5, 9, 12, 12] {
            values.insert(v);
        }
        assert!(matches!(values, DistinctValues::Ascending(_)));
        assert_eq!(values.count(), 6);
        // A value below the last one, repeated or not, turns it into a plain list.
        values.insert(4);
        assert!(matches!(values, DistinctValues::List { .. }));
        values.insert(2);
        assert_eq!(values.count(), 7);
        assert_eq!(sorted(&mut values), vec![-3, 1, 2, 4, 5, 9, 12]);
    }

    #[test]
    fn unordered_values_are_counted_through_many_compactions() {
        let mut values = DistinctValues::<i64>::default();
        for v in [3, 1, 3, 4, 1, 0, 5, 9, 9, 0, 2, 6, 5, 3, -7] {
            values.insert(v);
        }
        assert!(matches!(values, DistinctValues::List { .. }));
        assert_eq!(values.count(), 9);
        assert_eq!(sorted(&mut values), vec![-7, 0, 1, 2, 3, 4, 5, 6, 9]);

        // Values in a cycle with repeats: each counted once, and the returned changes
        // add up to what is stored.
        let mut big = DistinctValues::<i64>::default();
        let mut stored = 0isize;
        for i in 0..20_000i64 {
            stored += big.insert((i * 7919) % 6_000 - 1_000);
        }
        assert_eq!(stored, big.stored() as isize);
        assert!(big.stored() < 2 * 6_000 + COMPACT_MIN, "{}", big.stored());
        assert_eq!(big.count(), 6_000);
        assert_eq!(sorted(&mut big), (-1_000..5_000).collect::<Vec<i64>>());
    }

    #[test]
    fn far_apart_values_stay_a_list_through_compactions_of_new_values_only() {
        let far = |i: i64| (i * 7_919 % 3_000) * 1_000_003;
        let mut values = DistinctValues::<i64>::default();
        let mut stored = 0isize;
        // 3,000 values far apart, each arriving three times out of order: compacted at
        // 1,024 values, then whenever the list has doubled.
        for i in 0..9_000i64 {
            stored += values.insert(far(i));
            if let DistinctValues::List { values: list, .. } = &values {
                assert!(
                    list.capacity() <= 2 * list.len().max(5),
                    "{}",
                    list.capacity()
                );
            }
        }
        assert!(matches!(values, DistinctValues::List { .. }));
        assert_eq!(stored, values.stored() as isize);
        assert_eq!(values.count(), 3_000);
        let expected: Vec<i64> = (0..3_000).map(|i| i * 1_000_003).collect();
        assert_eq!(sorted(&mut values), expected);

        // Few distinct values repeated up to the threshold: compacted, the room is
        // given back.
        let mut few = DistinctValues::<i64>::default();
        for i in 0..1_024i64 {
            few.insert(far(i % 6));
        }
        let DistinctValues::List { values: list, .. } = &few else {
            panic!("6 values far apart are a list");
        };
        assert_eq!(list.len(), 6);
        assert!(list.capacity() <= 12, "{}", list.capacity());
    }

    #[test]
    fn a_partial_state_list_taken_whole_is_compacted_with_later_ones() {
        // An unsorted list taken as it is, then lists that push it past 1,024 values.
        let mut merged = DistinctValues::<i64>::default();
        let first: Vec<i64> = (0..600).rev().map(|i| i * 1_000_003).collect();
        let mut stored = merged.merge_distinct(&first);
        for part in 0..4 {
            let more: Vec<i64> = (0..600).map(|i| (i + 300 * part) * 1_000_003).collect();
            stored += merged.merge_distinct(&more);
        }
        assert_eq!(stored, merged.stored() as isize);
        assert_eq!(merged.count(), 1_500);
        let expected: Vec<i64> = (0..1_500).map(|i| i * 1_000_003).collect();
        assert_eq!(sorted(&mut merged), expected);
    }

    #[test]
    fn interleaved_close_values_become_bits_until_one_is_far_away() {
        let mut values = DistinctValues::<i64>::default();
        let mut stored = 0isize;
        // Order ids of one hour: a window of ids, each arriving a few times, out of
        // order.
        for i in 0..5_000i64 {
            stored += values.insert(10_000 + (i * 7_919) % 3_000);
        }
        assert!(matches!(values, DistinctValues::Bits(_)));
        assert_eq!(stored, values.stored() as isize);
        assert_eq!(values.count(), 3_000);
        // A far value turns the bits back into a list that still counts everything.
        stored += values.insert(-1_000_000_000);
        assert!(matches!(values, DistinctValues::List { .. }));
        for i in 0..100 {
            stored += values.insert(10_000 + i);
        }
        assert_eq!(stored, values.stored() as isize);
        assert_eq!(values.count(), 3_001);
        let mut expected: Vec<i64> = (10_000..13_000).collect();
        expected.insert(0, -1_000_000_000);
        assert_eq!(sorted(&mut values), expected);
    }

    #[test]
    fn a_partial_state_merges_into_bits() {
        let mut values = DistinctValues::<i32>::default();
        let mut stored = 0isize;
        // Dates 5,000..6,000 in a scattered order, twice over.
        for i in 0..2_000i32 {
            stored += values.insert(5_000 + (i * 37) % 1_000);
        }
        assert!(matches!(values, DistinctValues::Bits(_)));
        // Another partition's list: two values held already, two new on either side.
        stored += values.merge_distinct(&[4_990, 5_000, 6_010, 5_999]);
        assert!(matches!(values, DistinctValues::Bits(_)));
        assert_eq!(stored, values.stored() as isize);
        assert_eq!(values.count(), 1_002);
        let mut expected: Vec<i32> = (5_000..6_000).collect();
        expected.extend([4_990, 6_010]);
        expected.sort();
        let mut all = Vec::new();
        values.append_to(&mut all);
        assert_eq!(all, expected, "bits give their values in order");
    }

    #[test]
    fn small_types_count_every_value_once() {
        let mut values = DistinctValues::<i8>::default();
        for v in (i8::MIN..=i8::MAX).rev() {
            values.insert(v);
            values.insert(v);
        }
        assert_eq!(values.count(), 256);
        let mut all = Vec::new();
        values.append_to(&mut all);
        all.sort();
        assert_eq!(all, (i8::MIN..=i8::MAX).collect::<Vec<i8>>());
    }

    #[test]
    fn merged_state_lists_are_taken_whole_then_deduplicated_against_more() {
        let mut merged = DistinctValues::<i64>::default();
        assert_eq!(merged.merge_distinct(&[5, 1, 9, 3, 7, 2]), 6);
        assert!(matches!(merged, DistinctValues::List { .. }));
        merged.merge_distinct(&[9, 10, 1]);
        assert_eq!(merged.count(), 7);
        assert_eq!(sorted(&mut merged), vec![1, 2, 3, 5, 7, 9, 10]);

        let mut into_few = DistinctValues::<i64>::default();
        into_few.insert(4);
        into_few.merge_distinct(&[4, 5, 6, 7, 8, 9]);
        assert!(matches!(into_few, DistinctValues::Ascending(_)));
        into_few.merge_distinct(&[1, 9, 10]);
        assert_eq!(into_few.count(), 8);
        assert_eq!(sorted(&mut into_few), vec![1, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn a_list_deduplicated_through_bits_then_spread_wide_is_sorted_whole() {
        // 1,500 values 1,000 apart in a scattered order, each twice: compacted through
        // the bitmap, so the first values are no longer in order.
        let scattered = |i: i64| ((i * 7_919) % 1_500) * 1_000;
        let mut values = DistinctValues::<i64>::default();
        let mut stored = 0isize;
        for i in 0..3_000i64 {
            stored += values.insert(scattered(i));
        }
        assert!(matches!(values, DistinctValues::List { .. }));
        assert!(scratch_bits::scratch_is_clear());
        // Far values: the next compaction takes the sort, over an unsorted prefix.
        for i in 0..2_000i64 {
            stored += values.insert(i * 1_000_000_007);
        }
        assert_eq!(stored, values.stored() as isize);
        assert_eq!(values.count(), 1_500 + 1_999);
        let mut expected: Vec<i64> = (0..1_500).map(|i| i * 1_000).collect();
        expected.extend((1..2_000).map(|i| i * 1_000_000_007));
        expected.sort();
        assert_eq!(sorted(&mut values), expected);
        assert!(scratch_bits::scratch_is_clear());
    }

    /// A small deterministic generator (xorshift64*), so that failures reproduce.
    fn generator(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed;
        move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    /// Inserts and merges of values drawn by `draw` into groups, checked against a set
    /// per group after every count.
    fn matches_a_set<V: ArrowNativeType + Ord + std::fmt::Debug>(draw: impl Fn(u64) -> V) {
        let mut next = generator(0x9E37_79B9_7F4A_7C15);
        for round in 0..40 {
            let mut values = DistinctValues::<V>::default();
            let mut set = std::collections::BTreeSet::new();
            let mut stored = 0isize;
            let rows = 1 + next() % 5_000;
            for _ in 0..rows {
                if next().is_multiple_of(16) {
                    // Another partition's state: values without repeats.
                    let part: std::collections::BTreeSet<V> =
                        (0..next() % 50).map(|_| draw(next())).collect();
                    let part: Vec<V> = part.into_iter().rev().collect();
                    set.extend(part.iter().copied());
                    stored += values.merge_distinct(&part);
                } else {
                    let value = draw(next());
                    set.insert(value);
                    stored += values.insert(value);
                }
            }
            assert_eq!(stored, values.stored() as isize, "round {round}");
            assert_eq!(values.count(), set.len(), "round {round}");
            let mut all = Vec::new();
            values.append_to(&mut all);
            all.sort();
            assert_eq!(all, set.into_iter().collect::<Vec<V>>(), "round {round}");
            assert!(scratch_bits::scratch_is_clear(), "round {round}");
        }
    }

    #[test]
    fn random_inserts_and_merges_count_what_a_set_counts() {
        // Each type over a narrow window (bits and bitmap), a wide one (sort) and
        // both ends of its range.
        matches_a_set(|r| (r % 3_000) as i64 - 1_500);
        matches_a_set(|r| (r % 4_000_000) as i64 * if r.is_multiple_of(2) { 1 } else { -1 });
        matches_a_set(|r| i64::MIN + (r % 700) as i64);
        matches_a_set(|r| u64::MAX - r % 700);
        matches_a_set(|r| r as i64);
        matches_a_set(|r| (r % 100_000) as i32 - 50_000);
        matches_a_set(|r| r as u16);
        matches_a_set(|r| r as i8);
    }
}
