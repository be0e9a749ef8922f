//! The groups of an aggregation by one or more keys (`GROUP BY sku_id, warehouse`).
//!
//! Each key has its own group table, which numbers its distinct values. The first key's
//! numbers are the groups by that key; each further key pairs the groups by the keys
//! before it with its own number, and a table of those pairs (packed in one `i64`)
//! numbers the groups by the keys up to it. A key with few values (a warehouse, a
//! channel) packs its first numbers densely, so that the pairs of a few thousand SKUs
//! are looked up directly by offset (`direct_index`) instead of hashed. Every lookup is in a table sized for one
//! key's distinct values or the groups, where DataFusion 55 hashes and compares the
//! rows of every key column (`GroupValuesColumn::intern` and its comparisons: 57% of
//! the current-stock rollup by SKU and warehouse).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, internal_err};

use super::group_table::{GroupTable, group_table_for};
use super::int_table::IntGroupTable;

/// Maps the keys of each row to a dense group index, and gives the keys back by group.
pub(super) struct KeyGroups {
    per_key: Vec<Box<dyn GroupTable>>,
    /// For the keys after the first: (groups by the keys before it, its own number) ->
    /// groups by the keys up to it.
    pairs: Vec<IntGroupTable>,
    /// The group numbers of one key, for one batch.
    key_numbers: Vec<usize>,
}

impl KeyGroups {
    /// Groups for keys of these types, if each has a group table.
    pub(super) fn for_types(key_types: &[DataType]) -> Option<Self> {
        let per_key = key_types
            .iter()
            .map(group_table_for)
            .collect::<Option<Vec<_>>>()?;
        if per_key.is_empty() {
            return None;
        }
        Some(Self {
            pairs: (1..per_key.len())
                .map(|_| IntGroupTable::new(DataType::Int64))
                .collect(),
            per_key,
            key_numbers: Vec::new(),
        })
    }

    /// Writes the group index of every row to `groups`, adding groups for key
    /// combinations not seen before; `keys` holds one array per key.
    pub(super) fn intern(&mut self, keys: &[ArrayRef], groups: &mut Vec<usize>) -> Result<()> {
        let [first, rest @ ..] = keys else {
            return internal_err!("an aggregation by keys was given no key");
        };
        if keys.len() != self.per_key.len() {
            return internal_err!("{} key columns for {} keys", keys.len(), self.per_key.len());
        }
        self.per_key[0].intern(first, groups)?;
        let mut groups_before = self.per_key[0].len();
        for ((key, table), pairs) in rest.iter().zip(&mut self.per_key[1..]).zip(&mut self.pairs) {
            if groups_before > MAX_GROUPS_BEFORE {
                return Err(DataFusionError::ResourcesExhausted(format!(
                    "an aggregation by several keys holds at most {MAX_GROUPS_BEFORE} groups"
                )));
            }
            table.intern(key, &mut self.key_numbers)?;
            let packed: ArrayRef = Arc::new(Int64Array::from_iter_values(
                groups
                    .iter()
                    .zip(&self.key_numbers)
                    .map(|(&before, &own)| pack(before, own)),
            ));
            pairs.intern(&packed, groups)?;
            groups_before = pairs.len();
        }
        Ok(())
    }

    /// The number of groups.
    pub(super) fn len(&self) -> usize {
        match self.pairs.last() {
            Some(pairs) => pairs.len(),
            None => self.per_key[0].len(),
        }
    }

    /// Bytes held.
    pub(super) fn size(&self) -> usize {
        self.per_key.iter().map(|table| table.size()).sum::<usize>()
            + self.pairs.iter().map(GroupTable::size).sum::<usize>()
            + self.key_numbers.capacity() * size_of::<usize>()
    }

    /// Each key's column, by group index, leaving the groups empty.
    pub(super) fn take_keys(&mut self) -> Result<Vec<ArrayRef>> {
        let mut columns = Vec::with_capacity(self.per_key.len());
        // The groups by the keys up to the current one, for each final group (`None`:
        // they are the final groups).
        let mut groups: Option<UInt32Array> = None;
        for (table, pairs) in self.per_key[1..].iter_mut().zip(&mut self.pairs).rev() {
            let packed = pairs.take_keys()?;
            let packed = packed.as_primitive::<Int64Type>().values();
            let packed: Vec<i64> = match &groups {
                None => packed.to_vec(),
                Some(groups) => groups
                    .values()
                    .iter()
                    .map(|&group| packed[group as usize])
                    .collect(),
            };
            let own = UInt32Array::from_iter_values(packed.iter().map(|&pair| unpack(pair).1));
            columns.push(take(&table.take_keys()?, &own, None)?);
            groups = Some(UInt32Array::from_iter_values(
                packed.iter().map(|&pair| unpack(pair).0),
            ));
        }
        let first = self.per_key[0].take_keys()?;
        columns.push(match &groups {
            None => first,
            Some(groups) => take(&first, groups, None)?,
        });
        columns.reverse();
        Ok(columns)
    }
}

/// Own numbers below this pack densely: `before * DENSE_OWN + own`.
const DENSE_OWN: usize = 8;

/// The most groups before a key: the sparse packing keeps the number in 31 bits.
const MAX_GROUPS_BEFORE: usize = 1 << 31;

/// A pair of group numbers in one key: `before * 8 + own` (not negative) when `own` is
/// below 8, else the sign bit, `before` in the next 31 bits and `own` (below 2^32: a
/// group table numbers groups as `u32`) in the low 32.
fn pack(before: usize, own: usize) -> i64 {
    if own < DENSE_OWN {
        (before * DENSE_OWN + own) as i64
    } else {
        (1 << 63 | (before as u64) << 32 | own as u64) as i64
    }
}

/// The pair [`pack`] packed.
fn unpack(pair: i64) -> (u32, u32) {
    if pair >= 0 {
        let pair = pair as u64;
        (
            (pair / DENSE_OWN as u64) as u32,
            (pair % DENSE_OWN as u64) as u32,
        )
    } else {
        let pair = pair as u64;
        ((pair >> 32) as u32 & 0x7FFF_FFFF, pair as u32)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::array::{Array, StringViewArray};

    use super::*;

    /// A row's (SKU, warehouse, day).
    type RowKeys = (Option<i64>, Option<String>, Option<i64>);

    #[test]
    fn rows_with_equal_keys_share_a_group_and_keys_come_back_by_group() {
        let mut groups =
            KeyGroups::for_types(&[DataType::Int64, DataType::Utf8View, DataType::Int64])
                .expect("both types have tables");
        let mut seen: HashMap<RowKeys, usize> = HashMap::new();
        let mut rows = Vec::new();
        for batch in 0..3i64 {
            let sku: Vec<Option<i64>> = (0..500)
                .map(|i| (i % 13 != 0).then_some((i * batch) % 17))
                .collect();
            let place: Vec<Option<String>> = (0..500)
                .map(|i| (i % 11 != 0).then(|| format!("w{}", i % 4)))
                .collect();
            // More than 8 days: pairs of both packings.
            let day: Vec<Option<i64>> = (0..500).map(|i| Some(i % 23)).collect();
            let keys: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(sku.clone())),
                Arc::new(StringViewArray::from(place.clone())),
                Arc::new(Int64Array::from(day.clone())),
            ];
            let mut batch_groups = Vec::new();
            groups.intern(&keys, &mut batch_groups).unwrap();
            for (row, &group) in batch_groups.iter().enumerate() {
                let key = (sku[row], place[row].clone(), day[row]);
                assert_eq!(*seen.entry(key.clone()).or_insert(group), group, "{key:?}");
                rows.push((key, group));
            }
        }
        assert_eq!(groups.len(), seen.len());
        // Distinct groups for distinct keys.
        let mut by_group: Vec<usize> = seen.values().copied().collect();
        by_group.sort();
        assert_eq!(by_group, (0..seen.len()).collect::<Vec<_>>());

        let columns = groups.take_keys().unwrap();
        let sku = columns[0].as_primitive::<Int64Type>();
        let place = columns[1].as_string_view();
        let day = columns[2].as_primitive::<Int64Type>();
        for (key, group) in rows {
            let back = (
                sku.is_valid(group).then(|| sku.value(group)),
                place
                    .is_valid(group)
                    .then(|| place.value(group).to_string()),
                day.is_valid(group).then(|| day.value(group)),
            );
            assert_eq!(back, key, "group {group}");
        }
        assert_eq!(groups.len(), 0);
    }

    #[test]
    fn pairs_unpack_to_what_was_packed() {
        for (before, own) in [
            (0, 0),
            (0, 7),
            (1, 0),
            (5_000, 3),
            (MAX_GROUPS_BEFORE - 1, 7),
            (0, 8),
            (12, 9),
            (MAX_GROUPS_BEFORE - 1, u32::MAX as usize - 1),
        ] {
            let packed = pack(before, own);
            assert_eq!(
                unpack(packed),
                (before as u32, own as u32),
                "{before}, {own}"
            );
            assert_eq!(packed >= 0, own < DENSE_OWN);
        }
        // Dense pairs of neighbouring groups are neighbours.
        assert_eq!(pack(10, 0) - pack(9, 7), 1);
    }

    #[test]
    fn one_key_is_its_own_table() {
        let mut groups = KeyGroups::for_types(&[DataType::Int32]).expect("table");
        let keys: Vec<ArrayRef> = vec![Arc::new(datafusion::arrow::array::Int32Array::from(vec![
            5, 3, 5,
        ]))];
        let mut batch_groups = Vec::new();
        groups.intern(&keys, &mut batch_groups).unwrap();
        assert_eq!(batch_groups, vec![0, 1, 0]);
        let columns = groups.take_keys().unwrap();
        assert_eq!(columns.len(), 1);
        assert_eq!(
            columns[0]
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .values(),
            &[5, 3]
        );
        assert!(KeyGroups::for_types(&[DataType::Int64, DataType::Float64]).is_none());
        assert!(KeyGroups::for_types(&[]).is_none());
    }
}
