//! Integer keys that lie close together (SKU ids, user ids, hour offsets) looked up by
//! their offset in a range: one read of a 4-byte group index, where hashed slots read
//! a 16-byte slot and probe on. A million user ids fill 4 MiB instead of the 32 MiB
//! of slots, so more of it stays in the caches.
//!
//! The range holds at most [`ENTRIES_PER_KEY`] entries per key (the bytes hashed slots
//! spend at their fullest), or up to [`SPARSE_ENTRIES_PER_KEY`] per key within
//! [`SPARSE_MAX_ENTRIES`], or [`MIN_ENTRIES`] ([`budget`]); a key that would stretch it
//! further is refused, and the table moves its keys to hashed slots. Hashed keys that
//! come to fill half the budget are moved back into a range ([`DirectIndex::holding`]).

use crate::prefetch::{PREFETCH_DISTANCE, prefetch};

use super::slots::GroupOwner;

/// An entry without a group.
const EMPTY: u32 = u32::MAX;

/// Entries the range may hold per key: 4 bytes each, as many bytes as the hashed slots
/// of a key at their fullest (16-byte slots, at most half in use).
const ENTRIES_PER_KEY: usize = 8;

/// Entries the range may always hold (256 KiB), however few its keys.
const MIN_ENTRIES: usize = 1 << 16;

/// Entries the range may hold per key while it is within [`SPARSE_MAX_ENTRIES`]. The
/// users of a promo arrive scattered over their ids: with 8 entries per key, the range
/// of 1.35M user ids was refused until 337k users had arrived, and until then they were
/// hashed, their slots rehashed at every doubling (7% of the retention query, perf);
/// with 64, the range takes them from the 64k-th. The price is memory: a range may
/// then cost 256 bytes a key (16 MiB at 65,536 keys, where hashed slots take 2-4 MiB),
/// for each key column of each partition of each stage.
const SPARSE_ENTRIES_PER_KEY: usize = 64;

/// The most entries (16 MiB) a range may hold at [`SPARSE_ENTRIES_PER_KEY`] per key.
const SPARSE_MAX_ENTRIES: usize = 1 << 22;

/// Entries a range may hold for `keys` keys.
fn budget(keys: usize) -> usize {
    let sparse = SPARSE_ENTRIES_PER_KEY
        .saturating_mul(keys)
        .min(SPARSE_MAX_ENTRIES);
    MIN_ENTRIES
        .max(sparse)
        .max(ENTRIES_PER_KEY.saturating_mul(keys))
}

/// Entries a range starts with.
const INITIAL_ENTRIES: usize = 1 << 10;

/// Above this many entries the range outgrows the fastest caches, and the entry of a
/// row a few rows ahead is prefetched.
const PREFETCH_MIN_ENTRIES: usize = 1 << 17;

/// The group of each key in `first..first + groups.len()`, by offset.
#[derive(Debug, Default)]
pub(super) struct DirectIndex {
    first: i64,
    groups: Vec<u32>,
    /// The lowest and highest keys with a group (meaningless while there are none).
    lowest: i64,
    highest: i64,
}

impl DirectIndex {
    /// Writes the group of each row to `groups`, numbering new keys with `owner`, until
    /// a key the range may not stretch to; returns the rows done.
    pub(super) fn intern(
        &mut self,
        rows: usize,
        key_of: impl Fn(usize) -> i64,
        groups: &mut Vec<usize>,
        owner: &mut impl GroupOwner<i64>,
    ) -> usize {
        groups.reserve(rows);
        for row in 0..rows {
            if self.groups.len() >= PREFETCH_MIN_ENTRIES && row + PREFETCH_DISTANCE < rows {
                let ahead = self.offset(key_of(row + PREFETCH_DISTANCE));
                if ahead < self.groups.len() {
                    prefetch(&self.groups[ahead]);
                }
            }
            let key = key_of(row);
            let mut offset = self.offset(key);
            if offset >= self.groups.len() {
                if !self.stretch_to(key, owner.group_count()) {
                    return row;
                }
                offset = self.offset(key);
            }
            let entry = &mut self.groups[offset];
            if *entry == EMPTY {
                *entry = owner.add_group(row, key);
                self.lowest = self.lowest.min(key);
                self.highest = self.highest.max(key);
            }
            groups.push(*entry as usize);
        }
        rows
    }

    /// Where `key` lies from the first key of the range (modulo 2^64: a key below the
    /// range lies far beyond its end).
    #[inline(always)]
    fn offset(&self, key: i64) -> usize {
        key.wrapping_sub(self.first) as u64 as usize
    }

    /// Moves the range to hold `key` and the keys held, at least doubling it (so that
    /// keys arriving one by one past its end are not copied over and over), within the
    /// budget of `keys + 1` keys; `false` if that is over the budget.
    #[cold]
    fn stretch_to(&mut self, key: i64, keys: usize) -> bool {
        let budget = budget(keys + 1) as i128;
        if self.groups.is_empty() {
            (self.lowest, self.highest) = (key, key);
        }
        let (lowest, highest) = (self.lowest.min(key) as i128, self.highest.max(key) as i128);
        let needed = highest + 1 - lowest;
        let wanted = needed
            .max(2 * self.groups.len() as i128)
            .max(INITIAL_ENTRIES as i128);
        if wanted > budget {
            return false;
        }
        let (low, high) = if (key as i128) < self.lowest as i128 {
            ((highest + 1 - wanted).max(i64::MIN as i128), highest + 1)
        } else {
            (lowest, (lowest + wanted).min(i64::MAX as i128 + 1))
        };
        let mut groups = vec![EMPTY; (high - low) as usize];
        // Every entry in use lies between the lowest and highest keys, inside both ranges.
        let (old_first, new_first) = (self.first as i128, low);
        for (offset, &group) in self.groups.iter().enumerate() {
            if group != EMPTY {
                groups[(old_first + offset as i128 - new_first) as usize] = group;
            }
        }
        self.groups = groups;
        self.first = low as i64;
        true
    }

    /// A range holding the groups `owner` stores (its `stored_key`s), if they lie close
    /// enough together to fill half the budget of their number (so that the range can
    /// double): keys that arrived spread out (the first few thousand users of a
    /// million) may fill their range later.
    pub(super) fn holding(owner: &impl GroupOwner<i64>) -> Option<Self> {
        let groups = owner.group_count();
        let mut stored = (0..groups).filter_map(|group| owner.stored_key(group));
        let first = stored.next()?;
        let (lowest, highest) = stored.fold((first, first), |(low, high), key| {
            (low.min(key), high.max(key))
        });
        let needed = highest as i128 + 1 - lowest as i128;
        let budget = budget(groups) as i128;
        // Room to double within the budget: a range that could not stretch to the
        // next key beyond it would go back to hashed slots at once.
        if 2 * needed > budget {
            return None;
        }
        let mut index = Self {
            first: lowest,
            groups: vec![EMPTY; needed as usize],
            lowest,
            highest,
        };
        for group in 0..groups {
            if let Some(key) = owner.stored_key(group) {
                let offset = index.offset(key);
                index.groups[offset] = group as u32;
            }
        }
        Some(index)
    }

    /// Bytes held.
    pub(super) fn size(&self) -> usize {
        self.groups.capacity() * size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups numbered in order of first appearance, keys kept by group.
    #[derive(Default)]
    struct Keys(Vec<i64>);

    impl GroupOwner<i64> for Keys {
        fn row_is_in_group(&self, _row: usize, _key: i64, _group: u32) -> bool {
            true
        }

        fn add_group(&mut self, _row: usize, key: i64) -> u32 {
            self.0.push(key);
            (self.0.len() - 1) as u32
        }

        fn group_count(&self) -> usize {
            self.0.len()
        }

        fn stored_key(&self, group: usize) -> Option<i64> {
            Some(self.0[group])
        }
    }

    #[test]
    fn close_keys_stretch_the_range_both_ways_and_far_ones_stop_it() {
        let mut index = DirectIndex::default();
        let mut owner = Keys::default();
        let keys: Vec<i64> = vec![500, 20, 500, 7_000, -3_000, 20, 60_000];
        let mut groups = Vec::new();
        let done = index.intern(keys.len(), |row| keys[row], &mut groups, &mut owner);
        assert_eq!(done, keys.len());
        assert_eq!(groups, vec![0, 1, 0, 2, 3, 1, 4]);
        assert_eq!(owner.0, vec![500, 20, 7_000, -3_000, 60_000]);

        // 5 keys may span 65,536 entries: a key 10 million away is refused, the rows
        // before it are done.
        let far: Vec<i64> = vec![7_000, 10_000_000, 20];
        groups.clear();
        let done = index.intern(far.len(), |row| far[row], &mut groups, &mut owner);
        assert_eq!((done, groups), (1, vec![2]));
        assert_eq!(owner.0.len(), 5);
    }

    #[test]
    fn keys_arriving_one_by_one_past_the_end_double_the_range() {
        let mut index = DirectIndex::default();
        let mut owner = Keys::default();
        let mut groups = Vec::new();
        let mut stretches = 0;
        // Ids 3 apart, in increasing order: the range doubles each time it is full.
        for id in 0..200_000i64 {
            let len = index.groups.len();
            groups.clear();
            assert_eq!(index.intern(1, |_| 3 * id, &mut groups, &mut owner), 1);
            stretches += usize::from(index.groups.len() != len);
        }
        assert!(stretches <= 12, "{stretches} stretches");
        // Ids 40 apart fit 64 entries per key, but cannot double within them: the
        // range of 65,536 entries is full at the 1,639th id, and doubling it to 131,072
        // is over the 104,960 entries of 1,640 keys.
        let mut sparse = DirectIndex::default();
        let mut owner = Keys::default();
        let done = (0..100_000i64)
            .take_while(|&id| {
                groups.clear();
                sparse.intern(1, |_| 40 * id, &mut groups, &mut owner) == 1
            })
            .count();
        assert!((1_630..=1_640).contains(&done), "{done}");
    }

    #[test]
    fn the_budget_is_64_entries_a_key_up_to_16_mib_then_8() {
        assert_eq!(budget(0), MIN_ENTRIES);
        assert_eq!(budget(1_000), MIN_ENTRIES);
        assert_eq!(budget(2_000), 128_000);
        assert_eq!(budget(100_000), SPARSE_MAX_ENTRIES);
        assert_eq!(budget(1_000_000), 8_000_000);
        assert_eq!(budget(usize::MAX), usize::MAX);
    }

    #[test]
    fn keys_move_back_to_a_range_only_if_it_can_stretch_to_the_next_key() {
        // 100,000 keys 21 apart would fill more than half of the 16 MiB cap: a range
        // of them could not double, so the first key past its end would refuse it.
        let spaced = |keys: i64, gap: i64| Keys((0..keys).map(|i| gap * i).collect());
        assert!(DirectIndex::holding(&spaced(100_000, 21)).is_none());
        let mut owner = spaced(100_000, 20);
        let mut index = DirectIndex::holding(&owner).expect("20 entries per key");
        assert_eq!(index.groups.len(), 20 * 99_999 + 1);
        let mut groups = Vec::new();
        let keys = [20 * 100_000, 40, 20 * 99_999];
        let done = index.intern(keys.len(), |row| keys[row], &mut groups, &mut owner);
        assert_eq!((done, groups), (3, vec![100_000, 2, 99_999]));
        assert!(DirectIndex::holding(&Keys::default()).is_none());
        // Below the cap, half of 64 entries per key.
        assert!(DirectIndex::holding(&spaced(2_000, 30)).is_some());
        assert!(DirectIndex::holding(&spaced(2_000, 33)).is_none());
    }

    #[test]
    fn ranges_reach_the_ends_of_i64() {
        for keys in [
            vec![i64::MAX, i64::MAX - 5, i64::MAX - 70_000 / 2],
            vec![i64::MIN, i64::MIN + 9, i64::MIN + 30_000],
            vec![i64::MIN + 2, i64::MIN, i64::MIN + 1],
        ] {
            let mut index = DirectIndex::default();
            let mut owner = Keys::default();
            let mut groups = Vec::new();
            let done = index.intern(keys.len(), |row| keys[row], &mut groups, &mut owner);
            assert_eq!(done, keys.len(), "{keys:?}");
            assert_eq!(groups, vec![0, 1, 2], "{keys:?}");
            groups.clear();
            let again = index.intern(keys.len(), |row| keys[row], &mut groups, &mut owner);
            assert_eq!((again, &groups), (keys.len(), &vec![0, 1, 2]), "{keys:?}");
        }
    }

    #[test]
    fn dense_keys_in_any_order_stay_within_the_budget() {
        let mut index = DirectIndex::default();
        let mut owner = Keys::default();
        let mut groups = Vec::new();
        // 50,000 SKU ids in a scattered order, each twice.
        let keys: Vec<i64> = (0..100_000i64).map(|i| 1 + (i * 7_919) % 50_000).collect();
        for chunk in keys.chunks(8192) {
            groups.clear();
            let done = index.intern(chunk.len(), |row| chunk[row], &mut groups, &mut owner);
            assert_eq!(done, chunk.len());
            for (&key, &group) in chunk.iter().zip(&groups) {
                assert_eq!(owner.0[group], key);
            }
        }
        assert_eq!(owner.0.len(), 50_000);
        assert!(index.groups.len() <= MIN_ENTRIES, "{}", index.groups.len());
    }
}
