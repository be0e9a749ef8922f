//! Reading Parquet, CSV and JSON-lines files (one file, a directory or a glob) into batches.
//!
//! CSV is read with every column as text, so that conform parses timestamps and money
//! exactly (no float detour for `12.30`); JSON lines are read with their inferred types.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::json;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::schema::Table;

/// A file format promodb loads, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileFormat {
    /// `.parquet`
    Parquet,
    /// `.csv`, with a header line.
    Csv,
    /// `.jsonl`, `.ndjson` or `.json`: one JSON object per line.
    JsonLines,
}

impl FileFormat {
    /// The format of `path`, by extension.
    pub fn of(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(FileFormat::JsonLines),
            _ => None,
        }
    }
}

/// What a load stored, or an attach added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The canonical table loaded into or attached to.
    pub table: String,
    /// Files read (or attached).
    pub files: usize,
    /// Rows stored (or in the attached files).
    pub rows: usize,
}

const BATCH_ROWS: usize = 8192;

/// Reads every file that `location` names: a file, a directory (recursively, files with
/// a known extension) or a glob pattern. Fails on the first unreadable file.
pub(crate) fn read_files(location: &str, table: Table) -> Result<Vec<(PathBuf, Vec<RecordBatch>)>> {
    resolve(location)?
        .into_iter()
        .map(|path| {
            let batches = read_file(&path, table)?;
            Ok((path, batches))
        })
        .collect()
}

/// The files `location` names: itself, the files of a directory (recursively, those with
/// a known extension) or the matches of a glob, sorted.
pub(super) fn resolve(location: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(location);
    if location.contains(['*', '?', '[']) && !path.exists() {
        let pattern = glob::glob(location)
            .map_err(|e| Error::InvalidArgument(format!("bad glob pattern '{location}': {e}")))?;
        let mut files = Vec::new();
        for entry in pattern {
            let entry = entry.map_err(|e| Error::io(e.path().to_path_buf(), e.into()))?;
            if entry.is_file() {
                files.push(entry);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(Error::file(path, "no file matches the pattern"));
        }
        return Ok(files);
    }
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if metadata.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect_dir(path, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(Error::file(
            path,
            "the directory holds no .parquet, .csv or .jsonl file",
        ));
    }
    Ok(files)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n.starts_with('_'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_dir(&path, files)?;
        } else if FileFormat::of(&path).is_some() {
            files.push(path);
        }
    }
    Ok(())
}

fn read_file(path: &Path, table: Table) -> Result<Vec<RecordBatch>> {
    let format = FileFormat::of(path).ok_or_else(|| {
        Error::file(
            path,
            "unknown format: expected .parquet, .csv, .jsonl or .ndjson",
        )
    })?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    match format {
        FileFormat::Parquet => read_parquet(path, file),
        FileFormat::Csv => read_csv(path, file),
        FileFormat::JsonLines => read_json_lines(path, file, table),
    }
}

fn read_parquet(path: &Path, file: File) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::file(path, e))?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| Error::file(path, e))?;
    reader
        .map(|batch| batch.map_err(|e| Error::file(path, e)))
        .collect()
}

fn read_csv(path: &Path, mut file: File) -> Result<Vec<RecordBatch>> {
    let format = csv::reader::Format::default().with_header(true);
    let (inferred, _) = format
        .infer_schema(BufReader::new(&file), Some(1))
        .map_err(|e| Error::file(path, e))?;
    let text_schema = Schema::new(
        inferred
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    file.rewind().map_err(|e| Error::io(path, e))?;
    let reader = csv::ReaderBuilder::new(Arc::new(text_schema))
        .with_format(format)
        .with_batch_size(BATCH_ROWS)
        .build(BufReader::new(file))
        .map_err(|e| Error::file(path, e))?;
    reader
        .map(|batch| batch.map_err(|e| Error::file(path, e)))
        .collect()
}

/// Canonical columns are read as text (numbers coerced to their JSON text), so that a
/// column holding `249.9` on one line and `"398.00"` on the next still loads, and money is
/// parsed exactly; user columns keep their inferred types.
fn read_json_lines(path: &Path, file: File, table: Table) -> Result<Vec<RecordBatch>> {
    let mut buffered = BufReader::new(file);
    let (inferred, _) = json::reader::infer_json_schema_from_seekable(&mut buffered, None)
        .map_err(|e| Error::file(path, e))?;
    let canonical = table.def().columns;
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| {
            let is_canonical = canonical.iter().any(|c| c.name == f.name());
            let scalar = !f.data_type().is_nested();
            if (is_canonical && scalar) || f.data_type() == &DataType::Utf8 {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let reader = json::ReaderBuilder::new(Arc::new(Schema::new(fields)))
        .with_coerce_primitive(true)
        .with_batch_size(BATCH_ROWS)
        .build(buffered)
        .map_err(|e| Error::file(path, e))?;
    reader
        .map(|batch| batch.map_err(|e| Error::file(path, e)))
        .collect()
}
