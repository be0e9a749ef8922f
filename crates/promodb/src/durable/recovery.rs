//! Opening a database directory: the lock, the manifest, the persisted files, the WAL.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::disk::{Disk, temp_path};
use super::manifest::{MANIFEST, Manifest};
use super::parquet_files::read_file;
use super::wal::{self, Commit, HEADER_LEN, Wal};
use super::{Durability, Durable, DurableConfig, Signal, data_bytes};
use crate::error::{Error, Result};
use crate::schema::{Table, conform};
use crate::storage::TableStore;

impl Durable {
    /// Opens (or creates) the database in `dir`, loading what it holds into `stores`.
    pub(crate) fn open(
        dir: &Path,
        config: DurableConfig,
        stores: Vec<Arc<TableStore>>,
    ) -> Result<Arc<Durable>> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock_file = take_lock(dir)?;
        let disk = Disk::new(config.faults.clone());
        let manifest = match Manifest::load(dir)? {
            Some(manifest) => manifest,
            None => create_manifest(dir, &disk)?,
        };
        let _ = fs::remove_file(temp_path(&Manifest::path(dir)));
        for file in &manifest.files {
            let store = &stores[file.table as usize];
            let path = dir.join(&file.path);
            let batches = read_file(dir, file)?
                .iter()
                .map(|b| conform(file.table, b).map_err(|e| e.in_file(&path, 0)))
                .collect::<Result<Vec<_>>>()?;
            store.append(batches, || Ok(()))?;
        }
        remove_unlisted_files(dir, &manifest)?;

        let wal_dir = wal::wal_dir(dir);
        let replayed_bytes = replay_wal(&wal_dir, manifest.wal_checkpoint, &stores, &disk)?;
        let last = wal::list_segments(&wal_dir)?.last().copied();
        let next_generation = last.map_or(manifest.wal_checkpoint, |g| g + 1).max(1);
        let commit = match config.durability {
            Durability::Immediate => Some(Commit::Synced),
            Durability::Interval(_) => Some(Commit::Written),
            Durability::None => None,
        };
        let wal = commit
            .map(|commit| Wal::create(&wal_dir, disk.clone(), next_generation, commit))
            .transpose()?;

        let durable = Arc::new(Durable {
            dir: dir.to_path_buf(),
            config,
            disk,
            stores,
            wal,
            gate: RwLock::new(()),
            manifest: Mutex::new(manifest),
            wal_end: next_generation,
            unpersisted_bytes: AtomicUsize::new(replayed_bytes),
            failure: Mutex::new(None),
            persisted: Condvar::new(),
            signal: Arc::new(Signal::default()),
            persister: Mutex::new(None),
            _lock: lock_file,
        });
        durable.start_background();
        Ok(durable)
    }
}

/// How long `open` waits for a LOCK held elsewhere before it reports `Error::Locked`.
///
/// The lock is an `flock`, which belongs to the open file: a child process the service
/// spawns (fork, then exec) holds a copy of every descriptor until its exec closes
/// them, so right after a database is closed its lock can still look taken for a few
/// milliseconds. A real second user holds it far longer than this.
const LOCK_WAIT: Duration = Duration::from_millis(250);

fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => return Err(Error::Locked { path }),
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
}

/// A new database gets an empty manifest first, so that a directory with data and no
/// manifest is always damage.
fn create_manifest(dir: &Path, disk: &Disk) -> Result<Manifest> {
    let has_data = !wal::list_segments(&wal::wal_dir(dir))?.is_empty()
        || Table::ALL.iter().any(|t| dir.join(t.name()).exists());
    if has_data {
        return Err(Error::corrupt(
            Manifest::path(dir),
            0,
            &format!("{MANIFEST} is missing, but the directory holds data files"),
        ));
    }
    let manifest = Manifest {
        wal_checkpoint: 1,
        ..Manifest::default()
    };
    manifest.store(dir, disk)?;
    Ok(manifest)
}

/// Deletes Parquet and temp files under the table directories that the manifest does not
/// list: a persist or compaction that crashed before its manifest swap left them.
fn remove_unlisted_files(dir: &Path, manifest: &Manifest) -> Result<()> {
    let listed: HashSet<PathBuf> = manifest.files.iter().map(|f| dir.join(&f.path)).collect();
    for table in Table::ALL {
        let mut pending = vec![dir.join(table.name())];
        while let Some(folder) = pending.pop() {
            let entries = match fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&folder, e)),
            };
            for entry in entries {
                let path = entry.map_err(|e| Error::io(&folder, e))?.path();
                if path.is_dir() {
                    pending.push(path);
                } else if !listed.contains(&path) {
                    let data = path
                        .extension()
                        .is_some_and(|e| e == "parquet" || e == "tmp");
                    if data {
                        fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Replays the WAL segments from `checkpoint` on into the stores; returns the bytes
/// replayed (they are not persisted yet). Segments before the checkpoint are leftovers of
/// a truncation that a crash interrupted, and are deleted.
fn replay_wal(
    dir: &Path,
    checkpoint: u64,
    stores: &[Arc<TableStore>],
    disk: &Disk,
) -> Result<usize> {
    let generations = wal::list_segments(dir)?;
    let mut bytes = 0;
    let live: Vec<u64> = generations
        .iter()
        .copied()
        .filter(|g| *g >= checkpoint)
        .collect();
    for generation in generations.iter().filter(|g| **g < checkpoint) {
        let path = wal::segment_path(dir, *generation);
        fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    for (i, generation) in live.iter().enumerate() {
        let path = wal::segment_path(dir, *generation);
        let expected = live[0] + i as u64;
        if *generation != expected {
            return Err(Error::corrupt(
                wal::segment_path(dir, expected),
                0,
                "WAL segment is missing",
            ));
        }
        let contents = wal::read_segment(&path)?;
        let is_last = i + 1 == live.len();
        if let Some(offset) = contents.torn_at {
            if !is_last {
                return Err(Error::corrupt(
                    &path,
                    offset,
                    "record cut short before the end of the log",
                ));
            }
            cut_torn_tail(&path, offset, disk)?;
        }
        for record in contents.records {
            bytes += data_bytes(&record.batches);
            stores[record.table as usize].append(record.batches, || Ok(()))?;
        }
    }
    Ok(bytes)
}

/// Cuts an unacknowledged record off the end of the last segment (or removes the segment
/// if even its header is incomplete), so that it is not mistaken for damage once newer
/// segments follow.
fn cut_torn_tail(path: &Path, offset: u64, disk: &Disk) -> Result<()> {
    if offset < HEADER_LEN as u64 {
        fs::remove_file(path).map_err(|e| Error::io(path, e))?;
    } else {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(offset).map_err(|e| Error::io(path, e))?;
        disk.sync_data(&file, path)?;
    }
    disk.sync_dir(path.parent().unwrap_or(Path::new(".")))
}
