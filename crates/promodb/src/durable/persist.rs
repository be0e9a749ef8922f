//! The persist cycle: rows not yet on disk go to Parquet, the manifest moves the WAL
//! checkpoint past them, and small files are compacted.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use datafusion::arrow::array::RecordBatch;

use super::manifest::{DataFile, Manifest};
use super::parquet_files::{partition_of, read_file, rows_after, write_file, write_partitioned};
use super::{Durable, lock, wal};
use crate::error::Result;
use crate::schema::Table;

/// Files below this many rows count as small and are compacted together.
const SMALL_FILE_ROWS: usize = 1 << 20;

impl Durable {
    /// Persists every row appended so far, truncates the WAL up to them, and compacts
    /// partitions with many small files. A failure refuses further writes until reopen.
    pub(crate) fn persist(&self) -> Result<()> {
        let mut manifest = lock(&self.manifest);
        self.check_writable()?;
        self.persist_locked(&mut manifest)
            .inspect_err(|e| self.fail(e))
    }

    fn persist_locked(&self, manifest: &mut Manifest) -> Result<()> {
        let persisted = manifest.rows_by_table();
        let (snapshots, checkpoint, covered_bytes) = {
            let _gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
            let snapshots = self
                .stores
                .iter()
                .map(|store| store.snapshot())
                .collect::<Result<Vec<_>>>()?;
            let pending = self.stores.iter().zip(&snapshots).any(|(store, snapshot)| {
                snapshot.memory_rows() > persisted.get(&store.table()).copied().unwrap_or(0)
            });
            if !pending {
                return Ok(());
            }
            let checkpoint = match &self.wal {
                Some(wal) => wal.rotate()?,
                None => self.wal_end,
            };
            (
                snapshots,
                checkpoint,
                self.unpersisted_bytes.load(Ordering::SeqCst),
            )
        };

        let mut next = manifest.clone();
        for (store, snapshot) in self.stores.iter().zip(&snapshots) {
            let table = store.table();
            let from = persisted.get(&table).copied().unwrap_or(0);
            let batches = rows_after(snapshot, from);
            let files = write_partitioned(
                &self.dir,
                &self.disk,
                table,
                snapshot.schema(),
                &batches,
                &mut next.next_file,
            )?;
            next.files.extend(files);
        }
        next.wal_checkpoint = checkpoint;
        next.store(&self.dir, &self.disk)?;
        *manifest = next;

        self.unpersisted_bytes
            .fetch_sub(covered_bytes, Ordering::SeqCst);
        self.persisted.notify_all();
        self.remove_wal_before(checkpoint);
        self.compact(manifest)
    }

    /// Deletes the WAL segments the manifest covers. One left behind by a crash is deleted
    /// at the next open, so a failure here loses nothing.
    fn remove_wal_before(&self, checkpoint: u64) {
        let dir = wal::wal_dir(&self.dir);
        if let Ok(generations) = wal::list_segments(&dir) {
            for generation in generations.into_iter().filter(|g| *g < checkpoint) {
                let _ = std::fs::remove_file(wal::segment_path(&dir, generation));
            }
        }
    }

    /// Rewrites each partition holding at least `compact_files` small files as one file.
    fn compact(&self, manifest: &mut Manifest) -> Result<()> {
        let mut small: BTreeMap<(Table, String), Vec<DataFile>> = BTreeMap::new();
        for file in &manifest.files {
            if file.rows < SMALL_FILE_ROWS {
                small
                    .entry((file.table, partition_of(&file.path).to_string()))
                    .or_default()
                    .push(file.clone());
            }
        }
        for ((table, partition), files) in small {
            if files.len() < self.config.compact_files.max(2) {
                continue;
            }
            let mut batches: Vec<RecordBatch> = Vec::new();
            for file in &files {
                batches.extend(read_file(&self.dir, file)?);
            }
            // Files written before the table grew a user column have fewer columns: leave
            // such a partition as it is rather than rewrite rows to another schema.
            let Some(schema) = batches.first().map(RecordBatch::schema) else {
                continue;
            };
            if batches.iter().any(|b| b.schema() != schema) {
                continue;
            }
            let mut next = manifest.clone();
            next.next_file += 1;
            let path = format!("{partition}/{:010}.parquet", next.next_file);
            write_file(&self.dir, &self.disk, &path, &schema, &batches)?;
            let rows = files.iter().map(|f| f.rows).sum();
            next.files.retain(|f| !files.contains(f));
            next.files.push(DataFile { table, rows, path });
            next.store(&self.dir, &self.disk)?;
            *manifest = next;
            for file in &files {
                // An old file left behind is not in the manifest and is deleted at open.
                let _ = std::fs::remove_file(self.dir.join(&file.path));
            }
        }
        Ok(())
    }
}
