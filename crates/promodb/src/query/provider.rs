//! The `TableProvider` of a canonical table: scans one snapshot, skipping the segments
//! and attached files that the query's `ts` filters rule out, and the segments and
//! files' row groups that its key lookups rule out.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;

use super::file_keys::files_to_scan;
use super::file_scan::parquet_scan;
use super::key_lookup::KeyLookup;
use super::segment_source::SegmentSource;
use super::time_range::TimeRange;
use crate::storage::{Segment, TableStore};

/// A canonical table as DataFusion sees it.
///
/// Each scan takes the table's current snapshot (so a query sees every append that
/// returned before it and none half), keeps only the segments whose `[min ts, max ts]`
/// meets the range the filters allow and whose key filters may hold the keys a filter
/// pins a BIGINT column to (`user_id = 476`, `order_id IN (...)`), and spreads them over
/// the session's partitions. Attached Parquet files whose `ts` statistics meet the range
/// are read in place beside them (the union of both when the table has both).
/// Filters are reported `Inexact`: DataFusion still applies them row by row, and pushes
/// them into the Parquet reader.
pub struct PromoTable {
    store: Arc<TableStore>,
    schema: SchemaRef,
}

impl fmt::Debug for PromoTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromoTable")
            .field("table", &self.store.table())
            .finish_non_exhaustive()
    }
}

impl PromoTable {
    /// A provider with the given schema: the table's schema when it was registered. The
    /// schema only ever grows at the end (user columns), so later snapshots are cut to it.
    pub(crate) fn new(store: Arc<TableStore>, schema: SchemaRef) -> Self {
        PromoTable { store, schema }
    }

    /// The canonical table it scans.
    pub fn table(&self) -> crate::schema::Table {
        self.store.table()
    }
}

#[async_trait]
impl TableProvider for PromoTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snapshot = self
            .store
            .snapshot()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let def = self.store.table().def();
        let range = match def.time_column() {
            Some(index) => TimeRange::from_filters(def.columns[index].name, filters),
            None => TimeRange::ALL,
        };
        let in_range: Vec<&Arc<Segment>> = snapshot
            .segments()
            .iter()
            .filter(|s| !range.is_empty() && s.overlaps(range.lo, range.hi))
            .collect();
        let files: Vec<_> = snapshot
            .files()
            .iter()
            .filter(|f| !range.is_empty() && f.overlaps(range.lo, range.hi))
            .collect();
        let lookups = KeyLookup::from_filters(&self.schema, filters);
        build_missing_key_filters(&in_range, &lookups, state.config().target_partitions());
        let kept: Vec<&Arc<Segment>> = in_range
            .into_iter()
            .filter(|s| {
                lookups
                    .iter()
                    .all(|lookup| s.may_contain_any(lookup.column, &lookup.keys))
            })
            .collect();
        // A limit may only cut the scan when no filter still has to drop rows after it.
        let limit = if filters.is_empty() { limit } else { None };

        let canonical = def.columns.len();
        let files = files_to_scan(&files, &self.schema, canonical, &lookups);

        let mut inputs = Vec::with_capacity(2);
        if !kept.is_empty() || files.is_empty() {
            inputs.push(self.memory_scan(
                &kept,
                state.config().target_partitions(),
                projection,
                limit,
            )?);
        }
        if !files.is_empty() {
            let key_lookup = !lookups.is_empty();
            let table = self.store.table();
            let scan = parquet_scan(
                state,
                &self.schema,
                table,
                &files,
                projection,
                limit,
                key_lookup,
            );
            inputs.push(scan.await?);
        }
        UnionExec::try_new(inputs)
    }
}

impl PromoTable {
    /// The scan of `segments`, spread over at most `partitions` partitions of about equal
    /// rows.
    fn memory_scan(
        &self,
        segments: &[&Arc<Segment>],
        partitions: usize,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let groups = deal_least_loaded(segments, |s| s.num_rows() as u64, partitions)
            .into_iter()
            .map(|group| group.into_iter().map(Arc::clone).collect())
            .collect();
        let source =
            SegmentSource::try_new(groups, Arc::clone(&self.schema), projection.cloned(), limit)?;
        Ok(DataSourceExec::from_data_source(source))
    }
}

/// Deals `items` into at most `bins` bins (at least one), each to the least-loaded bin so
/// far by `weight`, so that partitions finish together.
pub(super) fn deal_least_loaded<T: Copy>(
    items: &[T],
    weight: impl Fn(&T) -> u64,
    bins: usize,
) -> Vec<Vec<T>> {
    let count = bins.max(1).min(items.len().max(1));
    let mut dealt: Vec<Vec<T>> = vec![Vec::new(); count];
    let mut loads = vec![0u64; count];
    for item in items {
        let (target, _) = loads
            .iter()
            .enumerate()
            .min_by_key(|(_, load)| **load)
            .expect("at least one bin");
        loads[target] += weight(item);
        dealt[target].push(*item);
    }
    dealt
}

/// Rows above which the key filters a lookup still needs are built on several threads.
const PARALLEL_FILTER_ROWS: usize = 1 << 18;

/// Builds the key filters that `lookups` need and `segments` lack yet, on up to `threads`
/// threads when there are many rows to hash (the first lookup of a column over 10M rows).
fn build_missing_key_filters(segments: &[&Arc<Segment>], lookups: &[KeyLookup], threads: usize) {
    let missing: Vec<(&Segment, usize)> = lookups
        .iter()
        .flat_map(|lookup| {
            segments
                .iter()
                .filter(|s| s.lacks_key_filter(lookup.column))
                .map(|s| (s.as_ref(), lookup.column))
        })
        .collect();
    let rows: usize = missing.iter().map(|(s, _)| s.num_rows()).sum();
    if threads < 2 || rows < PARALLEL_FILTER_ROWS {
        return; // built one by one on first use
    }
    let per_thread = missing.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for chunk in missing.chunks(per_thread) {
            scope.spawn(move || {
                for (segment, column) in chunk {
                    segment.key_filter(*column);
                }
            });
        }
    });
}
