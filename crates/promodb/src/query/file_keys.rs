//! Key lookups over attached Parquet files: like a segment, a file keeps a key filter per
//! row group for each BIGINT column a lookup asked for (built on first use by reading
//! that column), and a lookup reads only the row groups whose filters may hold its keys.
//! User ids spread over every row group of a promo's events, so the files' own min/max
//! statistics can skip none of them.

use std::fs::File;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema};
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

use super::file_scan::unchanged;
use super::key_lookup::KeyLookup;
use crate::storage::{AttachedFile, KeyFilter};

/// An attached file to scan, and the row groups to read in it (`None`: all).
pub(super) type FileToScan<'a> = (&'a Arc<AttachedFile>, Option<ParquetAccessPlan>);

/// The files that may hold rows passing `lookups` (on `schema`, whose first `canonical`
/// columns are the files' columns), each with the row groups to read. A file none of
/// whose row groups may hold the keys is left out. A lookup on a user column drops every
/// file: rows from files have NULL there, which equals no key.
pub(super) fn files_to_scan<'a>(
    files: &[&'a Arc<AttachedFile>],
    schema: &Schema,
    canonical: usize,
    lookups: &[KeyLookup],
) -> Vec<FileToScan<'a>> {
    if lookups.is_empty() {
        return files.iter().map(|&file| (file, None)).collect();
    }
    if lookups.iter().any(|lookup| lookup.column >= canonical) {
        return Vec::new();
    }
    files
        .iter()
        .filter_map(|&file| {
            if unchanged(file).is_err() {
                return Some((file, None)); // the scan reports it
            }
            let mut wanted: Option<Vec<bool>> = None;
            for lookup in lookups {
                let name = schema.field(lookup.column).name();
                let Some(filters) =
                    file.row_group_key_filters(lookup.column, || row_group_key_filters(file, name))
                else {
                    continue; // unreadable now: the scan reports it, or reads it all
                };
                let may_hold = filters
                    .iter()
                    .map(|f| lookup.keys.iter().any(|&key| f.may_contain(key)));
                wanted = Some(match wanted {
                    None => may_hold.collect(),
                    Some(so_far) => so_far.iter().zip(may_hold).map(|(a, b)| *a && b).collect(),
                });
            }
            match wanted {
                None => Some((file, None)),
                Some(groups) if !groups.contains(&true) => None,
                Some(groups) => {
                    let mut plan = ParquetAccessPlan::new_none(groups.len());
                    for (index, _) in groups.iter().enumerate().filter(|(_, read)| **read) {
                        plan.scan(index);
                    }
                    Some((file, Some(plan)))
                }
            }
        })
        .collect()
}

/// One key filter per row group of `file` over its column `name` (any integer type, read
/// as BIGINT; a column the file lacks is all NULL and holds no key). `None` if the file
/// cannot be read.
fn row_group_key_filters(file: &AttachedFile, name: &str) -> Option<Vec<KeyFilter>> {
    let reader = File::open(file.path()).ok()?;
    let metadata = ArrowReaderMetadata::load(&reader, ArrowReaderOptions::default()).ok()?;
    let groups = metadata.metadata().num_row_groups();
    if metadata.schema().index_of(name).is_err() {
        let nothing = KeyFilter::of(&Int64Array::from(Vec::<i64>::new()));
        return Some(vec![nothing; groups]);
    }
    (0..groups)
        .map(|group| {
            let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
                reader.try_clone().ok()?,
                metadata.clone(),
            );
            let mask = ProjectionMask::columns(builder.parquet_schema(), [name]);
            let batches = builder
                .with_projection(mask)
                .with_row_groups(vec![group])
                .with_batch_size(1 << 16)
                .build()
                .ok()?;
            let mut arrays: Vec<ArrayRef> = Vec::new();
            for batch in batches {
                arrays.push(cast(batch.ok()?.column(0), &DataType::Int64).ok()?);
            }
            let parts: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            let values = match parts.is_empty() {
                true => Arc::new(Int64Array::from(Vec::<i64>::new())) as ArrayRef,
                false => concat(&parts).ok()?,
            };
            Some(KeyFilter::of(values.as_primitive::<Int64Type>()))
        })
        .collect()
}
