//! In-memory storage of the canonical tables.
//!
//! Each table is a list of immutable [`Segment`]s published as one [`TableSnapshot`]
//! behind an `Arc` swap. Writers build the next snapshot under the table's write lock and
//! publish it in one pointer swap; readers clone the current `Arc` and never wait for
//! writers, never copy a mutable builder, and see each append entirely or not at all.
//!
//! Rows pushed one at a time collect in a small open buffer (Arrow builders) that is
//! sealed into a segment when it holds `seal_rows` rows, when it is older than
//! `seal_interval`, or when a query starts (so a query sees every push that returned
//! before it: read your writes). Small segments at the tail are merged, so that queries
//! do not drown in tiny batches.
//!
//! Parquet files may also be attached to a table ([`AttachedFile`]): they are part of
//! every snapshot taken after, and read in place by the scan.
//!
//! A lookup on a BIGINT column (`user_id = 476`, `order_id IN (...)`) builds, on first
//! use, a small membership filter ([`KeyFilter`]) per segment for that column, and later
//! lookups skip the segments whose filter rules the keys out.

mod attached_file;
mod changes;
mod key_filter;
mod open_buffer;
mod segment;
mod table_store;

pub use attached_file::AttachedFile;
pub(crate) use changes::Changes;
pub use key_filter::KeyFilter;
pub(crate) use open_buffer::{ColumnBuilder, single_row_batch};
pub use segment::Segment;
pub(crate) use table_store::TableStore;
pub use table_store::{StorageConfig, TableSnapshot};
