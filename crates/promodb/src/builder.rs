//! [`PromoDbBuilder`]: how a database is set up.

use std::time::Duration;

use crate::db::PromoDb;
use crate::error::{Error, Result};
use crate::storage::StorageConfig;

/// Sets up a [`PromoDb`].
///
/// ```
/// # fn main() -> promodb::Result<()> {
/// use std::time::Duration;
/// let db = promodb::PromoDb::builder()
///     .with_target_partitions(2)
///     .with_seal_interval(Duration::from_millis(100))
///     .in_memory()?;
/// # drop(db); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PromoDbBuilder {
    pub(crate) target_partitions: usize,
    pub(crate) storage: StorageConfig,
}

impl Default for PromoDbBuilder {
    fn default() -> Self {
        PromoDbBuilder {
            target_partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            storage: StorageConfig::default(),
        }
    }
}

impl PromoDbBuilder {
    /// Partitions a query is split into. By default, the number of cores.
    pub fn with_target_partitions(mut self, partitions: usize) -> Self {
        self.target_partitions = partitions;
        self
    }

    /// Rows at which pushed rows are sealed into an immutable segment, and below which a
    /// segment counts as small and is merged with its small neighbours. By default, 8192.
    pub fn with_seal_rows(mut self, rows: usize) -> Self {
        self.storage.seal_rows = rows;
        self
    }

    /// Age at which pushed rows are sealed even if fewer than the seal size. By default,
    /// 200 ms. (Queries see pushed rows at once either way; this bounds how long they sit
    /// in the open buffer.)
    pub fn with_seal_interval(mut self, interval: Duration) -> Self {
        self.storage.seal_interval = interval;
        self
    }

    /// Opens a database that lives in memory only.
    pub fn in_memory(self) -> Result<PromoDb> {
        if self.target_partitions == 0 {
            return Err(Error::InvalidArgument(
                "target partitions must be at least 1".to_string(),
            ));
        }
        if self.storage.seal_rows == 0 || self.storage.seal_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "seal rows and seal interval must be positive".to_string(),
            ));
        }
        PromoDb::from_builder(self)
    }
}
