//! The group table of an integer-like key (integers, dates, timestamps), carried as
//! `i64` while grouping: keys that lie close together are looked up by their offset in
//! a range ([`DirectIndex`]), until a key too far away moves them all to hashed slots;
//! hashed keys that come to fill their range (each time their number doubles) move back.

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};

use super::direct_index::DirectIndex;
use super::group_table::{GroupTable, nulls_of_groups};
use super::int_keys::{from_i64, to_i64};
use super::slots::{GroupOwner, GroupSlots};

#[derive(Debug)]
pub(super) struct IntGroupTable {
    index: KeyIndex,
    groups: GroupKeys,
    key_type: DataType,
    /// The number of groups at which hashed keys are next checked for a range: twice
    /// the number at the last check, so that checking costs O(1) per key.
    range_check_at: usize,
}

/// Where a key's group is found.
#[derive(Debug)]
enum KeyIndex {
    Direct(DirectIndex),
    Hashed(GroupSlots<i64>),
}

/// The key of each group, by group index (0 for the NULL group).
#[derive(Debug, Default)]
struct GroupKeys {
    keys: Vec<i64>,
    null_group: Option<usize>,
}

impl GroupKeys {
    fn null_group(&mut self) -> usize {
        *self.null_group.get_or_insert_with(|| {
            self.keys.push(0);
            self.keys.len() - 1
        })
    }
}

impl GroupOwner<i64> for GroupKeys {
    fn row_is_in_group(&self, _row: usize, _key: i64, _group: u32) -> bool {
        true
    }

    fn add_group(&mut self, _row: usize, key: i64) -> u32 {
        self.keys.push(key);
        (self.keys.len() - 1) as u32
    }

    fn group_count(&self) -> usize {
        self.keys.len()
    }

    fn stored_key(&self, group: usize) -> Option<i64> {
        (self.null_group != Some(group)).then(|| self.keys[group])
    }
}

impl IntGroupTable {
    pub(super) fn new(key_type: DataType) -> Self {
        Self {
            index: KeyIndex::Direct(DirectIndex::default()),
            groups: GroupKeys::default(),
            key_type,
            range_check_at: 0,
        }
    }
}

impl IntGroupTable {
    /// Writes the group of each of `rows` rows, whose (valid) keys `key_of` gives, to
    /// `groups`.
    fn intern_valid(
        &mut self,
        rows: usize,
        key_of: impl Fn(usize) -> i64,
        groups: &mut Vec<usize>,
    ) -> Result<()> {
        groups.clear();
        let group_count = self.groups.keys.len();
        if matches!(self.index, KeyIndex::Hashed(_)) && group_count >= self.range_check_at {
            match DirectIndex::holding(&self.groups) {
                Some(direct) => self.index = KeyIndex::Direct(direct),
                None => self.range_check_at = 2 * group_count,
            }
        }
        let mut done = 0;
        if let KeyIndex::Direct(direct) = &mut self.index {
            done = direct.intern(rows, &key_of, groups, &mut self.groups);
            if done == rows {
                return Ok(());
            }
            let stored = self.groups.keys.len() - usize::from(self.groups.null_group.is_some());
            self.index = KeyIndex::Hashed(GroupSlots::holding(stored, &self.groups));
            self.range_check_at = 2 * self.groups.keys.len();
        }
        if let KeyIndex::Hashed(slots) = &mut self.index {
            let rest = rows - done;
            slots.reserve(rest, &self.groups)?;
            if done == 0 {
                slots.intern(rest, key_of, groups, &mut self.groups);
            } else {
                let mut rest_groups = Vec::new();
                slots.intern(
                    rest,
                    |row| key_of(done + row),
                    &mut rest_groups,
                    &mut self.groups,
                );
                groups.extend(rest_groups);
            }
        }
        Ok(())
    }
}

impl GroupTable for IntGroupTable {
    fn intern(&mut self, keys: &ArrayRef, groups: &mut Vec<usize>) -> Result<()> {
        let keys = to_i64(keys)?;
        if self.groups.keys.len() + keys.len() >= u32::MAX as usize {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "a group table holds at most {} groups",
                u32::MAX - 1
            )));
        }
        let values = keys.values();
        let Some(nulls) = keys.nulls().filter(|nulls| nulls.null_count() > 0) else {
            return self.intern_valid(values.len(), |row| values[row], groups);
        };
        // NULL keys are rare: group the other rows, then put the NULL rows in theirs.
        let null_group = self.groups.null_group();
        let valid_keys: Vec<i64> = nulls.valid_indices().map(|row| values[row]).collect();
        let mut valid_groups = Vec::new();
        self.intern_valid(valid_keys.len(), |row| valid_keys[row], &mut valid_groups)?;
        groups.clear();
        groups.resize(keys.len(), null_group);
        for (row, group) in nulls.valid_indices().zip(valid_groups) {
            groups[row] = group;
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.groups.keys.len()
    }

    fn size(&self) -> usize {
        let index = match &self.index {
            KeyIndex::Direct(direct) => direct.size(),
            KeyIndex::Hashed(slots) => slots.size(),
        };
        index + self.groups.keys.capacity() * size_of::<i64>()
    }

    fn take_keys(&mut self) -> Result<ArrayRef> {
        let keys = self.take_group_keys();
        *self = Self::new(self.key_type.clone());
        keys
    }
}

impl IntGroupTable {
    /// The keys of all groups, by group index, leaving the table empty but keeping its
    /// hashed slots (cleared), for a caller that groups one chunk of rows after another:
    /// the slots grow once instead of once per chunk.
    pub(super) fn take_keys_keeping_slots(&mut self) -> Result<ArrayRef> {
        let keys = self.take_group_keys();
        match &mut self.index {
            KeyIndex::Hashed(slots) => slots.clear(),
            KeyIndex::Direct(direct) => *direct = DirectIndex::default(),
        }
        // The groups are counted from 0 again, and so are the doublings.
        self.range_check_at = 0;
        keys
    }

    fn take_group_keys(&mut self) -> Result<ArrayRef> {
        let groups = std::mem::take(&mut self.groups);
        let nulls = nulls_of_groups(groups.null_group, groups.keys.len());
        let keys = Int64Array::new(groups.keys.into(), nulls);
        from_i64(keys, &self.key_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    fn intern(table: &mut IntGroupTable, keys: Vec<Option<i64>>) -> Vec<usize> {
        let mut groups = Vec::new();
        let keys: ArrayRef = Arc::new(Int64Array::from(keys));
        table.intern(&keys, &mut groups).unwrap();
        groups
    }

    #[test]
    fn groups_are_numbered_by_first_appearance_with_null_first_in_its_batch() {
        let mut table = IntGroupTable::new(DataType::Int64);
        let groups = intern(
            &mut table,
            vec![Some(7), None, Some(-3), Some(7), None, Some(0)],
        );
        assert_eq!(groups, vec![1, 0, 2, 1, 0, 3]);
        let groups = intern(&mut table, vec![Some(0), Some(i64::MIN), Some(-3)]);
        assert_eq!(groups, vec![3, 4, 2]);
        let keys = table.take_keys().unwrap();
        let expected = Int64Array::from(vec![None, Some(7), Some(-3), Some(0), Some(i64::MIN)]);
        assert_eq!(keys.as_ref(), &expected as &dyn Array);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_table_emptied_for_reuse_keeps_its_slots_and_numbers_from_zero() {
        let mut table = IntGroupTable::new(DataType::Int64);
        let spread: Vec<Option<i64>> = (0..10_000).map(|i| Some(i << 30)).collect();
        intern(&mut table, spread);
        let KeyIndex::Hashed(slots) = &table.index else {
            panic!("keys 2^30 apart are hashed");
        };
        let capacity = slots.capacity();
        assert_eq!(table.take_keys_keeping_slots().unwrap().len(), 10_000);
        assert_eq!(table.len(), 0);
        let groups = intern(
            &mut table,
            vec![Some(5 << 30), None, Some(7), Some(5 << 30)],
        );
        assert_eq!(groups, vec![1, 0, 2, 1]);
        let KeyIndex::Hashed(slots) = &table.index else {
            panic!("still hashed");
        };
        assert_eq!(slots.capacity(), capacity);
        let keys = table.take_keys_keeping_slots().unwrap();
        let expected = Int64Array::from(vec![None, Some(5 << 30), Some(7)]);
        assert_eq!(keys.as_ref(), &expected as &dyn Array);
    }

    #[test]
    fn spread_out_keys_that_come_to_fill_their_range_move_back_to_it() {
        let mut table = IntGroupTable::new(DataType::Int64);
        // 200,000 user ids 4 apart in a scattered order (7,919 is prime to 200,000), a
        // NULL in every batch: the first batch spans the whole range of 800,000 ids with
        // 8,192 keys, more than 64 entries a key.
        let users = 200_000i64;
        let keys: Vec<Option<i64>> = (0..2 * users)
            .map(|i| (i % 5_000 != 0).then_some(1 + 4 * ((i * 7_919) % users)))
            .collect();
        let mut was_hashed = false;
        let mut first_group = std::collections::HashMap::new();
        for chunk in keys.chunks(8192) {
            let groups = intern(&mut table, chunk.to_vec());
            was_hashed |= matches!(table.index, KeyIndex::Hashed(_));
            for (key, group) in chunk.iter().zip(groups) {
                assert_eq!(*first_group.entry(*key).or_insert(group), group, "{key:?}");
            }
        }
        assert!(
            was_hashed,
            "8,192 keys spread over 800,000 ids start hashed"
        );
        let KeyIndex::Direct(direct) = &table.index else {
            panic!("200,000 keys in a range of 800,000 are looked up by offset");
        };
        // 4-byte entries over the 800,000 ids, doubled at most twice past them.
        assert!(direct.size() <= 4 * 4 * 800_000, "{}", direct.size());
        assert_eq!(table.len(), first_group.len());
        assert!(table.len() > 199_900, "{}", table.len());
        let keys = table.take_keys().unwrap();
        let keys = keys.as_any().downcast_ref::<Int64Array>().unwrap();
        for (key, group) in first_group {
            assert_eq!(keys.is_valid(group), key.is_some());
            if let Some(key) = key {
                assert_eq!(keys.value(group), key);
            }
        }
    }

    #[test]
    fn keys_far_apart_are_checked_for_a_range_once_per_doubling() {
        let mut table = IntGroupTable::new(DataType::Int64);
        let mut checks = 0;
        let mut check_at = 0;
        // Keys 2^20 apart, one per batch: never a range.
        for key in 0..50_000i64 {
            intern(&mut table, vec![Some(key << 20)]);
            checks += usize::from(table.range_check_at != check_at);
            check_at = table.range_check_at;
        }
        assert!(matches!(table.index, KeyIndex::Hashed(_)));
        assert!(checks <= 16, "{checks} checks");
    }

    #[test]
    fn rows_that_repeat_their_key_get_its_group() {
        let mut table = IntGroupTable::new(DataType::Int64);
        // Minutes 60M µs apart (hashed), 400 rows each, then rows that stop repeating
        // within a chunk that started with runs, and NULLs between runs.
        let minute = 60_000_000i64;
        let mut keys: Vec<Option<i64>> = (0..6_000).map(|row| Some(row / 400 * minute)).collect();
        keys.extend((0..3_000).map(|row| Some((row * 7_919 % 13) * minute)));
        keys.extend((0..2_000).map(|row| (row % 100 != 0).then_some(row / 50 * minute)));
        let mut first_group = std::collections::HashMap::new();
        for chunk in keys.chunks(8192) {
            let groups = intern(&mut table, chunk.to_vec());
            for (key, group) in chunk.iter().zip(groups) {
                assert_eq!(*first_group.entry(*key).or_insert(group), group, "{key:?}");
            }
        }
        assert!(matches!(table.index, KeyIndex::Hashed(_)));
        assert_eq!(table.len(), first_group.len());
        assert_eq!(table.len(), 40 + 1);
    }

    #[test]
    fn keys_survive_growth_and_collisions() {
        let mut table = IntGroupTable::new(DataType::Int64);
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
        let KeyIndex::Hashed(slots) = &table.index else {
            panic!("keys 2^20 apart are hashed");
        };
        assert!(
            slots.capacity() >= 2 * 100_000,
            "{} slots for 100k groups",
            slots.capacity()
        );
    }
}
