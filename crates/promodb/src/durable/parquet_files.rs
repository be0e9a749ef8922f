//! Persisted rows as Parquet files, Hive-partitioned by the hour of `ts`:
//! `TABLE/date=YYYY-MM-DD/hour=HH/NNNNNNNNNN.parquet` (tables without `ts`:
//! `TABLE/NNNNNNNNNN.parquet`), each with the table's Arrow schema, readable by any
//! Parquet reader.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::disk::Disk;
use super::manifest::DataFile;
use crate::error::{Error, Result};
use crate::schema::Table;
use crate::storage::TableSnapshot;

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The rows of `snapshot` from row `from` on (rows before it are persisted already).
pub(crate) fn rows_after(snapshot: &TableSnapshot, from: usize) -> Vec<RecordBatch> {
    let mut skip = from;
    let mut batches = Vec::new();
    for segment in snapshot.segments() {
        let rows = segment.num_rows();
        if skip >= rows {
            skip -= rows;
            continue;
        }
        batches.push(segment.batch().slice(skip, rows - skip));
        skip = 0;
    }
    batches
}

/// Splits batches by the hour of their `ts` column (one key for tables without time).
fn by_partition(
    table: Table,
    batches: &[RecordBatch],
) -> Result<BTreeMap<Option<i64>, Vec<RecordBatch>>> {
    let mut partitions: BTreeMap<Option<i64>, Vec<RecordBatch>> = BTreeMap::new();
    let Some(time_column) = table.def().time_column() else {
        partitions.insert(None, batches.to_vec());
        return Ok(partitions);
    };
    for batch in batches {
        let ts = batch
            .column(time_column)
            .as_primitive::<TimestampMicrosecondType>();
        let mut rows_by_hour: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (row, value) in ts.values().iter().enumerate() {
            let row =
                u32::try_from(row).map_err(|_| Error::Internal("batch over 4G rows".into()))?;
            rows_by_hour
                .entry(value.div_euclid(MICROS_PER_HOUR))
                .or_default()
                .push(row);
        }
        if rows_by_hour.len() == 1 {
            let hour = *rows_by_hour.keys().next().expect("one hour");
            partitions
                .entry(Some(hour))
                .or_default()
                .push(batch.clone());
            continue;
        }
        for (hour, rows) in rows_by_hour {
            let part = take_record_batch(batch, &UInt32Array::from(rows))?;
            partitions.entry(Some(hour)).or_default().push(part);
        }
    }
    Ok(partitions)
}

fn partition_dir(table: Table, hour: Option<i64>) -> String {
    match hour.and_then(|h| chrono::DateTime::from_timestamp(h * 3600, 0)) {
        Some(start) => format!(
            "{table}/date={}/hour={}",
            start.format("%Y-%m-%d"),
            start.format("%H")
        ),
        None => table.to_string(),
    }
}

/// The partition directory of a file path (what compaction groups by).
pub(crate) fn partition_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Writes `batches` of `table` as one Parquet file per hour under `dir`, durably; numbers
/// the files from `next_file`, which it advances.
pub(crate) fn write_partitioned(
    dir: &Path,
    disk: &Disk,
    table: Table,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    next_file: &mut u64,
) -> Result<Vec<DataFile>> {
    let mut files = Vec::new();
    for (hour, part) in by_partition(table, batches)? {
        let rows: usize = part.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            continue;
        }
        *next_file += 1;
        let path = format!("{}/{:010}.parquet", partition_dir(table, hour), next_file);
        write_file(dir, disk, &path, schema, &part)?;
        files.push(DataFile { table, rows, path });
    }
    Ok(files)
}

/// Writes one Parquet file at `path` (relative to `dir`), durably.
pub(crate) fn write_file(
    dir: &Path,
    disk: &Disk,
    path: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    let full = dir.join(path);
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("level 1 is valid"),
        ))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, Arc::clone(schema), Some(properties))
        .map_err(|e| Error::file(&full, e))?;
    for batch in batches {
        writer.write(batch).map_err(|e| Error::file(&full, e))?;
    }
    writer.close().map_err(|e| Error::file(&full, e))?;
    disk.write_atomically(&full, &bytes)
}

/// Reads a persisted file back; anything unreadable is corruption of that file.
pub(crate) fn read_file(dir: &Path, file: &DataFile) -> Result<Vec<RecordBatch>> {
    let full = dir.join(&file.path);
    let handle = std::fs::File::open(&full).map_err(|e| Error::io(&full, e))?;
    let corrupt = |e: &dyn std::fmt::Display| {
        Error::corrupt(&full, 0, &format!("unreadable Parquet file: {e}"))
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(handle)
        .map_err(|e| corrupt(&e))?
        .build()
        .map_err(|e| corrupt(&e))?;
    let batches: Vec<RecordBatch> = reader
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| corrupt(&e))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows != file.rows {
        return Err(Error::corrupt(
            &full,
            0,
            &format!("holds {rows} rows, the manifest says {}", file.rows),
        ));
    }
    Ok(batches)
}
