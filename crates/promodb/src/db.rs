//! [`PromoDb`], the embedded database handle.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::thread;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions};

use crate::builder::PromoDbBuilder;
use crate::durable::Durable;
use crate::error::{Error, Result};
use crate::functions::LatestTs;
use crate::ingest::{LoadReport, Row, RowSink, inspect_files, read_files};
use crate::query::{
    PlanCache, PromoSchema, deal_batches, new_session, run_script, script_dataframe,
};
use crate::schema::{Table, conform};
use crate::storage::{Changes, StorageConfig, TableSnapshot, TableStore, single_row_batch};
use crate::views::{BUILTIN_VIEWS, plan_view};

/// An embedded promodb database: the canonical promo tables, live appends and SQL.
///
/// Cheap to clone (a handle to shared state) and safe to use from many threads at once:
/// appends from any number of threads run concurrently with queries, a query sees each
/// append entirely or not at all, and every append that returned before it started.
#[derive(Clone)]
pub struct PromoDb {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: SessionContext,
    stores: Vec<Arc<TableStore>>,
    /// The WAL and persistence of a database opened on a directory.
    durable: Option<Arc<Durable>>,
    /// Appends per table, for evaluation after appends.
    changes: Arc<Changes>,
    /// The physical plans of queries run again and again.
    plans: PlanCache,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Wait for the persister to finish its cycle, so that the directory is closed
        // (and its lock released) when the last handle is dropped, not a moment later.
        if let Some(durable) = &self.durable {
            durable.stop_background();
        }
    }
}

impl std::fmt::Debug for PromoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromoDb")
            .field("session_id", &self.inner.ctx.session_id())
            .finish_non_exhaustive()
    }
}

impl PromoDb {
    /// An empty database in memory, with default settings.
    pub fn in_memory() -> Result<PromoDb> {
        PromoDbBuilder::default().in_memory()
    }

    /// Opens the durable database in directory `dir` with default settings (creating it if
    /// needed): every append is in the write-ahead log and fsynced before it returns, and
    /// rows are persisted to Parquet in the background. See [`crate::durable`].
    pub fn open(dir: impl AsRef<Path>) -> Result<PromoDb> {
        PromoDbBuilder::default().open(dir)
    }

    /// A builder to choose settings.
    pub fn builder() -> PromoDbBuilder {
        PromoDbBuilder::default()
    }

    pub(crate) fn from_builder(builder: PromoDbBuilder, dir: Option<&Path>) -> Result<PromoDb> {
        let changes = Arc::new(Changes::default());
        let stores: Vec<Arc<TableStore>> = Table::ALL
            .iter()
            .map(|t| {
                Arc::new(TableStore::new(
                    *t,
                    builder.storage.clone(),
                    Arc::clone(&changes),
                ))
            })
            .collect();
        let durable = dir
            .map(|dir| Durable::open(dir, builder.durable.clone(), stores.clone()))
            .transpose()?;
        let ctx = new_session(builder.target_partitions)?;
        crate::functions::register_all(&ctx);
        ctx.register_udf(ScalarUDF::from(LatestTs::new(stores.clone())));
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| Error::Internal("the default catalog is missing".to_string()))?;
        let schema = Arc::new(PromoSchema::new(stores.clone()));
        catalog
            .register_schema("public", Arc::clone(&schema) as _)
            .map_err(Error::from)?;
        // Planning resolves tables through `PromoSchema`, which never waits on I/O, so this
        // completes at once even inside an async runtime.
        for view in BUILTIN_VIEWS {
            let table = futures::executor::block_on(plan_view(&ctx, view))?;
            schema.add_builtin_view(view.name, table);
        }
        let plans = PlanCache::new(Arc::clone(&changes), stores.clone());
        let inner = Arc::new(Inner {
            ctx,
            stores,
            durable,
            changes,
            plans,
        });
        spawn_sealer(
            inner.stores.iter().map(Arc::downgrade).collect(),
            &builder.storage,
        );
        Ok(PromoDb { inner })
    }

    fn store(&self, table: &str) -> Result<&Arc<TableStore>> {
        let table: Table = table.parse()?;
        Ok(&self.inner.stores[table as usize])
    }

    /// Appends one batch to a canonical table, after converting it to the canonical schema
    /// (see [`conform`]). Returns the rows appended. On error nothing is stored.
    pub fn append(&self, table: &str, batch: RecordBatch) -> Result<usize> {
        self.append_all(table, std::slice::from_ref(&batch))
    }

    /// Appends several batches atomically: every batch is checked first, and a query sees
    /// all of them or none. Returns the rows appended. On error nothing is stored.
    pub fn append_all(&self, table: &str, batches: &[RecordBatch]) -> Result<usize> {
        let store = self.store(table)?;
        let conformed: Vec<RecordBatch> = batches
            .iter()
            .map(|b| conform(store.table(), b))
            .collect::<Result<_>>()?;
        let rows = conformed.iter().map(RecordBatch::num_rows).sum();
        self.store_conformed(store, conformed)?;
        Ok(rows)
    }

    /// Stores conformed batches: through the WAL when the database is durable.
    fn store_conformed(&self, store: &TableStore, batches: Vec<RecordBatch>) -> Result<()> {
        match &self.inner.durable {
            Some(durable) => durable.append(store, batches),
            None => store.append(batches, || Ok(())).map(|_| ()),
        }
    }

    /// Pushes one typed row ([`crate::ingest::Order`], [`crate::ingest::UserEvent`], ...).
    /// Rows are batched for you; a query that starts after this returns sees the row. In a
    /// durable database each push is its own WAL record, as durable as an append when it
    /// returns (batch appends are the faster path there).
    pub fn push<R: Row>(&self, row: R) -> Result<()> {
        let store = &self.inner.stores[R::TABLE as usize];
        let write = |columns: &mut [_]| row.write(&mut RowSink::new(columns));
        match &self.inner.durable {
            Some(durable) => durable.append(store, vec![single_row_batch(R::TABLE, write)?]),
            None => store.push_row(write),
        }
    }

    /// Pushes typed rows one after the other; returns how many.
    pub fn push_all<R: Row>(&self, rows: impl IntoIterator<Item = R>) -> Result<usize> {
        let mut count = 0;
        for row in rows {
            self.push(row)?;
            count += 1;
        }
        Ok(count)
    }

    /// Loads files into a canonical table: `location` is a `.parquet`, `.csv` (with a
    /// header) or `.jsonl` file, a directory of them (read recursively), or a glob. Every
    /// file is read and checked before anything is stored: a bad file stores nothing.
    pub fn load(&self, table: &str, location: &str) -> Result<LoadReport> {
        let store = self.store(table)?;
        let files = read_files(location, store.table())?;
        let mut conformed = Vec::new();
        for (path, batches) in &files {
            let mut first_row = 0;
            for batch in batches {
                let batch =
                    conform(store.table(), batch).map_err(|e| e.in_file(path, first_row))?;
                first_row += batch.num_rows();
                conformed.push(batch);
            }
        }
        let rows = conformed.iter().map(RecordBatch::num_rows).sum();
        self.store_conformed(store, conformed)?;
        Ok(LoadReport {
            table: store.table().name().to_string(),
            files: files.len(),
            rows,
        })
    }

    /// Attaches Parquet files to a canonical table, to be read in place by every query
    /// from now on, beside the rows in memory: `location` is a `.parquet` file, a directory
    /// of them (read recursively) or a glob. Nothing is copied into memory, so a promo
    /// larger than memory can be queried, at the price of decoding the files on each scan.
    ///
    /// Every file is checked before any is attached (a bad file attaches nothing): its
    /// canonical columns must already have the canonical types (timestamps in
    /// microseconds; integers up to `Int64` or `UInt32`; any string type; `DECIMAL(p,2)`
    /// with `p <= 18`), a NOT NULL column must hold no NULL, and money must be within
    /// `DECIMAL(18,2)`. A file that needs converting is for [`PromoDb::load`]. Only the
    /// canonical columns are read: in rows from files, the table's user columns are NULL.
    /// A file must not change while attached: a query that finds it with another size or
    /// modification time fails (see [`PromoDb::detach`]); a file attached already is
    /// refused.
    ///
    /// Only for databases in memory: a durable database persists what it holds, and
    /// attached files are not its own (it refuses them).
    pub fn attach(&self, table: &str, location: &str) -> Result<LoadReport> {
        let store = self.store(table)?;
        if let Some(durable) = &self.inner.durable {
            return Err(Error::InvalidArgument(format!(
                "cannot attach files to the durable database in {}: load them instead",
                durable.dir().display()
            )));
        }
        let files = inspect_files(location, store.table())?;
        let report = LoadReport {
            table: store.table().name().to_string(),
            files: files.len(),
            rows: files.iter().map(|f| f.num_rows()).sum(),
        };
        store.attach(files)?;
        Ok(report)
    }

    /// Detaches every Parquet file attached to a canonical table (its rows in memory
    /// stay); returns how many files were attached. For a file that changed or went
    /// away, which fails every query of the table until it is detached.
    pub fn detach(&self, table: &str) -> Result<usize> {
        Ok(self.store(table)?.detach_all())
    }

    /// Runs one or more SQL statements (separated by `;`) and returns the rows of the last.
    /// A panic inside the engine while they run is returned as [`Error::Internal`]; the
    /// database stays as it was.
    ///
    /// A query run again with the same text reuses its physical plan while nothing it
    /// was planned from changed (no append to the tables it reads, the same settings and
    /// tables, no `now()`): see "Plan cache" in docs/query-execution.md. Any other
    /// statement forgets the kept plans.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        run_script(&self.inner.ctx, &self.inner.plans, sql).await
    }

    /// Runs every statement of `sql` but the last, and returns the last as a DataFusion
    /// [`DataFrame`] to compose further.
    pub async fn dataframe(&self, sql: &str) -> Result<DataFrame> {
        script_dataframe(&self.inner.ctx, &self.inner.plans, sql).await
    }

    /// Registers Parquet files (a file, a directory or a glob) as an ad-hoc table `name`,
    /// read in place and not checked against the canonical schema.
    pub async fn register_parquet(&self, name: &str, location: &str) -> Result<()> {
        self.inner
            .ctx
            .register_parquet(name, location, ParquetReadOptions::default())
            .await?;
        Ok(())
    }

    /// Registers CSV files with a header line (a file, a directory or a glob) as an ad-hoc
    /// table `name`, read in place with inferred types.
    pub async fn register_csv(&self, name: &str, location: &str) -> Result<()> {
        self.inner
            .ctx
            .register_csv(name, location, CsvReadOptions::new())
            .await?;
        Ok(())
    }

    /// Registers in-memory batches as an ad-hoc table `name` (e.g. a plan of targets, last
    /// year's promo), queryable like any other; they are not checked against the canonical
    /// schema. Fails if `name` is a canonical table or a built-in view.
    pub fn register_batches(&self, name: &str, batches: Vec<RecordBatch>) -> Result<()> {
        let schema = batches
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| Error::InvalidArgument(format!("no batch to register as '{name}'")))?;
        let partitions = self.inner.ctx.copied_config().target_partitions();
        let table = MemTable::try_new(schema, deal_batches(batches, partitions))?;
        self.inner.ctx.register_table(name, Arc::new(table))?;
        Ok(())
    }

    /// The current snapshot of a canonical table.
    pub fn snapshot(&self, table: &str) -> Result<Arc<TableSnapshot>> {
        self.store(table)?.snapshot()
    }

    /// Rows in a canonical table now.
    pub fn row_count(&self, table: &str) -> Result<usize> {
        Ok(self.snapshot(table)?.num_rows())
    }

    /// Rows pushed into a table's open buffer and not yet sealed into a segment (they
    /// are sealed by size, by age, and whenever a query reads the table).
    pub fn pending_rows(&self, table: &str) -> Result<usize> {
        Ok(self.store(table)?.pending_rows())
    }

    /// Persists every row appended so far to Parquet now, truncates the WAL up to them and
    /// compacts small files (the background persister does this every persist interval).
    /// Does nothing for an in-memory database.
    pub fn checkpoint(&self) -> Result<()> {
        match &self.inner.durable {
            Some(durable) => durable.persist(),
            None => Ok(()),
        }
    }

    /// Appends per table since the database opened.
    pub(crate) fn changes(&self) -> &Arc<Changes> {
        &self.inner.changes
    }

    /// The directory of a durable database; `None` in memory.
    pub fn directory(&self) -> Option<&Path> {
        self.inner.durable.as_ref().map(|d| d.dir())
    }

    /// Queries whose physical plans [`PromoDb::sql`] keeps to run again.
    pub fn cached_plans(&self) -> usize {
        self.inner.plans.len()
    }

    /// Queries [`PromoDb::sql`] ran from a kept plan since the database opened.
    pub fn cached_plan_runs(&self) -> u64 {
        self.inner.plans.reruns()
    }

    /// Forgets the plans [`PromoDb::sql`] keeps. Only needed after changing the session
    /// directly (a function registered again under the same name): statements run
    /// through [`PromoDb::sql`] and changes to tables and settings are seen without it.
    pub fn clear_cached_plans(&self) {
        self.inner.plans.clear();
    }

    /// The DataFusion session behind [`PromoDb::sql`], to register functions or tables of
    /// your own.
    pub fn session(&self) -> &SessionContext {
        &self.inner.ctx
    }
}

/// Seals open buffers that are older than the seal interval, until the database is dropped.
/// It holds the tables weakly and nothing else, so that dropping the database releases
/// it (and its directory lock) at once, on the dropping thread.
fn spawn_sealer(stores: Vec<Weak<TableStore>>, config: &StorageConfig) {
    let tick = (config.seal_interval / 2).max(std::time::Duration::from_millis(1));
    let spawned = thread::Builder::new()
        .name("promodb-sealer".to_string())
        .spawn(move || {
            loop {
                thread::sleep(tick);
                for store in &stores {
                    let Some(store) = store.upgrade() else { return };
                    // An error here means a broken invariant; the next query reports it.
                    let _ = store.seal_if_stale();
                }
            }
        });
    // Without the thread, pushed rows are still sealed by size and by every query.
    drop(spawned);
}
