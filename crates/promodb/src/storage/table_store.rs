//! One canonical table: its published snapshot, its write lock and its open buffer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::compute::kernels::cast::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;

use super::attached_file::AttachedFile;
use super::changes::Changes;
use super::open_buffer::{ColumnBuilder, OpenBuffer};
use super::segment::Segment;
use crate::error::{Error, Result};
use crate::schema::Table;

/// When rows are sealed into segments and small segments merged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageConfig {
    /// Rows at which the open buffer is sealed, and below which a segment counts as small.
    /// By default, 8192 (DataFusion's batch size: bigger gains nothing per poll, smaller
    /// costs a poll per operator per batch).
    pub seal_rows: usize,
    /// Age at which a non-empty open buffer is sealed even if small. By default, 200 ms.
    pub seal_interval: Duration,
    /// Small segments allowed at the tail before they are merged into one. By default, 8.
    pub max_small_segments: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            seal_rows: 8192,
            seal_interval: Duration::from_millis(200),
            max_small_segments: 8,
        }
    }
}

/// The rows of one table at one instant: immutable, shared by every query that took it.
/// They are the sealed segments in memory plus the Parquet files attached to the table.
#[derive(Debug)]
pub struct TableSnapshot {
    schema: SchemaRef,
    segments: Vec<Arc<Segment>>,
    files: Vec<Arc<AttachedFile>>,
}

impl TableSnapshot {
    /// The table's schema at this instant: canonical columns, then user columns.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The sealed segments, oldest first.
    pub fn segments(&self) -> &[Arc<Segment>] {
        &self.segments
    }

    /// The attached Parquet files, in the order they were attached.
    pub fn files(&self) -> &[Arc<AttachedFile>] {
        &self.files
    }

    /// Total rows: in memory and in attached files.
    pub fn num_rows(&self) -> usize {
        self.memory_rows() + self.files.iter().map(|f| f.num_rows()).sum::<usize>()
    }

    /// Rows held in memory (the segments).
    pub fn memory_rows(&self) -> usize {
        self.segments.iter().map(|s| s.num_rows()).sum()
    }
}

#[derive(Debug)]
pub(crate) struct TableStore {
    table: Table,
    config: StorageConfig,
    current: RwLock<Arc<TableSnapshot>>,
    writer: Mutex<OpenBuffer>,
    /// Rows in the open buffer, readable without the lock so that queries only take the
    /// write lock when there is something to seal.
    open_rows: AtomicUsize,
    /// Told of every append (pushed rows, appended batches).
    changes: Arc<Changes>,
}

impl TableStore {
    pub(crate) fn new(table: Table, config: StorageConfig, changes: Arc<Changes>) -> Self {
        let snapshot = TableSnapshot {
            schema: table.arrow_schema(),
            segments: Vec::new(),
            files: Vec::new(),
        };
        TableStore {
            table,
            current: RwLock::new(Arc::new(snapshot)),
            writer: Mutex::new(OpenBuffer::new(table, config.seal_rows)),
            open_rows: AtomicUsize::new(0),
            config,
            changes,
        }
    }

    pub(crate) fn table(&self) -> Table {
        self.table
    }

    /// The current snapshot, with every row pushed so far sealed into it.
    pub(crate) fn snapshot(&self) -> Result<Arc<TableSnapshot>> {
        if self.open_rows.load(Ordering::SeqCst) > 0 {
            let mut open = self.lock_writer();
            self.publish_locked(&mut open, Vec::new(), || Ok(()))?;
        }
        Ok(Arc::clone(&self.read_current()))
    }

    /// Appends conformed batches atomically: a query sees all of them or none. Returns
    /// whether the table's schema grew (new user columns). `on_publish` runs under the
    /// table's write lock once the batches are known to fit and just before they become
    /// visible, so appends reach it in the order queries see them (the WAL queues its
    /// record there); if it fails, nothing is published.
    pub(crate) fn append(
        &self,
        batches: Vec<RecordBatch>,
        on_publish: impl FnOnce() -> Result<()>,
    ) -> Result<bool> {
        let mut open = self.lock_writer();
        let grew = self.publish_locked(&mut open, batches, on_publish)?;
        drop(open);
        self.changes.bump(self.table);
        Ok(grew)
    }

    /// Pushes one row into the open buffer; seals it when full.
    pub(crate) fn push_row(
        &self,
        write: impl FnOnce(&mut [ColumnBuilder]) -> Result<()>,
    ) -> Result<()> {
        let mut open = self.lock_writer();
        open.push_row(write)?;
        if open.rows() >= self.config.seal_rows {
            self.publish_locked(&mut open, Vec::new(), || Ok(()))?;
        } else {
            self.open_rows.store(open.rows(), Ordering::SeqCst);
        }
        drop(open);
        self.changes.bump(self.table);
        Ok(())
    }

    pub(crate) fn pending_rows(&self) -> usize {
        self.open_rows.load(Ordering::SeqCst)
    }

    /// Seals the open buffer if it is older than the seal interval.
    pub(crate) fn seal_if_stale(&self) -> Result<()> {
        if self.open_rows.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let mut open = self.lock_writer();
        let stale = open
            .opened_at()
            .is_some_and(|t| t.elapsed() >= self.config.seal_interval);
        if stale {
            self.publish_locked(&mut open, Vec::new(), || Ok(()))?;
        }
        Ok(())
    }

    /// Adds Parquet files to the table, read in place from now on; a query sees all of
    /// them or none. Refuses a file that is attached already (its rows would count twice).
    pub(crate) fn attach(&self, files: Vec<AttachedFile>) -> Result<()> {
        let open = self.lock_writer();
        let current = self.read_current();
        let mut attached: Vec<Arc<AttachedFile>> = current.files.clone();
        for file in files {
            if attached.iter().any(|a| a.path() == file.path()) {
                return Err(Error::file(
                    file.path(),
                    format!("already attached to {}", self.table.name()),
                ));
            }
            attached.push(Arc::new(file));
        }
        self.publish_files(&current, attached);
        drop(open);
        self.changes.bump(self.table);
        Ok(())
    }

    /// Detaches every attached file; returns how many there were. The rows in memory stay.
    pub(crate) fn detach_all(&self) -> usize {
        let open = self.lock_writer();
        let current = self.read_current();
        let detached = current.files.len();
        if detached > 0 {
            self.publish_files(&current, Vec::new());
        }
        drop(open);
        self.changes.bump(self.table);
        detached
    }

    /// Publishes `current` with `files` instead of its files. Caller holds the lock.
    fn publish_files(&self, current: &TableSnapshot, files: Vec<Arc<AttachedFile>>) {
        let next = Arc::new(TableSnapshot {
            schema: Arc::clone(&current.schema),
            segments: current.segments.clone(),
            files,
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    fn lock_writer(&self) -> MutexGuard<'_, OpenBuffer> {
        // A panic while holding the lock cannot leave a half-published snapshot (publishing
        // is one pointer swap), so the buffer is still consistent: keep going.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_current(&self) -> Arc<TableSnapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Builds and publishes the next snapshot: the open buffer's rows first (they were
    /// pushed before anything this call appends), then `batches`. Caller holds the lock.
    fn publish_locked(
        &self,
        open: &mut OpenBuffer,
        batches: Vec<RecordBatch>,
        on_publish: impl FnOnce() -> Result<()>,
    ) -> Result<bool> {
        let current = self.read_current();
        // Everything that can refuse the batches runs before the open buffer is touched,
        // so a refused append loses no pushed row.
        let mut schema = Arc::clone(&current.schema);
        let mut adapted = Vec::with_capacity(batches.len());
        for batch in batches {
            let (grown, batch) = reconcile(self.table, &schema, batch)?;
            schema = grown;
            adapted.push(batch);
        }
        let incoming: Vec<RecordBatch> = open.seal()?.into_iter().chain(adapted).collect();
        if incoming.iter().all(|b| b.num_rows() == 0) {
            return Ok(false);
        }
        let grew = schema.fields().len() != current.schema.fields().len();
        let time_column = self.table.def().time_column();
        let mut segments: Vec<Arc<Segment>> = if grew {
            current
                .segments
                .iter()
                .map(|s| {
                    pad_to(self.table, &schema, s.batch())
                        .map(|b| Arc::new(Segment::new(b, time_column)))
                })
                .collect::<Result<_>>()?
        } else {
            current.segments.clone()
        };
        for batch in incoming {
            if batch.num_rows() > 0 {
                let batch = pad_to(self.table, &schema, &batch)?;
                segments.push(Arc::new(Segment::new(batch, time_column)));
            }
        }
        self.merge_small_tail(&mut segments, &schema)?;
        on_publish()?;
        let next = Arc::new(TableSnapshot {
            schema,
            segments,
            files: current.files.clone(),
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        // Only now may a query skip sealing: the rows it would seal are published.
        self.open_rows.store(0, Ordering::SeqCst);
        Ok(grew)
    }

    /// Merges the run of small segments at the tail once it is long or big enough.
    fn merge_small_tail(&self, segments: &mut Vec<Arc<Segment>>, schema: &SchemaRef) -> Result<()> {
        let small = |s: &Arc<Segment>| s.num_rows() < self.config.seal_rows;
        let run = segments.iter().rev().take_while(|s| small(s)).count();
        let run_rows: usize = segments[segments.len() - run..]
            .iter()
            .map(|s| s.num_rows())
            .sum();
        if run < 2 || (run <= self.config.max_small_segments && run_rows < self.config.seal_rows) {
            return Ok(());
        }
        let tail = segments.split_off(segments.len() - run);
        let merged = concat_batches(schema, tail.iter().map(|s| s.batch()))?;
        segments.push(Arc::new(Segment::new(
            merged,
            self.table.def().time_column(),
        )));
        Ok(())
    }
}

/// Fits a conformed batch to the table's schema: user columns the table already has are
/// cast to their type, new ones are added to the schema (returned), missing ones are NULL.
fn reconcile(
    table: Table,
    schema: &SchemaRef,
    batch: RecordBatch,
) -> Result<(SchemaRef, RecordBatch)> {
    if batch.schema() == *schema {
        return Ok((Arc::clone(schema), batch));
    }
    let canonical = table.def().columns.len();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for field in batch.schema().fields().iter().skip(canonical) {
        if schema.field_with_name(field.name()).is_err() {
            fields.push(Field::new(field.name(), field.data_type().clone(), true));
        }
    }
    let grown: SchemaRef = if fields.len() == schema.fields().len() {
        Arc::clone(schema)
    } else {
        Arc::new(Schema::new(fields))
    };
    let adapted = pad_to(table, &grown, &batch)?;
    Ok((grown, adapted))
}

/// A cast that fails on a value it cannot convert instead of making it NULL.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: FormatOptions::new(),
};

/// Builds a batch with exactly `schema`'s columns from `batch`, by name: casting user
/// columns whose type differs, NULL for columns `batch` lacks.
fn pad_to(table: Table, schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(array) if array.data_type() == field.data_type() => Ok(Arc::clone(array)),
            Some(array) => cast_with_options(array, field.data_type(), &STRICT).map_err(|_| {
                Error::TypeMismatch {
                    table: table.name().to_string(),
                    column: field.name().clone(),
                    found: array.data_type().to_string(),
                    expected: field.data_type().to_string(),
                }
            }),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
