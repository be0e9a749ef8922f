//! The group table of a one-integer-key aggregation: key -> dense group index.
//!
//! Open addressing with linear probing over `(key, group)` slots, so that looking a key
//! up touches one cache line, where DataFusion's generic table touches three (control
//! bytes, the `(group, hash)` bucket, then the key itself). Per-user aggregations
//! (funnels, retention, RFM) intern every event into a table of a million users or more,
//! far larger than the caches, so each lookup is a cache miss; the slot of a row a few
//! rows ahead is prefetched while the current one is probed, so the misses overlap.

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::common::{DataFusionError, Result};

use crate::prefetch::{PREFETCH_DISTANCE, prefetch};

/// A slot's `group` when it holds no key.
const EMPTY: u32 = u32::MAX;

/// The fewest slots a table has, so small tables never resize.
const MIN_SLOTS: usize = 1024;

/// Fibonacci hashing's multiplier (2^64 / golden ratio): consecutive ids, the usual shape
/// of user and SKU ids, land far apart.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct Slot {
    key: i64,
    group: u32,
}

const EMPTY_SLOT: Slot = Slot {
    key: 0,
    group: EMPTY,
};

/// Maps each distinct key (and NULL) of the rows seen so far to a group index, in order
/// of first appearance.
#[derive(Debug)]
pub(super) struct IntGroupTable {
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`: a hash's top bits pick the home slot.
    shift: u32,
    /// The key of each group, by group index (0 for the NULL group).
    keys: Vec<i64>,
    null_group: Option<usize>,
}

impl IntGroupTable {
    pub(super) fn new() -> Self {
        Self {
            slots: vec![EMPTY_SLOT; MIN_SLOTS],
            shift: 64 - MIN_SLOTS.trailing_zeros(),
            keys: Vec::new(),
            null_group: None,
        }
    }

    /// The number of groups.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Bytes held.
    pub(super) fn size(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>() + self.keys.capacity() * size_of::<i64>()
    }

    /// Writes the group index of every row of `keys` to `groups`, adding new groups for
    /// keys not seen before.
    pub(super) fn intern(&mut self, keys: &Int64Array, groups: &mut Vec<usize>) -> Result<()> {
        groups.clear();
        groups.reserve(keys.len());
        self.reserve(keys.len())?;
        let values = keys.values();
        let nulls = keys.nulls().filter(|nulls| nulls.null_count() > 0);
        for (row, &key) in values.iter().enumerate() {
            if let Some(&ahead) = values.get(row + PREFETCH_DISTANCE) {
                prefetch(&self.slots[self.home(ahead)]);
            }
            let group = match nulls {
                Some(nulls) if nulls.is_null(row) => self.null_group(),
                _ => self.key_group(key),
            };
            groups.push(group);
        }
        Ok(())
    }

    /// The keys of all groups, by group index, leaving the table empty.
    pub(super) fn take_keys(&mut self) -> Int64Array {
        let nulls = self.null_group.take().map(|null_group| {
            NullBuffer::from_iter((0..self.keys.len()).map(|group| group != null_group))
        });
        let keys = std::mem::take(&mut self.keys);
        *self = Self::new();
        Int64Array::new(keys.into(), nulls)
    }

    fn home(&self, key: i64) -> usize {
        ((key as u64).wrapping_mul(FIBONACCI) >> self.shift) as usize
    }

    fn null_group(&mut self) -> usize {
        *self.null_group.get_or_insert_with(|| {
            self.keys.push(0);
            self.keys.len() - 1
        })
    }

    fn key_group(&mut self, key: i64) -> usize {
        let mask = self.slots.len() - 1;
        let mut position = self.home(key);
        loop {
            let slot = self.slots[position];
            if slot.group == EMPTY {
                let group = self.keys.len();
                self.slots[position] = Slot {
                    key,
                    group: group as u32,
                };
                self.keys.push(key);
                return group;
            }
            if slot.key == key {
                return slot.group as usize;
            }
            position = (position + 1) & mask;
        }
    }

    /// Grows the slots so that `additional` more groups keep the table at most half full.
    fn reserve(&mut self, additional: usize) -> Result<()> {
        let needed = self.keys.len() + additional;
        if needed >= EMPTY as usize {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "an aggregation by one integer key holds at most {} groups",
                EMPTY - 1
            )));
        }
        if needed * 2 <= self.slots.len() {
            return Ok(());
        }
        let slots = (needed * 2).next_power_of_two();
        self.slots = vec![EMPTY_SLOT; slots];
        self.shift = 64 - slots.trailing_zeros();
        let mask = slots - 1;
        // Rehashing a million keys is a million random writes: prefetched like interning.
        for (group, &key) in self.keys.iter().enumerate() {
            if let Some(&ahead) = self.keys.get(group + PREFETCH_DISTANCE) {
                prefetch(&self.slots[self.home(ahead)]);
            }
            if Some(group) == self.null_group {
                continue;
            }
            let mut position = self.home(key);
            while self.slots[position].group != EMPTY {
                position = (position + 1) & mask;
            }
            self.slots[position] = Slot {
                key,
                group: group as u32,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intern(table: &mut IntGroupTable, keys: Vec<Option<i64>>) -> Vec<usize> {
        let mut groups = Vec::new();
        table.intern(&Int64Array::from(keys), &mut groups).unwrap();
        groups
    }

    #[test]
    fn groups_are_numbered_by_first_appearance_with_null_as_its_own_group() {
        let mut table = IntGroupTable::new();
        let groups = intern(
            &mut table,
            vec![Some(7), None, Some(-3), Some(7), None, Some(0)],
        );
        assert_eq!(groups, vec![0, 1, 2, 0, 1, 3]);
        let groups = intern(&mut table, vec![Some(0), Some(i64::MIN), Some(-3)]);
        assert_eq!(groups, vec![3, 4, 2]);
        let keys = table.take_keys();
        let expected = Int64Array::from(vec![Some(7), None, Some(-3), Some(0), Some(i64::MIN)]);
        assert_eq!(keys, expected);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn keys_survive_growth_and_collisions() {
        let mut table = IntGroupTable::new();
        // Multiples of a power of two stress the home-slot function; many batches grow
        // the table several times.
        let keys: Vec<i64> = (0..300_000).map(|i| (i % 100_000) << 20).collect();
        let mut groups = Vec::new();
        for chunk in keys.chunks(8192) {
            groups.extend(intern(
                &mut table,
                chunk.iter().copied().map(Some).collect(),
            ));
        }
        assert_eq!(table.len(), 100_000);
        for (row, group) in groups.iter().enumerate() {
            assert_eq!(*group, row % 100_000, "row {row}");
        }
        let slots = table.slots.len();
        assert!(slots >= 2 * 100_000, "{slots} slots for 100k groups");
    }
}
