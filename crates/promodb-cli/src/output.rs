//! Printing results: an ASCII table, CSV or JSON lines.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use promodb::arrow::array::{Array, ArrayRef, RecordBatch};
use promodb::arrow::compute::cast;
use promodb::arrow::datatypes::{DataType, Field, Schema};
use promodb::arrow::util::display::{ArrayFormatter, FormatOptions};
use promodb::arrow::util::pretty::pretty_format_batches;

/// Output format of `promodb sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// An ASCII table.
    Table,
    /// A header line, then one line per row; NULL is an empty field.
    Csv,
    /// One JSON object per row (JSON lines); NULL is `null`.
    Json,
}

const RFC3339_UTC: &str = "%Y-%m-%dT%H:%M:%S%.fZ";

pub(crate) fn print_batches(batches: &[RecordBatch], format: Format) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Table => {
            let batches: Vec<RecordBatch> = batches
                .iter()
                .map(utc_timestamps)
                .collect::<anyhow::Result<_>>()?;
            let text = pretty_format_batches(&batches).context("cannot format the result")?;
            writeln!(out, "{text}")?;
        }
        Format::Csv => write_csv(&mut out, batches)?,
        Format::Json => {
            let batches: Vec<RecordBatch> = batches
                .iter()
                .map(utc_timestamps)
                .collect::<anyhow::Result<_>>()?;
            let mut writer = promodb::arrow::json::LineDelimitedWriter::new(&mut out);
            for batch in &batches {
                writer.write(batch).context("cannot write JSON")?;
            }
            writer.finish().context("cannot write JSON")?;
        }
    }
    out.flush()?;
    Ok(())
}

fn write_csv(out: &mut impl Write, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let header: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| csv_field(f.name()))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    let options = FormatOptions::new()
        .with_null("")
        .with_timestamp_tz_format(Some(RFC3339_UTC));
    for batch in batches {
        let batch = utc_timestamps(batch)?;
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .context("cannot format the result")?;
        for row in 0..batch.num_rows() {
            let fields: Vec<String> = formatters
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| {
                    if c.is_null(row) {
                        String::new()
                    } else {
                        csv_field(&f.value(row).to_string())
                    }
                })
                .collect();
            writeln!(out, "{}", fields.join(","))?;
        }
    }
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Every timestamp column as UTC, so that each prints as RFC 3339 with `Z`.
fn utc_timestamps(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, _)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(unit, _) => {
                let utc = DataType::Timestamp(*unit, Some("UTC".into()));
                columns.push(cast(column, &utc).context("cannot convert a timestamp to UTC")?);
                fields.push(Field::new(field.name(), utc, field.is_nullable()));
            }
            _ => {
                columns.push(Arc::clone(column));
                fields.push(field.as_ref().clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
