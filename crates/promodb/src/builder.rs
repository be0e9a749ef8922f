//! [`PromoDbBuilder`]: how a database is set up.

use std::path::Path;
use std::time::Duration;

use crate::db::PromoDb;
use crate::durable::{Durability, DurableConfig, FaultInjector};
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
    pub(crate) durable: DurableConfig,
}

impl Default for PromoDbBuilder {
    fn default() -> Self {
        PromoDbBuilder {
            target_partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            storage: StorageConfig::default(),
            durable: DurableConfig::default(),
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

    /// What an append promises about a crash when it returns, for [`Self::open`]. By
    /// default, [`Durability::Immediate`].
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durable.durability = durability;
        self
    }

    /// How often the background persister writes new rows to Parquet and truncates the
    /// WAL, for [`Self::open`]. By default, 10 s (sooner when 64 MiB are waiting).
    pub fn with_persist_interval(mut self, interval: Duration) -> Self {
        self.durable.persist_interval = interval;
        self
    }

    /// The bound on appended data not yet persisted to Parquet, for [`Self::open`]: past
    /// it, appends wait for the persister and, after `timeout`, fail with
    /// [`crate::Error::Backpressure`]. By default, 1 GiB and 30 s.
    pub fn with_max_unpersisted_bytes(mut self, bytes: usize, timeout: Duration) -> Self {
        self.durable.max_unpersisted_bytes = bytes;
        self.durable.backpressure_timeout = timeout;
        self
    }

    /// Small Parquet files an hour partition may collect before they are compacted into
    /// one, for [`Self::open`]. By default, 8.
    pub fn with_compaction_files(mut self, files: usize) -> Self {
        self.durable.compact_files = files;
        self
    }

    /// Routes every write and fsync of [`Self::open`] through `faults`, to test failures.
    pub fn with_fault_injector(mut self, faults: FaultInjector) -> Self {
        self.durable.faults = Some(faults);
        self
    }

    /// Opens a database that lives in memory only.
    pub fn in_memory(self) -> Result<PromoDb> {
        self.check()?;
        PromoDb::from_builder(self, None)
    }

    /// Opens the durable database in directory `dir`, creating it if needed, and recovers
    /// what it holds: see [`crate::durable`] for the files and the promises.
    pub fn open(self, dir: impl AsRef<Path>) -> Result<PromoDb> {
        self.check()?;
        if self.durable.persist_interval.is_zero() || self.durable.max_unpersisted_bytes == 0 {
            return Err(Error::InvalidArgument(
                "persist interval and max unpersisted bytes must be positive".to_string(),
            ));
        }
        PromoDb::from_builder(self, Some(dir.as_ref()))
    }

    fn check(&self) -> Result<()> {
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
        Ok(())
    }
}
