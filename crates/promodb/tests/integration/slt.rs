//! Runs every `.slt` file under `testdata/slt/` against a database holding the small
//! fixture (`testdata/fixtures/small/`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use promodb::PromoDb;
use promodb::arrow::array::{Array, RecordBatch};
use promodb::arrow::datatypes::DataType;
use promodb::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::common::{small_promo, testdata};

struct SltDb {
    db: PromoDb,
}

#[async_trait]
impl sqllogictest::AsyncDB for SltDb {
    type Error = promodb::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, promodb::Error> {
        let frame = self.db.dataframe(sql).await?;
        if frame.schema().fields().is_empty() {
            frame.collect().await?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = frame
            .schema()
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let batches = frame.collect().await?;
        Ok(DBOutput::Rows {
            types,
            rows: rows_as_text(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "promodb"
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// Values as DataFusion's own sqllogictests print them: NULL, `(empty)` for an empty
/// string, floats to 12 significant digits, everything else as Arrow displays it.
fn rows_as_text(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, promodb::Error> {
    let options = FormatOptions::new().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, formatter)| {
                    let text = formatter.value(row).to_string();
                    if column.is_null(row) {
                        "NULL".to_string()
                    } else if column.data_type().is_floating() {
                        round_float(&text)
                    } else if text.is_empty() {
                        "(empty)".to_string()
                    } else {
                        text
                    }
                })
                .collect();
            rows.push(cells);
        }
    }
    Ok(rows)
}

fn round_float(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => {
            let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
            format!("{rounded}")
        }
        _ => text.to_string(),
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read testdata/slt") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

#[test]
fn sqllogictests() {
    let mut files = Vec::new();
    slt_files(&testdata().join("slt"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .slt file under testdata/slt");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = sqllogictest::Runner::new(|| async { Ok(SltDb { db: small_promo() }) });
        if let Err(err) = runtime.block_on(runner.run_file_async(file)) {
            failures.push(format!("{}:\n{err}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} .slt files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
