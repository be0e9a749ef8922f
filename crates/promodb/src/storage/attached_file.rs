//! A Parquet file attached to a canonical table: read in place by every query that scans
//! the table, never copied into memory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use super::key_filter::KeyFilter;
use super::segment::may_overlap;

/// A Parquet file whose rows belong to a table without being held in memory.
///
/// It was checked once, when attached (canonical columns of the canonical type, no NULL
/// where the schema forbids it); its size and modification time are kept so that a scan
/// can refuse a file that changed since. Like a segment, it keeps, per BIGINT column that
/// a lookup asked for, one key filter per row group, built on first use.
#[derive(Debug)]
pub struct AttachedFile {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
    rows: usize,
    row_groups: usize,
    time_range: Option<(i64, i64)>,
    /// Per column: its key filter per row group (`None`: it could not be built).
    key_filters: Box<[OnceLock<Option<Vec<KeyFilter>>>]>,
}

impl AttachedFile {
    /// `path` is absolute; `time_range` is the `[min, max]` of `ts` in microseconds,
    /// `None` when the file has no rows or the table has no time.
    /// `columns` is the number of the table's canonical columns.
    pub(crate) fn new(
        path: PathBuf,
        size: u64,
        modified: SystemTime,
        (rows, row_groups): (usize, usize),
        time_range: Option<(i64, i64)>,
        columns: usize,
    ) -> Self {
        AttachedFile {
            path,
            size,
            modified,
            rows,
            row_groups,
            time_range,
            key_filters: (0..columns).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The file's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size in bytes when attached.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its modification time when attached.
    pub fn modified(&self) -> SystemTime {
        self.modified
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// Number of row groups.
    pub fn num_row_groups(&self) -> usize {
        self.row_groups
    }

    /// Smallest and largest `ts` in microseconds since the epoch, from the file's
    /// statistics or, where they do not prove it, read when attached (None for tables
    /// without time and files without rows).
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.time_range
    }

    /// The key filters of canonical column `column`, one per row group, built by `build`
    /// on first use and kept; `None` when `build` could not (or built a filter per row
    /// group of another file), or `column` is out of range.
    pub(crate) fn row_group_key_filters(
        &self,
        column: usize,
        build: impl FnOnce() -> Option<Vec<KeyFilter>>,
    ) -> Option<&[KeyFilter]> {
        let filters = self
            .key_filters
            .get(column)?
            .get_or_init(build)
            .as_deref()?;
        (filters.len() == self.row_groups).then_some(filters)
    }

    /// Whether the file may hold rows with `ts` in `[lo, hi]` (inclusive).
    pub(crate) fn overlaps(&self, lo: i64, hi: i64) -> bool {
        may_overlap(self.time_range, lo, hi)
    }
}
