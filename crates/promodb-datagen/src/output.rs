//! Writing a promo to a directory of Parquet or CSV files.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use promodb::arrow::array::RecordBatch;
use promodb::arrow::csv::WriterBuilder;
use promodb::datafusion::parquet::arrow::ArrowWriter;
use promodb::datafusion::parquet::basic::Compression;
use promodb::datafusion::parquet::file::properties::WriterProperties;
use promodb::schema::Table;
use promodb::{Error, Result};

use crate::Promo;

/// File format of [`Promo::write_dir`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Parquet, snappy-compressed, row groups of 1M rows.
    #[default]
    Parquet,
    /// CSV with a header line; timestamps RFC 3339, money with 2 decimals.
    Csv,
}

impl OutputFormat {
    fn extension(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Csv => "csv",
        }
    }
}

impl Promo {
    /// Writes the promo under `dir`: `TABLE.parquet` (or `.csv`) per canonical table, ready
    /// for `promodb sql --load TABLE=DIR/TABLE.parquet`; `last_year/TABLE.*` and
    /// `targets.*` when generated; and `incidents.csv`, the labels
    /// (`kind,key,start,end`, RFC 3339). Returns the files written.
    pub fn write_dir(&self, dir: &Path, format: OutputFormat) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let ext = format.extension();
        create_dir(dir)?;
        for table in Table::ALL {
            let path = dir.join(format!("{}.{ext}", table.name()));
            write_batch(&path, &self.table(table).batch, format)?;
            written.push(path);
        }
        if !self.last_year.is_empty() {
            let ly_dir = dir.join("last_year");
            create_dir(&ly_dir)?;
            for generated in &self.last_year {
                let path = ly_dir.join(format!("{}.{ext}", generated.table.name()));
                write_batch(&path, &generated.batch, format)?;
                written.push(path);
            }
        }
        if let Some(targets) = &self.targets {
            let path = dir.join(format!("targets.{ext}"));
            write_batch(&path, targets, format)?;
            written.push(path);
        }
        let path = dir.join("incidents.csv");
        let mut text = String::from("kind,key,start,end\n");
        for incident in &self.incidents {
            text.push_str(&format!(
                "{},{},{},{}\n",
                incident.kind.name(),
                incident.key.as_deref().unwrap_or(""),
                incident
                    .start
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                incident
                    .end
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ));
        }
        File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|source| io_error(&path, source))?;
        written.push(path);
        Ok(written)
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| io_error(dir, source))
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 1 << 16;

fn write_batch(path: &Path, batch: &RecordBatch, format: OutputFormat) -> Result<()> {
    let file = File::create(path).map_err(|source| io_error(path, source))?;
    let failed = |e: &dyn std::fmt::Display| io_error(path, std::io::Error::other(e.to_string()));
    match format {
        OutputFormat::Parquet => {
            // A row group is the unit a Parquet reader splits a file by to read it on
            // several cores: 64k rows gives even the 600k orders of a 10M-event promo ten
            // of them (a million-row group left one core decoding a whole table).
            let properties = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .build();
            let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
                .map_err(|e| failed(&e))?;
            writer.write(batch).map_err(|e| failed(&e))?;
            writer.close().map_err(|e| failed(&e))?;
        }
        OutputFormat::Csv => {
            let mut writer = WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_string())
                .build(file);
            writer.write(batch).map_err(|e| failed(&e))?;
        }
    }
    Ok(())
}
