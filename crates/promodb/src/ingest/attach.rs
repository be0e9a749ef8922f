//! Attaching Parquet files to a canonical table, to be read in place.
//!
//! Reading in place converts nothing exactly the way [`crate::schema::conform`] does, so a
//! file is attached only if its canonical columns already hold the canonical values:
//! timestamps in microseconds (any zone, or none, read as UTC), integers that fit a
//! BIGINT, any flavour of string, `DECIMAL(p,2)` with `p <= 18` and values within
//! `DECIMAL(18,2)`, and no NULL in a NOT NULL column. Each file is checked once, when
//! attached, from its footer where it can be: a column declared `required` cannot hold
//! NULL, row-group statistics that count zero NULLs, or bound money within range, prove
//! the rest; a column they do not prove is read, to find the first bad row. Missing
//! nullable columns read as NULL; columns that are not canonical are not read.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::file::metadata::ParquetMetaData;

use super::files::{FileFormat, resolve};
use crate::error::{Error, Result};
use crate::schema::{ColumnDef, ColumnType, MAX_CENTS, Table};
use crate::storage::AttachedFile;

/// Checks every Parquet file that `location` names (a file, a directory read recursively,
/// or a glob) against `table`. Fails on the first file that cannot be attached.
pub(crate) fn inspect_files(location: &str, table: Table) -> Result<Vec<AttachedFile>> {
    resolve(location)?
        .iter()
        .map(|path| inspect(path, table))
        .collect()
}

fn inspect(path: &Path, table: Table) -> Result<AttachedFile> {
    if FileFormat::of(path) != Some(FileFormat::Parquet) {
        return Err(Error::file(
            path,
            "only Parquet files can be attached; load CSV and JSON lines instead",
        ));
    }
    let path = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let stat = file.metadata().map_err(|e| Error::io(&path, e))?;
    let modified = stat.modified().map_err(|e| Error::io(&path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::file(&path, format!("not a readable Parquet file: {e}")))?;
    let schema = Arc::clone(reader.schema());
    let metadata = Arc::clone(reader.metadata());
    let in_file = |error: Error| error.in_file(&path, 0);

    for column in table.def().columns {
        let Ok(index) = schema.index_of(column.name) else {
            if column.nullable {
                continue; // read as NULL
            }
            return Err(in_file(Error::MissingColumn {
                table: table.name().to_string(),
                column: column.name.to_string(),
            }));
        };
        let found = schema.field(index).data_type();
        if !readable_in_place(found, column.column_type) {
            return Err(in_file(Error::TypeMismatch {
                table: table.name().to_string(),
                column: column.name.to_string(),
                found: format!(
                    "{found} (attached files are read in place, not converted; load it)"
                ),
                expected: column.column_type.arrow_type().to_string(),
            }));
        }
        check_values(&path, table, column, &schema, &metadata).map_err(in_file)?;
    }

    let rows = usize::try_from(metadata.file_metadata().num_rows())
        .map_err(|_| Error::file(&path, "negative row count in the footer"))?;
    let row_groups = metadata.num_row_groups();
    let time_range = match table.def().time_column() {
        Some(index) => {
            let name = table.def().columns[index].name;
            match time_range(name, &schema, &metadata) {
                Some(range) => Some(range),
                // Statistics that do not prove it: the column is read once, so that
                // every file with rows has its range (for pruning and `latest_ts`).
                None => read_time_range(&path, name)?,
            }
        }
        None => None,
    };
    let columns = table.def().columns.len();
    Ok(AttachedFile::new(
        path,
        stat.len(),
        modified,
        (rows, row_groups),
        time_range,
        columns,
    ))
}

/// Whether a file column of type `found` reads as `expected` without a lossy or
/// value-dependent conversion.
fn readable_in_place(found: &DataType, expected: ColumnType) -> bool {
    let is_string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    match expected {
        ColumnType::Timestamp => matches!(found, DataType::Timestamp(TimeUnit::Microsecond, _)),
        ColumnType::BigInt => matches!(
            found,
            DataType::Int64
                | DataType::Int32
                | DataType::Int16
                | DataType::Int8
                | DataType::UInt32
                | DataType::UInt16
                | DataType::UInt8
        ),
        ColumnType::Text => match found {
            DataType::Dictionary(_, values) => is_string(values),
            other => is_string(other),
        },
        ColumnType::Money => matches!(found, DataType::Decimal128(p, 2) if *p <= 18),
    }
}

/// Checks the values of `column` that its type alone does not guarantee: no NULL in a
/// NOT NULL column, money within `DECIMAL(18,2)`. Proved from the footer when it can be;
/// otherwise the column is read, and the first bad row named.
fn check_values(
    path: &Path,
    table: Table,
    column: &ColumnDef,
    schema: &Schema,
    metadata: &ParquetMetaData,
) -> Result<()> {
    let check_nulls = !column.nullable && !proved_no_nulls(column.name, schema, metadata);
    let check_range = column.column_type == ColumnType::Money
        && !proved_money_in_range(column.name, schema, metadata);
    if !check_nulls && !check_range {
        return Ok(());
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| {
            let mask = ProjectionMask::columns(builder.parquet_schema(), [column.name]);
            builder.with_projection(mask).build()
        })
        .map_err(|e| Error::file(path, e))?;
    let mut first_row = 0;
    for batch in reader {
        let batch = batch.map_err(|e| Error::file(path, e))?;
        let values = batch.column(0);
        if check_nulls && let Some(row) = (0..values.len()).find(|&row| values.is_null(row)) {
            return Err(Error::NullValue {
                table: table.name().to_string(),
                column: column.name.to_string(),
                row: first_row + row,
            });
        }
        if check_range && let Some(money) = values.as_primitive_opt::<Decimal128Type>() {
            let beyond = money
                .iter()
                .enumerate()
                .find_map(|(row, v)| v.filter(|v| v.abs() > MAX_CENTS).map(|v| (row, v)));
            if let Some((row, cents)) = beyond {
                return Err(Error::InvalidValue {
                    table: table.name().to_string(),
                    column: column.name.to_string(),
                    row: first_row + row,
                    reason: format!(
                        "{}{}.{:02} is beyond DECIMAL(18,2)",
                        if cents < 0 { "-" } else { "" },
                        cents.unsigned_abs() / 100,
                        cents.unsigned_abs() % 100
                    ),
                });
            }
        }
        first_row += batch.num_rows();
    }
    Ok(())
}

/// Whether the footer proves column `name` NULL-free: declared `required`, or counted zero
/// NULLs in every row group (a missing count proves nothing).
fn proved_no_nulls(name: &str, schema: &Schema, metadata: &ParquetMetaData) -> bool {
    let parquet_schema = metadata.file_metadata().schema_descr();
    let required = parquet_schema
        .columns()
        .iter()
        .find(|leaf| leaf.path().parts() == [name])
        .is_some_and(|leaf| leaf.max_def_level() == 0);
    required
        || StatisticsConverter::try_new(name, schema, parquet_schema)
            .map(|s| s.with_missing_null_counts_as_zero(false))
            .and_then(|s| s.row_group_null_counts(metadata.row_groups()))
            .is_ok_and(|counts| counts.null_count() == 0 && counts.values().iter().all(|&n| n == 0))
}

/// Whether every row group states a min and max of money column `name` within
/// `DECIMAL(18,2)`.
fn proved_money_in_range(name: &str, schema: &Schema, metadata: &ParquetMetaData) -> bool {
    let Ok(converter) =
        StatisticsConverter::try_new(name, schema, metadata.file_metadata().schema_descr())
    else {
        return false;
    };
    let within = |bounds: Option<ArrayRef>| {
        bounds.is_some_and(|array| {
            array.null_count() == 0
                && array
                    .as_primitive_opt::<Decimal128Type>()
                    .is_some_and(|a| a.values().iter().all(|v| v.abs() <= MAX_CENTS))
        })
    };
    within(converter.row_group_mins(metadata.row_groups()).ok())
        && within(converter.row_group_maxes(metadata.row_groups()).ok())
}

/// The `[min, max]` of microsecond column `name`, read from the file (`None` without rows).
fn read_time_range(path: &Path, name: &str) -> Result<Option<(i64, i64)>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| {
            let mask = ProjectionMask::columns(builder.parquet_schema(), [name]);
            builder.with_projection(mask).build()
        })
        .map_err(|e| Error::file(path, e))?;
    let mut range: Option<(i64, i64)> = None;
    for batch in reader {
        let batch = batch.map_err(|e| Error::file(path, e))?;
        let Some(ts) = batch
            .column(0)
            .as_primitive_opt::<TimestampMicrosecondType>()
        else {
            return Err(Error::file(
                path,
                format!("{name} is not a microsecond timestamp"),
            ));
        };
        let bounds = datafusion::arrow::compute::min(ts).zip(datafusion::arrow::compute::max(ts));
        range = match (range, bounds) {
            (Some((lo, hi)), Some((min, max))) => Some((lo.min(min), hi.max(max))),
            (range, bounds) => range.or(bounds),
        };
    }
    Ok(range)
}

/// The `[min, max]` of microsecond column `name` from the row-group statistics, when every
/// row group states both exactly.
fn time_range(name: &str, schema: &Schema, metadata: &ParquetMetaData) -> Option<(i64, i64)> {
    let converter =
        StatisticsConverter::try_new(name, schema, metadata.file_metadata().schema_descr()).ok()?;
    let mins = converter.row_group_mins(metadata.row_groups()).ok()?;
    let maxes = converter.row_group_maxes(metadata.row_groups()).ok()?;
    let exact = |flags: datafusion::parquet::errors::Result<BooleanArray>| {
        flags.is_ok_and(|f| f.null_count() == 0 && f.true_count() == f.len())
    };
    let exact_bounds = mins.null_count() == 0
        && maxes.null_count() == 0
        && exact(converter.row_group_is_min_value_exact(metadata.row_groups()))
        && exact(converter.row_group_is_max_value_exact(metadata.row_groups()));
    let mins = mins.as_primitive_opt::<TimestampMicrosecondType>()?;
    let maxes = maxes.as_primitive_opt::<TimestampMicrosecondType>()?;
    if !exact_bounds || mins.is_empty() {
        return None;
    }
    let min = mins.values().iter().copied().min()?;
    let max = maxes.values().iter().copied().max()?;
    Some((min, max))
}
