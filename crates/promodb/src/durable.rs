//! Durable databases: a write-ahead log, Parquet persistence and crash recovery.
//!
//! A database opened with [`crate::PromoDb::open`] lives in a directory:
//!
//! ```text
//! DIR/LOCK                                   held while a process has the database open
//! DIR/MANIFEST                               the persisted files and the WAL checkpoint
//! DIR/wal/00000000000000000003.wal           write-ahead log segments
//! DIR/orders/date=2026-11-11/hour=20/0000000007.parquet
//! DIR/skus/0000000002.parquet                (tables without `ts` are not partitioned)
//! ```
//!
//! # Write path
//!
//! An append is conformed, queued in the WAL and published to the in-memory table in one
//! step (so the log holds appends in the order the tables received them), then waits until
//! its record is as durable as the [`Durability`] promises; only then does it return.
//! Concurrent appends share one write and one fsync (group commit, see the WAL format in
//! `wal.rs`).
//!
//! In the background (every persist interval, or sooner when enough data is waiting) the
//! persister rotates the WAL, writes every row not yet persisted to Parquet files (one per
//! table and hour, each written to a temp file, fsynced and renamed), swaps in a new
//! manifest that lists them and moves the WAL checkpoint past the rotated segments, then
//! deletes those segments. Partitions that collect many small files are compacted into
//! one, again behind an atomic manifest swap. Tables stay in memory throughout, so queries
//! see every row exactly once at every step: persistence only adds a copy on disk.
//!
//! # Recovery
//!
//! Opening a directory takes its lock file (a second process gets [`crate::Error::Locked`]),
//! loads the files the manifest lists, deletes files it does not list (left by a crash
//! between writing a file and swapping the manifest), and replays the WAL from the
//! checkpoint on, in order. A record cut short at the very end of the log was never
//! acknowledged and is dropped; any other damage (a checksum mismatch, a missing segment,
//! an unreadable Parquet file, a missing manifest next to data) is
//! [`crate::Error::Corrupt`], naming the file and the byte offset, and nothing is skipped.
//!
//! # Failures
//!
//! If a write or fsync fails, the database refuses every further append with
//! [`crate::Error::WritesRefused`] until it is reopened (after an fsync failure the
//! operating system no longer says what reached the disk; recovery does). What was
//! acknowledged before is on disk. When more than the configured bound of data waits to
//! be persisted, appends wait for the persister, and past a timeout fail with
//! [`crate::Error::Backpressure`].

mod crc;
mod disk;
mod manifest;
mod parquet_files;
mod persist;
mod recovery;
mod wal;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;

use disk::Disk;
pub use disk::FaultInjector;
use manifest::Manifest;
use wal::Wal;

use crate::error::{Error, Result};
use crate::storage::TableStore;

/// What an append promises about a crash when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// The append's WAL record is written and `fdatasync`ed before the append returns: a
    /// crash of the process or of the machine loses nothing acknowledged. Concurrent
    /// appends share one fsync (group commit). The default.
    Immediate,
    /// The record is written to the operating system before the append returns and
    /// fsynced at most this long after: a crash of the process loses nothing; a crash of
    /// the machine may lose the appends of the last interval.
    Interval(Duration),
    /// No WAL: rows are durable once the persister has written them to Parquet (every
    /// persist interval). A crash may lose everything appended since the last persist.
    None,
}

/// Settings of a durable database (see [`crate::PromoDbBuilder`]).
#[derive(Debug, Clone)]
pub(crate) struct DurableConfig {
    pub(crate) durability: Durability,
    pub(crate) persist_interval: Duration,
    pub(crate) persist_bytes: usize,
    pub(crate) max_unpersisted_bytes: usize,
    pub(crate) backpressure_timeout: Duration,
    pub(crate) compact_files: usize,
    pub(crate) faults: Option<FaultInjector>,
}

impl Default for DurableConfig {
    fn default() -> Self {
        DurableConfig {
            durability: Durability::Immediate,
            persist_interval: Duration::from_secs(10),
            persist_bytes: 64 << 20,
            max_unpersisted_bytes: 1 << 30,
            backpressure_timeout: Duration::from_secs(30),
            compact_files: 8,
            faults: None,
        }
    }
}

/// The durable side of an open database.
#[derive(Debug)]
pub(crate) struct Durable {
    dir: PathBuf,
    config: DurableConfig,
    disk: Disk,
    stores: Vec<Arc<TableStore>>,
    /// `None` with [`Durability::None`].
    wal: Option<Wal>,
    /// Appends hold it shared from queueing their record to publishing their rows; the
    /// persister holds it exclusively to rotate the WAL and snapshot the tables at one
    /// point, so the snapshot holds exactly the rows of the rotated segments.
    gate: RwLock<()>,
    /// The manifest in force; held for a whole persist cycle, so cycles do not overlap.
    manifest: Mutex<Manifest>,
    /// First WAL generation a persist may not delete when there is no WAL to rotate.
    wal_end: u64,
    unpersisted_bytes: AtomicUsize,
    failure: Mutex<Option<String>>,
    persisted: Condvar,
    signal: Arc<Signal>,
    persister: Mutex<Option<JoinHandle<()>>>,
    _lock: File,
}

impl Durable {
    /// The database directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends conformed batches to `store` durably: returns once the rows are published
    /// and their WAL record is as durable as the configured [`Durability`] promises.
    pub(crate) fn append(&self, store: &TableStore, batches: Vec<RecordBatch>) -> Result<()> {
        self.check_writable()?;
        self.wait_for_room()?;
        let record = match &self.wal {
            Some(_) => Some(wal::encode_append(store.table(), &batches)?),
            None => None,
        };
        let bytes = data_bytes(&batches);
        let mut seq = None;
        {
            let _gate = self.gate.read().unwrap_or_else(|e| e.into_inner());
            store.append(batches, || {
                if let (Some(wal), Some(record)) = (&self.wal, &record) {
                    seq = Some(wal.enqueue(record)?);
                }
                self.unpersisted_bytes.fetch_add(bytes, Ordering::SeqCst);
                Ok(())
            })?;
        }
        let committed = match (&self.wal, seq) {
            (Some(wal), Some(seq)) => wal.wait_committed(seq),
            _ => Ok(()),
        };
        if let Err(error) = committed {
            self.fail(&error);
            return Err(error);
        }
        if self.unpersisted_bytes.load(Ordering::SeqCst) >= self.config.persist_bytes {
            self.signal.wake();
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        match &*lock(&self.failure) {
            Some(reason) => Err(Error::WritesRefused {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Refuses further writes until reopen; the first failure is the one reported.
    fn fail(&self, error: &Error) {
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            *failure = Some(match error {
                Error::WritesRefused { reason } => reason.clone(),
                other => other.to_string(),
            });
        }
        drop(failure);
        self.persisted.notify_all();
    }

    /// Waits while more than the bound of data waits to be persisted.
    fn wait_for_room(&self) -> Result<()> {
        let limit = self.config.max_unpersisted_bytes;
        if self.unpersisted_bytes.load(Ordering::SeqCst) <= limit {
            return Ok(());
        }
        self.signal.wake();
        let deadline = Instant::now() + self.config.backpressure_timeout;
        let mut failure = lock(&self.failure);
        loop {
            if let Some(reason) = &*failure {
                return Err(Error::WritesRefused {
                    reason: reason.clone(),
                });
            }
            let waiting = self.unpersisted_bytes.load(Ordering::SeqCst);
            if waiting <= limit {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Backpressure {
                    unpersisted_bytes: waiting,
                    limit_bytes: limit,
                });
            }
            failure = self
                .persisted
                .wait_timeout(failure, (deadline - now).min(Duration::from_millis(50)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Fsyncs the WAL if appends were written but not synced (`Durability::Interval`).
    fn sync_wal(&self) -> Result<()> {
        match &self.wal {
            Some(wal) => wal.sync().inspect_err(|e| self.fail(e)),
            None => Ok(()),
        }
    }

    /// Starts the background thread that syncs the WAL and persists, until dropped.
    pub(crate) fn start_background(self: &Arc<Self>) {
        let durable = Arc::downgrade(self);
        let signal = Arc::clone(&self.signal);
        let persist_every = self.config.persist_interval;
        let sync_every = match self.config.durability {
            Durability::Interval(every) => Some(every.max(Duration::from_millis(1))),
            _ => None,
        };
        let spawned = thread::Builder::new()
            .name("promodb-persist".to_string())
            .spawn(move || background(&durable, &signal, persist_every, sync_every));
        // Without the thread, data is still persisted by `checkpoint` and recovered from
        // the WAL; an Interval WAL is synced when the database is dropped.
        if let Ok(handle) = spawned {
            *lock(&self.persister) = Some(handle);
        }
    }
}

fn background(
    durable: &Weak<Durable>,
    signal: &Signal,
    persist_every: Duration,
    sync_every: Option<Duration>,
) {
    let mut next_persist = Instant::now() + persist_every;
    let mut next_sync = sync_every.map(|every| Instant::now() + every);
    loop {
        let deadline = next_sync.map_or(next_persist, |sync| sync.min(next_persist));
        let woken = match signal.wait_until(deadline) {
            Wake::Shutdown => return,
            Wake::Asked => true,
            Wake::Timeout => false,
        };
        let Some(durable) = durable.upgrade() else {
            return;
        };
        let now = Instant::now();
        if let (Some(every), Some(due)) = (sync_every, next_sync)
            && now >= due
        {
            // A failure poisons the database; appends report it.
            let _ = durable.sync_wal();
            next_sync = Some(now + every);
        }
        if woken || now >= next_persist {
            let _ = durable.persist();
            next_persist = Instant::now() + persist_every;
        }
    }
}

impl Durable {
    /// Stops the background thread and waits for it to finish what it is doing.
    pub(crate) fn stop_background(&self) {
        self.signal.shutdown();
        if let Some(handle) = lock(&self.persister).take()
            && handle.thread().id() != thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        self.stop_background();
        // A clean shutdown keeps the promise of the strongest mode.
        let _ = self.sync_wal();
    }
}

/// Wakes the background thread.
#[derive(Debug, Default)]
struct Signal {
    state: Mutex<(bool, bool)>, // (asked, shutdown)
    changed: Condvar,
}

enum Wake {
    Asked,
    Timeout,
    Shutdown,
}

impl Signal {
    fn wake(&self) {
        lock(&self.state).0 = true;
        self.changed.notify_all();
    }

    fn shutdown(&self) {
        lock(&self.state).1 = true;
        self.changed.notify_all();
    }

    fn wait_until(&self, deadline: Instant) -> Wake {
        let mut state = lock(&self.state);
        loop {
            if state.1 {
                return Wake::Shutdown;
            }
            if state.0 {
                state.0 = false;
                return Wake::Asked;
            }
            let now = Instant::now();
            if now >= deadline {
                return Wake::Timeout;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The bytes of data in `batches`: of their slices, not of the buffers they view (a
/// batch sliced from a bigger one shares its buffers).
pub(crate) fn data_bytes(batches: &[RecordBatch]) -> usize {
    batches
        .iter()
        .flat_map(|b| b.columns())
        .map(|column| column.to_data().get_slice_memory_size().unwrap_or(0))
        .sum()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
