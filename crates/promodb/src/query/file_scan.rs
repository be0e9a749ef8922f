//! The scan of a table's attached Parquet files, read in place.

use std::sync::Arc;
use std::time::SystemTime;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;

use super::file_keys::FileToScan;
use super::provider::deal_least_loaded;
use crate::error::Error;
use crate::schema::Table;
use crate::storage::AttachedFile;

/// Plans the read of `files` as rows of `schema`, the schema of `table`, whose first
/// columns are the canonical ones: those are read from the files by name (one a file lacks reads
/// as NULL), and the user columns after them are NULL in rows from files, which were
/// checked for the canonical columns only. The files are spread over the session's
/// partitions by size, and the scan states their row count and `ts` range, exact unless
/// row groups are skipped (so that `count(*)` and `max(ts)` are answered without reading
/// them). Filters are not applied
/// here: the engine pushes them into the Parquet reader, which skips row groups and pages
/// by their statistics. With `key_lookup` (the filters pin a key column to a few values)
/// the reader also evaluates them row by row before decoding the other columns: a lookup
/// keeps few rows, so most of the decoding is saved (a user's timeline over the files of
/// a 10M-event promo went from 258-272 to 152-157 ms), while for a filter that keeps most
/// rows the second pass costs more than it saves (stock turn: 80 to 122 ms), so it stays
/// off there. A file may come with the row groups to read (`files_to_scan`); the others
/// are skipped. Fails if a file changed since it was attached.
pub(super) async fn parquet_scan(
    state: &dyn Session,
    schema: &SchemaRef,
    table: Table,
    files: &[FileToScan<'_>],
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
    key_lookup: bool,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let canonical = table.def().columns.len();
    let time_column = table.def().time_column();
    let wanted: Vec<usize> = match projection {
        Some(indices) => indices.clone(),
        None => (0..schema.fields().len()).collect(),
    };
    let mut read: Vec<usize> = wanted.iter().copied().filter(|&i| i < canonical).collect();
    read.dedup();
    let file_schema = Arc::new(Schema::new(schema.fields()[..canonical].to_vec()));
    let mut options = state.default_table_options().parquet;
    if key_lookup {
        options.global.pushdown_filters = true;
        options.global.reorder_filters = true;
    }
    let format = ParquetFormat::default().with_options(options);
    let source = format.file_source(TableSchema::from(&file_schema));
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
        .with_file_groups(file_groups(files, state.config().target_partitions())?)
        .with_statistics(statistics(&file_schema, time_column, files))
        .with_projection_indices(Some(read.clone()))?
        .with_limit(limit)
        .build();
    let scan = format.create_physical_plan(state, config).await?;
    if read == wanted {
        return Ok(scan);
    }
    // Put the columns in the order asked for, with NULL for each user column.
    let columns = wanted
        .iter()
        .map(|&index| {
            let field = schema.field(index);
            let expr: Arc<dyn PhysicalExpr> = match read.iter().position(|&r| r == index) {
                Some(position) => Arc::new(Column::new(field.name(), position)),
                None => Arc::new(Literal::new(ScalarValue::try_from(field.data_type())?)),
            };
            Ok((expr, field.name().clone()))
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Arc::new(ProjectionExec::try_new(columns, scan)?))
}

/// The row count of `files`, and the range of the `ts` column at index `time_column`
/// when every file's statistics state it: exact when every row group is read, upper
/// bounds when some are skipped.
fn statistics(schema: &Schema, time_column: Option<usize>, files: &[FileToScan<'_>]) -> Statistics {
    let whole = files.iter().all(|(_, row_groups)| row_groups.is_none());
    let rows = files.iter().map(|(f, _)| f.num_rows()).sum();
    let rows = match whole {
        true => Precision::Exact(rows),
        false => Precision::Inexact(rows),
    };
    let mut statistics = Statistics::new_unknown(schema).with_num_rows(rows);
    let ranges: Option<Vec<(i64, i64)>> = files.iter().map(|(f, _)| f.time_range()).collect();
    if let (Some(index), Some(ranges)) = (time_column, ranges) {
        let zone = match schema.field(index).data_type() {
            DataType::Timestamp(_, zone) => zone.clone(),
            _ => None,
        };
        let min = ranges.iter().map(|r| r.0).min();
        let max = ranges.iter().map(|r| r.1).max();
        if let (Some(min), Some(max)) = (min, max) {
            let ts = |v: i64| {
                let value = ScalarValue::TimestampMicrosecond(Some(v), zone.clone());
                match whole {
                    true => Precision::Exact(value),
                    false => Precision::Inexact(value),
                }
            };
            statistics.column_statistics[index] = ColumnStatistics::new_unknown()
                .with_null_count(Precision::Exact(0))
                .with_min_value(ts(min))
                .with_max_value(ts(max));
        }
    }
    statistics
}

/// The files in at most `partitions` groups of about equal bytes, biggest files first (the
/// engine may split them further by byte ranges when they are big enough).
fn file_groups(files: &[FileToScan<'_>], partitions: usize) -> DfResult<Vec<FileGroup>> {
    let mut by_size: Vec<&FileToScan<'_>> = files.iter().collect();
    by_size.sort_by_key(|(f, _)| std::cmp::Reverse(f.size()));
    deal_least_loaded(&by_size, |(f, _)| f.size(), partitions)
        .into_iter()
        .map(|group| {
            let group = group
                .iter()
                .map(|(file, row_groups)| {
                    let scan = partitioned_file(file)?;
                    Ok(match row_groups {
                        Some(plan) => scan.with_extension(plan.clone()),
                        None => scan,
                    })
                })
                .collect::<DfResult<_>>()?;
            Ok(FileGroup::new(group))
        })
        .collect()
}

/// The file as the reader opens it, after checking that it is still the file that was
/// attached.
fn partitioned_file(file: &AttachedFile) -> DfResult<PartitionedFile> {
    let external = |e: Error| DataFusionError::External(Box::new(e));
    let modified = unchanged(file).map_err(external)?;
    let location = ObjectPath::from_absolute_path(file.path())
        .map_err(|e| external(Error::file(file.path(), e)))?;
    Ok(PartitionedFile::new_from_meta(ObjectMeta {
        location,
        last_modified: modified.into(),
        size: file.size(),
        e_tag: None,
        version: None,
    }))
}

/// Its modification time if `file` has the size and modification time it had when
/// attached (a rewrite that keeps both is not seen); an error naming it otherwise.
pub(super) fn unchanged(file: &AttachedFile) -> Result<SystemTime, Error> {
    let stat = std::fs::metadata(file.path()).map_err(|e| Error::io(file.path(), e))?;
    let modified = stat.modified().map_err(|e| Error::io(file.path(), e))?;
    if stat.len() != file.size() || modified != file.modified() {
        return Err(Error::file(
            file.path(),
            "the file changed since it was attached; detach the table's files and attach \
             them again",
        ));
    }
    Ok(modified)
}
