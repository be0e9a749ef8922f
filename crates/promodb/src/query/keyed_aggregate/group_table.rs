//! What an aggregation needs from the group table of each of its keys, and which key types have
//! one.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;

use super::int_keys::is_integer_key;
use super::int_table::IntGroupTable;
use super::text_table::TextGroupTable;

/// Maps each distinct key (and NULL) of the rows seen so far to a dense group index
/// (numbered as keys first appear; an integer table numbers NULL first in its batch),
/// and gives the keys back by group index.
pub(super) trait GroupTable: Send {
    /// Writes the group index of every row of `keys` to `groups`, adding new groups for
    /// keys not seen before.
    fn intern(&mut self, keys: &ArrayRef, groups: &mut Vec<usize>) -> Result<()>;

    /// The number of groups.
    fn len(&self) -> usize;

    /// Bytes held.
    fn size(&self) -> usize;

    /// The keys of all groups, by group index, in the key's own type, leaving the table
    /// empty.
    fn take_keys(&mut self) -> Result<ArrayRef>;
}

/// The group table for keys of `key_type`, if promodb has one.
pub(super) fn group_table_for(key_type: &DataType) -> Option<Box<dyn GroupTable>> {
    if is_integer_key(key_type) {
        return Some(Box::new(IntGroupTable::new(key_type.clone())));
    }
    if TextGroupTable::supports(key_type) {
        return Some(Box::new(TextGroupTable::new(key_type.clone())));
    }
    None
}

/// The validity of `groups` keys where only `null_group` (if any) is NULL.
pub(super) fn nulls_of_groups(null_group: Option<usize>, groups: usize) -> Option<NullBuffer> {
    null_group.map(|null_group| NullBuffer::from_iter((0..groups).map(|group| group != null_group)))
}
