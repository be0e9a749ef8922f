//! Every write and fsync of a durable database, in one place, so that tests can make the
//! N-th of them fail ([`FaultInjector`]) and prove that nothing acknowledged is lost.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Makes the N-th write or fsync of a durable database fail, for testing recovery.
///
/// Counts every write (WAL records, Parquet files, the manifest, renames) and every fsync
/// (of files and directories) the database issues. A failed write first writes half of
/// its bytes, as a crash in the middle of it would. Share one injector between the
/// database and the test through [`crate::PromoDbBuilder::with_fault_injector`]; clones
/// share the counters.
///
/// ```
/// let faults = promodb::durable::FaultInjector::new();
/// faults.fail_nth_sync(3);
/// assert_eq!(faults.syncs(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    state: Arc<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    writes: AtomicU64,
    syncs: AtomicU64,
    fail_write: AtomicU64,
    fail_sync: AtomicU64,
}

impl FaultInjector {
    /// An injector that fails nothing until told to.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the `n`-th write (counting from 1) fail; 0 disarms.
    pub fn fail_nth_write(&self, n: u64) {
        self.state.fail_write.store(n, Ordering::SeqCst);
    }

    /// Makes the `n`-th fsync (counting from 1) fail; 0 disarms.
    pub fn fail_nth_sync(&self, n: u64) {
        self.state.fail_sync.store(n, Ordering::SeqCst);
    }

    /// Writes issued so far.
    pub fn writes(&self) -> u64 {
        self.state.writes.load(Ordering::SeqCst)
    }

    /// Fsyncs issued so far.
    pub fn syncs(&self) -> u64 {
        self.state.syncs.load(Ordering::SeqCst)
    }

    fn write_fails(&self) -> bool {
        let n = self.state.writes.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.state.fail_write.load(Ordering::SeqCst)
    }

    fn sync_fails(&self) -> bool {
        let n = self.state.syncs.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.state.fail_sync.load(Ordering::SeqCst)
    }
}

fn injected(what: &str) -> std::io::Error {
    std::io::Error::other(format!("injected {what} failure"))
}

/// The file operations of a durable database.
#[derive(Debug, Clone, Default)]
pub(crate) struct Disk {
    faults: Option<FaultInjector>,
}

impl Disk {
    pub(crate) fn new(faults: Option<FaultInjector>) -> Self {
        Disk { faults }
    }

    /// Writes all of `bytes` at the end of `file`.
    pub(crate) fn append(&self, mut file: &File, path: &Path, bytes: &[u8]) -> Result<()> {
        if self.faults.as_ref().is_some_and(FaultInjector::write_fails) {
            let _ = file.write_all(&bytes[..bytes.len() / 2]);
            return Err(Error::io(path, injected("write")));
        }
        file.write_all(bytes).map_err(|e| Error::io(path, e))
    }

    /// `fdatasync`: the file's data reach the disk.
    pub(crate) fn sync_data(&self, file: &File, path: &Path) -> Result<()> {
        if self.faults.as_ref().is_some_and(FaultInjector::sync_fails) {
            return Err(Error::io(path, injected("fsync")));
        }
        file.sync_data().map_err(|e| Error::io(path, e))
    }

    /// Fsyncs a directory, so that files created, renamed or removed in it stay so.
    pub(crate) fn sync_dir(&self, dir: &Path) -> Result<()> {
        if self.faults.as_ref().is_some_and(FaultInjector::sync_fails) {
            return Err(Error::io(dir, injected("fsync")));
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))
    }

    /// Creates `path` (which must not exist) with `bytes`, durably.
    pub(crate) fn create_synced(&self, path: &Path, bytes: &[u8]) -> Result<File> {
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        self.append(&file, path, bytes)?;
        self.sync_data(&file, path)?;
        self.sync_dir(parent(path))?;
        Ok(file)
    }

    /// Replaces `path` with `bytes` atomically: a crash leaves either the old file or the
    /// new one, complete (temp file, fsync, rename, fsync the directory).
    pub(crate) fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = parent(path);
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let temp = temp_path(path);
        let _ = fs::remove_file(&temp);
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&temp)
            .map_err(|e| Error::io(&temp, e))?;
        self.append(&file, &temp, bytes)?;
        self.sync_data(&file, &temp)?;
        drop(file);
        if self.faults.as_ref().is_some_and(FaultInjector::write_fails) {
            return Err(Error::io(path, injected("rename")));
        }
        fs::rename(&temp, path).map_err(|e| Error::io(path, e))?;
        self.sync_dir(dir)
    }
}

/// The temp file a file is written to before it is renamed into place.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}
