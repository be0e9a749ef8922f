//! A group's distinct values as one bit per value over a range of values, for values
//! that lie close together: the order ids of one minute or one hour span a few times
//! as many ids as the orders they count. Adding a value sets a bit where a list would
//! be sorted again and again; `perf` put 40% of the hourly last-year comparison in
//! those sorts.
//!
//! Values are placed by [`ArrowNativeType::as_usize`], and all arithmetic on them is
//! modulo 2^64: a signed value wraps to a large offset, a range may cross from the
//! largest `u64` to zero, and every value still has one bit (promodb builds for 64-bit
//! targets only). The set spends at most [`BITS_PER_VALUE_BYTE`] bits per byte of each
//! value it holds; a value further away is refused, and the caller keeps the values in
//! a list instead.

use datafusion::arrow::datatypes::ArrowNativeType;

/// The most bits the set spends per byte of each value it holds: 128 bits per `i64`,
/// 64 per `i32`. A list spends 8 bits per byte, and up to four times that while it
/// waits to be deduplicated and has room to grow.
pub(super) const BITS_PER_VALUE_BYTE: usize = 16;

const _: () = assert!(usize::BITS == 64, "values are placed modulo 2^64 as usize");

const WORD_BITS: usize = u64::BITS as usize;

/// Distinct values, one bit each, over `WORD_BITS * words.len()` values from `first`.
#[derive(Debug, Clone)]
pub(super) struct ValueBits {
    /// The value of bit 0, as `as_usize` maps it.
    first: usize,
    words: Vec<u64>,
}

impl ValueBits {
    /// The set of `distinct` (without repeats, in any order), or `None` when its values
    /// are too far apart (or there are none).
    pub(super) fn from_distinct<V: ArrowNativeType + Ord>(distinct: &[V]) -> Option<Self> {
        const {
            assert!(
                std::mem::size_of::<V>() <= 8,
                "values are placed as 64 bits"
            )
        };
        let (least, greatest) = value_range(distinct)?;
        let first = least.as_usize();
        // The greatest is at most 2^64 - 1 past the least.
        let span = greatest.as_usize().wrapping_sub(first);
        let words = span / WORD_BITS + 1;
        if !within_budget::<V>(words, distinct.len()) {
            return None;
        }
        let mut bits = Self {
            first,
            words: vec![0; words],
        };
        for &value in distinct {
            bits.set(value.as_usize().wrapping_sub(first));
        }
        Some(bits)
    }

    /// Adds `value` (whether it was new is not needed: the set counts at the end);
    /// `false` when the set would have to grow past its budget to hold it, and is left
    /// unchanged.
    #[inline]
    pub(super) fn insert<V: ArrowNativeType>(&mut self, value: V) -> bool {
        let offset = value.as_usize().wrapping_sub(self.first);
        if offset < self.words.len() * WORD_BITS {
            self.set(offset);
            return true;
        }
        self.grow_to::<V>(value.as_usize()) && {
            self.set(value.as_usize().wrapping_sub(self.first));
            true
        }
    }

    /// Widens the range to `value` on the side that needs fewer words, at least
    /// doubling it (so that values arriving one by one past its end do not recount and
    /// copy it each time); `false` when that is over the budget.
    #[cold]
    fn grow_to<V>(&mut self, value: usize) -> bool {
        let len = self.words.len();
        let end = self.first.wrapping_add(len * WORD_BITS);
        let after_end = value.wrapping_sub(end) / WORD_BITS + 1;
        let before_first = (self.first.wrapping_sub(value) - 1) / WORD_BITS + 1;
        let added = after_end.min(before_first).max(len);
        if !within_budget::<V>(len.saturating_add(added), self.len() + 1) {
            return false;
        }
        if after_end <= before_first {
            self.words.resize(len + added, 0);
        } else {
            let mut words = vec![0; len + added];
            words[added..].copy_from_slice(&self.words);
            self.words = words;
            self.first = self.first.wrapping_sub(added * WORD_BITS);
        }
        true
    }

    #[inline]
    fn set(&mut self, offset: usize) {
        self.words[offset / WORD_BITS] |= 1 << (offset % WORD_BITS);
    }

    /// The number of values held.
    pub(super) fn len(&self) -> usize {
        self.words
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum()
    }

    /// The words the set occupies.
    pub(super) fn words(&self) -> usize {
        self.words.len()
    }

    /// Appends the values held to `out`, from the first of the range.
    pub(super) fn append_to<V: ArrowNativeType>(&self, out: &mut Vec<V>) {
        for (index, &word) in self.words.iter().enumerate() {
            let base = self.first.wrapping_add(index * WORD_BITS);
            let mut rest = word;
            while rest != 0 {
                let bit = rest.trailing_zeros() as usize;
                out.push(V::usize_as(base.wrapping_add(bit)));
                rest &= rest - 1;
            }
        }
    }
}

/// The least and the greatest of `values` (None when there are none).
pub(super) fn value_range<V: Ord + Copy>(values: &[V]) -> Option<(V, V)> {
    let &first = values.first()?;
    Some(
        values
            .iter()
            .fold((first, first), |(least, greatest), &value| {
                (least.min(value), greatest.max(value))
            }),
    )
}

/// Whether `words` words are within the budget of `values` values of type `V`.
fn within_budget<V>(words: usize, values: usize) -> bool {
    let bits_per_value = BITS_PER_VALUE_BYTE * size_of::<V>();
    (words as u128) * (WORD_BITS as u128) <= (values as u128) * (bits_per_value as u128)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn values<V: ArrowNativeType + Ord>(bits: &ValueBits) -> Vec<V> {
        let mut out = Vec::new();
        bits.append_to(&mut out);
        out.sort();
        out
    }

    #[test]
    fn close_values_are_held_and_far_ones_refused() {
        let sorted: Vec<i64> = (0..100).map(|i| 1_000 + 3 * i).collect();
        let mut bits = ValueBits::from_distinct(&sorted).expect("3 bits per value");
        assert_eq!(bits.len(), 100);
        // Both sides grow, repeats are held once.
        for value in [900, 2_000, 1_000, 2_000, 1_001] {
            assert!(bits.insert(value), "{value}");
        }
        let mut expected: BTreeSet<i64> = sorted.into_iter().collect();
        expected.extend([900, 2_000, 1_001]);
        assert_eq!(
            values::<i64>(&bits),
            expected.into_iter().collect::<Vec<_>>()
        );
        // 103 values may span 103 * 128 bits, and the set grows by doubling: a value
        // 20,000 away is refused and changes nothing.
        let words = bits.words();
        assert!(!bits.insert(30_000i64));
        assert!(!bits.insert(-20_000i64));
        assert_eq!((bits.words(), bits.len()), (words, 103));

        assert!(ValueBits::from_distinct(&[0i64, 1_000_000]).is_none());
        assert!(ValueBits::from_distinct::<i64>(&[]).is_none());
    }

    #[test]
    fn ranges_cross_zero_and_the_ends_of_the_type() {
        // Signed values across zero and at the ends of i8 and i64.
        let all_i8: Vec<i8> = (i8::MIN..=i8::MAX).collect();
        let bits = ValueBits::from_distinct(&all_i8).expect("dense");
        assert_eq!(values::<i8>(&bits), all_i8);

        let mut bits = ValueBits::from_distinct(&[i64::MAX - 3, i64::MAX]).expect("dense");
        assert!(bits.insert(i64::MAX - 200));
        assert_eq!(
            values::<i64>(&bits),
            vec![i64::MAX - 200, i64::MAX - 3, i64::MAX]
        );

        let mut bits = ValueBits::from_distinct(&[i64::MIN, i64::MIN + 1]).expect("dense");
        assert!(bits.insert(i64::MIN + 100));
        assert_eq!(
            values::<i64>(&bits),
            vec![i64::MIN, i64::MIN + 1, i64::MIN + 100]
        );

        // An unsigned range may wrap from u64::MAX to 0.
        let mut bits = ValueBits::from_distinct(&[u64::MAX - 1, u64::MAX]).expect("dense");
        assert!(bits.insert(0u64) && bits.insert(5u64));
        assert_eq!(values::<u64>(&bits), vec![0, 5, u64::MAX - 1, u64::MAX]);
    }

    #[test]
    fn narrower_values_get_a_smaller_budget_and_growth_doubles() {
        // 64 i32 values 50 apart: 50 bits each, within 64.
        let dates: Vec<i32> = (0..64).map(|i| 20_000 + 50 * i).collect();
        let mut bits = ValueBits::from_distinct(&dates).expect("within 64 bits per i32");
        // 64 i16 values 50 apart: over 32 bits each.
        let shorts: Vec<i16> = (0..64).map(|i| 50 * i).collect();
        assert!(ValueBits::from_distinct(&shorts).is_none());
        // Values arriving one by one past the end, 20 apart: the words at least double
        // at each growth, so they grow a few times only.
        let mut growths = 0;
        for i in 64..2_000 {
            let words = bits.words();
            assert!(bits.insert(20_000 + 20 * i), "{i}");
            growths += usize::from(bits.words() != words);
        }
        assert!(growths <= 8, "{growths} growths");
        let all: BTreeSet<i32> = dates
            .into_iter()
            .chain((64..2_000).map(|i| 20_000 + 20 * i))
            .collect();
        assert_eq!(values::<i32>(&bits), all.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn random_values_match_a_set() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..200 {
            let spread = 1 + (case % 7) * 40;
            let centre = (next() as i64) >> (case % 50);
            let start: Vec<i64> = (0..64)
                .map(|i| centre.wrapping_add(i * (spread as i64) / 4))
                .collect();
            let mut expected: BTreeSet<i64> = start.iter().copied().collect();
            let sorted: Vec<i64> = expected.iter().copied().collect();
            let Some(mut bits) = ValueBits::from_distinct(&sorted) else {
                continue;
            };
            for _ in 0..500 {
                let value =
                    centre.wrapping_add((next() % (spread * 200)) as i64 - 50 * spread as i64);
                if bits.insert(value) {
                    expected.insert(value);
                }
                assert!(
                    bits.words() * WORD_BITS <= expected.len() * 128,
                    "over budget in case {case}"
                );
            }
            assert_eq!(bits.len(), expected.len(), "case {case}");
            assert_eq!(
                values::<i64>(&bits),
                expected.into_iter().collect::<Vec<_>>()
            );
        }
    }
}
