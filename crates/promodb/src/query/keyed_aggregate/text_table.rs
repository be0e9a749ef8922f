//! The group table of an aggregation by one text key (`GROUP BY channel`).
//!
//! Canonical text columns are string views (`Utf8View`): a string of at most 12 bytes
//! lies whole in its 16-byte view, as its length then its bytes. Such a view, with the
//! bytes past the length zeroed, *is* the key: grouping hashes and compares one `u128`
//! and never reads string data. Channels, categories, regions, payment methods and the
//! generated SKU ids are all that short. A longer string is keyed by a digest (its
//! length, first four bytes and a 64-bit hash of all of them), and a digest match is
//! confirmed against the group's bytes. A length field above 12 tells the two apart.

use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringViewArray};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use std::sync::Arc;

use super::group_table::{GroupTable, nulls_of_groups};
use super::slots::{GroupOwner, GroupSlots};

/// The longest string whose view holds its bytes.
const MAX_INLINE_LEN: u32 = 12;

/// The key of NULL: length 0 with bytes set, which no string's key is.
const NULL_KEY: u128 = 1 << 127;

/// Fixed seeds, so that a run is reproducible; the hash only spreads long keys.
const HASH_SEEDS: [u64; 4] = [
    0x243F_6A88_85A3_08D3,
    0x1319_8A2E_0370_7344,
    0xA409_3822_299F_31D0,
    0x082E_FA98_EC4E_6C89,
];

#[derive(Debug)]
pub(super) struct TextGroupTable {
    slots: GroupSlots<u128>,
    groups: TextGroups,
    hasher: ahash::RandomState,
    key_type: DataType,
}

/// The value of each group, by group index.
#[derive(Debug, Default)]
struct TextGroups {
    /// Each group's value as a string view: inline, or into `long_values` (empty for the
    /// NULL group).
    views: Vec<u128>,
    /// The bytes of the groups' strings longer than 12 bytes.
    long_values: Vec<u8>,
    null_group: Option<usize>,
}

impl TextGroups {
    /// The bytes of a group whose string is longer than 12 bytes.
    fn long_value(&self, group: usize) -> &[u8] {
        let view = self.views[group];
        let len = view as u32 as usize;
        let offset = (view >> 96) as u32 as usize;
        &self.long_values[offset..offset + len]
    }
}

/// The groups, seen from the batch being interned.
struct BatchGroups<'a> {
    groups: &'a mut TextGroups,
    strings: &'a StringViewArray,
    hasher: &'a ahash::RandomState,
    /// Set when the long strings outgrew the 32-bit offsets of string views.
    overflowed: bool,
}

impl GroupOwner<u128> for BatchGroups<'_> {
    #[inline(always)]
    fn row_is_in_group(&self, row: usize, key: u128, group: u32) -> bool {
        key as u32 <= MAX_INLINE_LEN
            || self.groups.long_value(group as usize) == self.strings.value(row).as_bytes()
    }

    fn add_group(&mut self, row: usize, key: u128) -> u32 {
        let groups = &mut *self.groups;
        let group = groups.views.len();
        if key == NULL_KEY {
            groups.null_group = Some(group);
            groups.views.push(0);
        } else if key as u32 <= MAX_INLINE_LEN {
            groups.views.push(key);
        } else {
            let value = self.strings.value(row).as_bytes();
            match u32::try_from(groups.long_values.len() + value.len()) {
                Ok(end) => {
                    groups.long_values.extend_from_slice(value);
                    groups
                        .views
                        .push(make_view(value, 0, end - value.len() as u32));
                }
                Err(_) => {
                    self.overflowed = true;
                    groups.views.push(0);
                }
            }
        }
        group as u32
    }

    fn group_count(&self) -> usize {
        self.groups.views.len()
    }

    fn stored_key(&self, group: usize) -> Option<u128> {
        let view = self.groups.views[group];
        Some(if self.groups.null_group == Some(group) {
            NULL_KEY
        } else if view as u32 <= MAX_INLINE_LEN {
            view
        } else {
            digest(self.hasher, self.groups.long_value(group), view)
        })
    }
}

/// The key of a string longer than 12 bytes with view `view`: its length and first 4
/// bytes (the view's low half), then a 64-bit hash of its bytes.
fn digest(hasher: &ahash::RandomState, value: &[u8], view: u128) -> u128 {
    (view & u128::from(u64::MAX)) | (u128::from(hasher.hash_one(value)) << 64)
}

impl TextGroupTable {
    /// Whether keys of this type are grouped here (as string views).
    pub(super) fn supports(key_type: &DataType) -> bool {
        matches!(
            key_type,
            DataType::Utf8View | DataType::Utf8 | DataType::LargeUtf8
        )
    }

    pub(super) fn new(key_type: DataType) -> Self {
        let [a, b, c, d] = HASH_SEEDS;
        Self {
            slots: GroupSlots::new(),
            groups: TextGroups::default(),
            hasher: ahash::RandomState::with_seeds(a, b, c, d),
            key_type,
        }
    }
}

/// The key of a non-NULL string with view `view`: a string of at most 12 bytes is its
/// view with the unused bytes zeroed, a longer one the digest `long_key()` makes.
#[inline(always)]
fn key_of_string(view: u128, long_key: impl FnOnce() -> u128) -> u128 {
    let len = view as u32;
    if len <= MAX_INLINE_LEN {
        // The 4 length bytes and `len` string bytes. Arrow requires the rest to be zero;
        // arrays built unchecked (FFI, readers) are not validated, so zero it.
        view & (u128::MAX >> (8 * (MAX_INLINE_LEN - len)))
    } else {
        long_key()
    }
}

impl GroupTable for TextGroupTable {
    fn intern(&mut self, keys: &ArrayRef, groups: &mut Vec<usize>) -> Result<()> {
        let strings = match keys.data_type() {
            DataType::Utf8View => keys.as_string_view().clone(),
            _ => cast(keys, &DataType::Utf8View)?.as_string_view().clone(),
        };
        let views = strings.views();
        let hasher = &self.hasher;
        let long_key = |row: usize, view: u128| digest(hasher, strings.value(row).as_bytes(), view);
        let mut owner = BatchGroups {
            groups: &mut self.groups,
            strings: &strings,
            hasher,
            overflowed: false,
        };
        self.slots.reserve(strings.len(), &owner)?;
        match strings.nulls().filter(|nulls| nulls.null_count() > 0) {
            None => self.slots.intern(
                views.len(),
                |row| key_of_string(views[row], || long_key(row, views[row])),
                groups,
                &mut owner,
            ),
            // A NULL row's view is not a string: it may point anywhere.
            Some(nulls) => self.slots.intern(
                views.len(),
                |row| {
                    if nulls.is_null(row) {
                        NULL_KEY
                    } else {
                        key_of_string(views[row], || long_key(row, views[row]))
                    }
                },
                groups,
                &mut owner,
            ),
        }
        if owner.overflowed {
            return Err(DataFusionError::ResourcesExhausted(
                "a text group table holds at most 4 GiB of keys longer than 12 \
                 bytes"
                    .into(),
            ));
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.groups.views.len()
    }

    fn size(&self) -> usize {
        self.slots.size()
            + self.groups.views.capacity() * size_of::<u128>()
            + self.groups.long_values.capacity()
    }

    fn take_keys(&mut self) -> Result<ArrayRef> {
        let groups = std::mem::take(&mut self.groups);
        let nulls = nulls_of_groups(groups.null_group, groups.views.len());
        let views = ScalarBuffer::from(groups.views);
        let long_values = groups.long_values;
        let buffers = if long_values.is_empty() {
            Vec::new()
        } else {
            vec![Buffer::from_vec(long_values)]
        };
        let keys: ArrayRef = Arc::new(StringViewArray::try_new(views, buffers, nulls)?);
        *self = Self::new(self.key_type.clone());
        match &self.key_type {
            DataType::Utf8View => Ok(keys),
            key_type => Ok(cast(&keys, key_type)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{LargeStringArray, StringArray};

    fn intern(table: &mut TextGroupTable, keys: ArrayRef) -> Vec<usize> {
        let mut groups = Vec::new();
        table.intern(&keys, &mut groups).unwrap();
        groups
    }

    #[test]
    fn short_and_long_strings_are_grouped_by_their_bytes() {
        let twelve = "abcdefghijkl";
        let thirteen = "abcdefghijklm";
        let long_a = "a long channel name, first";
        let long_b = "a long channel name, other";
        let values = vec![
            Some(twelve),
            Some(""),
            None,
            Some(thirteen),
            Some(long_a),
            Some(long_b),
            Some("abc"),
            Some(long_a),
            Some(twelve),
            None,
            Some(""),
            Some("abcd"),
            Some(thirteen),
            Some(long_b),
        ];
        let mut table = TextGroupTable::new(DataType::Utf8View);
        let groups = intern(&mut table, Arc::new(StringViewArray::from(values.clone())));
        assert_eq!(groups, vec![0, 1, 2, 3, 4, 5, 6, 4, 0, 2, 1, 7, 3, 5]);
        // A second batch, with other buffers, finds the same groups.
        let again = StringViewArray::from(vec![Some(long_b), Some("abcd"), None, Some("new")]);
        assert_eq!(intern(&mut table, Arc::new(again)), vec![5, 7, 2, 8]);
        let keys = table.take_keys().unwrap();
        // The groups' keys: the first seven values are all distinct.
        let mut distinct = values[..7].to_vec();
        distinct.extend([Some("abcd"), Some("new")]);
        let expected = StringViewArray::from(distinct);
        assert_eq!(keys.as_ref(), &expected as &dyn Array);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn utf8_and_large_utf8_keys_come_back_in_their_own_type() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("x"),
                None,
                Some("a long string value"),
                Some("x"),
            ])),
            Arc::new(LargeStringArray::from(vec![
                Some("x"),
                None,
                Some("a long string value"),
                Some("x"),
            ])),
        ];
        for array in arrays {
            let mut table = TextGroupTable::new(array.data_type().clone());
            assert_eq!(intern(&mut table, Arc::clone(&array)), vec![0, 1, 2, 0]);
            let keys = table.take_keys().unwrap();
            assert_eq!(&keys, &array.slice(0, 3));
        }
    }

    #[test]
    fn many_long_keys_survive_growth() {
        let values: Vec<String> = (0..50_000)
            .map(|i| format!("a key longer than twelve bytes #{}", i % 20_000))
            .collect();
        let mut table = TextGroupTable::new(DataType::Utf8View);
        let mut groups = Vec::new();
        for chunk in values.chunks(4096) {
            groups.extend(intern(
                &mut table,
                Arc::new(StringViewArray::from_iter_values(chunk)),
            ));
        }
        assert_eq!(table.len(), 20_000);
        for (row, group) in groups.iter().enumerate() {
            assert_eq!(*group, row % 20_000, "row {row}");
        }
        let keys = table.take_keys().unwrap();
        assert_eq!(keys.as_string_view().value(19_999), values[19_999]);
    }
}
