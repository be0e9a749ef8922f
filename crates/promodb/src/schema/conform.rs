//! Conforming incoming batches to the canonical schema.
//!
//! An incoming batch may have its columns in any order, timestamps in any unit or zone (or
//! as text), money as integers, floats, decimals of another scale or text, and strings as
//! `Utf8`, `LargeUtf8`, `Utf8View` or dictionaries. [`conform`] converts every canonical column
//! to its canonical type, fills a missing nullable column with NULL, keeps extra user
//! columns after the canonical ones (strings as `Utf8View`, dictionaries unpacked) and
//! refuses, naming table, column and first bad row, whatever cannot be converted exactly.

use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::compute::kernels::cast::{CastOptions, cast, cast_with_options};
use datafusion::arrow::compute::kernels::cast_utils::string_to_datetime;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Float32Type, Float64Type, Schema, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};

use super::money::{MAX_CENTS, parse_cents};
use super::tables::{ColumnDef, ColumnType, Table};
use crate::error::{Error, Result};

/// Converts `batch` to the canonical schema of `table`.
///
/// The result has the canonical columns first, in canonical order, then the extra columns
/// of `batch` in their original order. Nothing is changed in `batch`; on error nothing of it
/// should be stored.
///
/// ```
/// use std::sync::Arc;
/// use promodb::arrow::array::{Int64Array, RecordBatch, StringArray};
/// use promodb::arrow::datatypes::{DataType, Field, Schema};
/// use promodb::schema::{Table, conform};
///
/// let schema = Schema::new(vec![
///     Field::new("on_hand", DataType::Int64, false),
///     Field::new("warehouse", DataType::Utf8, false),
///     Field::new("sku_id", DataType::Int64, false),
///     Field::new("ts", DataType::Utf8, false),
/// ]);
/// let batch = RecordBatch::try_new(Arc::new(schema), vec![
///     Arc::new(Int64Array::from(vec![40])),
///     Arc::new(StringArray::from(vec!["hangzhou"])),
///     Arc::new(Int64Array::from(vec![7])),
///     Arc::new(StringArray::from(vec!["2026-11-11T00:05:00+08:00"])),
/// ]).unwrap();
/// let canonical = conform(Table::Inventory, &batch).unwrap();
/// assert_eq!(canonical.schema(), Table::Inventory.arrow_schema());
/// ```
pub fn conform(table: Table, batch: &RecordBatch) -> Result<RecordBatch> {
    let def = table.def();
    let incoming = batch.schema();
    let mut fields = Vec::with_capacity(incoming.fields().len().max(def.columns.len()));
    let mut columns = Vec::with_capacity(fields.capacity());

    for column in def.columns {
        let converted = match incoming.index_of(column.name) {
            Ok(index) => {
                let ctx = ColumnContext { table, column };
                ctx.convert(batch.column(index))?
            }
            Err(_) if column.nullable => {
                new_null_array(&column.column_type.arrow_type(), batch.num_rows())
            }
            Err(_) => {
                return Err(Error::MissingColumn {
                    table: table.name().to_string(),
                    column: column.name.to_string(),
                });
            }
        };
        fields.push(Field::new(
            column.name,
            column.column_type.arrow_type(),
            column.nullable,
        ));
        columns.push(converted);
    }

    for (field, array) in incoming.fields().iter().zip(batch.columns()) {
        if def.columns.iter().any(|c| c.name == field.name()) {
            continue;
        }
        if fields.iter().any(|f: &Field| f.name() == field.name()) {
            return Err(Error::InvalidArgument(format!(
                "{table}: column '{}' appears twice",
                field.name()
            )));
        }
        let array = normalize_extra(array).map_err(|_| Error::TypeMismatch {
            table: table.name().to_string(),
            column: field.name().clone(),
            found: array.data_type().to_string(),
            expected: "a plain Arrow type".to_string(),
        })?;
        fields.push(Field::new(field.name(), array.data_type().clone(), true));
        columns.push(array);
    }

    let schema = if fields.len() == def.columns.len() {
        table.arrow_schema()
    } else {
        Arc::new(Schema::new(fields))
    };
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Extra user columns keep their type, except that every string flavour becomes
/// `Utf8View` (the in-memory string type) and dictionaries are unpacked.
pub(crate) fn normalize_extra(array: &ArrayRef) -> std::result::Result<ArrayRef, String> {
    let target = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
        DataType::Dictionary(_, value) => match value.as_ref() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8View,
            other => other.clone(),
        },
        _ => return Ok(Arc::clone(array)),
    };
    cast(array, &target).map_err(|e| e.to_string())
}

struct ColumnContext {
    table: Table,
    column: &'static ColumnDef,
}

impl ColumnContext {
    fn convert(&self, array: &ArrayRef) -> Result<ArrayRef> {
        if !self.column.nullable && array.null_count() > 0 {
            let row = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0);
            return Err(Error::NullValue {
                table: self.table.name().to_string(),
                column: self.column.name.to_string(),
                row,
            });
        }
        match self.column.column_type {
            ColumnType::Timestamp => self.to_timestamp(array),
            ColumnType::BigInt => self.to_bigint(array),
            ColumnType::Text => self.to_text(array),
            ColumnType::Money => self.to_money(array),
        }
    }

    fn invalid(&self, row: usize, reason: String) -> Error {
        Error::InvalidValue {
            table: self.table.name().to_string(),
            column: self.column.name.to_string(),
            row,
            reason,
        }
    }

    fn mismatch(&self, found: &DataType) -> Error {
        Error::TypeMismatch {
            table: self.table.name().to_string(),
            column: self.column.name.to_string(),
            found: found.to_string(),
            expected: self.column.column_type.arrow_type().to_string(),
        }
    }

    fn to_timestamp(&self, array: &ArrayRef) -> Result<ArrayRef> {
        let micros: TimestampMicrosecondArray = match array.data_type() {
            DataType::Timestamp(unit, _) => match unit {
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().clone(),
                TimeUnit::Nanosecond => {
                    array
                        .as_primitive::<TimestampNanosecondType>()
                        .unary::<_, TimestampMicrosecondType>(|v| v.div_euclid(1_000))
                }
                TimeUnit::Millisecond => self.scale_up(
                    array.as_primitive::<TimestampMillisecondType>().iter(),
                    1_000,
                )?,
                TimeUnit::Second => self.scale_up(
                    array.as_primitive::<TimestampSecondType>().iter(),
                    1_000_000,
                )?,
            },
            DataType::Date32 => self.scale_up(
                array
                    .as_primitive::<Date32Type>()
                    .iter()
                    .map(|d| d.map(i64::from)),
                86_400_000_000,
            )?,
            DataType::Date64 => self.scale_up(array.as_primitive::<Date64Type>().iter(), 1_000)?,
            other if is_text(other) => {
                let text = as_utf8(array)?;
                let mut values = Vec::with_capacity(text.len());
                for (row, value) in text.iter().enumerate() {
                    values.push(match value {
                        None => None,
                        Some(s) => Some(parse_timestamp_micros(s).ok_or_else(|| {
                            self.invalid(row, format!("'{s}' is not a timestamp"))
                        })?),
                    });
                }
                TimestampMicrosecondArray::from(values)
            }
            other => return Err(self.mismatch(other)),
        };
        Ok(Arc::new(micros.with_timezone("UTC")))
    }

    fn scale_up(
        &self,
        values: impl Iterator<Item = Option<i64>>,
        factor: i64,
    ) -> Result<TimestampMicrosecondArray> {
        values
            .enumerate()
            .map(|(row, v)| match v {
                None => Ok(None),
                Some(v) => v.checked_mul(factor).map(Some).ok_or_else(|| {
                    self.invalid(row, format!("{v} is out of range for a timestamp"))
                }),
            })
            .collect()
    }

    fn to_bigint(&self, array: &ArrayRef) -> Result<ArrayRef> {
        let data_type = array.data_type();
        if data_type == &DataType::Int64 {
            return Ok(Arc::clone(array));
        }
        if data_type.is_integer() || is_text(data_type) {
            let source = if is_text(data_type) {
                Arc::new(trimmed_utf8(array)?) as ArrayRef
            } else {
                Arc::clone(array)
            };
            let converted = cast_with_options(&source, &DataType::Int64, &SAFE)
                .map_err(|_| self.mismatch(data_type))?;
            self.check_no_new_nulls(&source, &converted, "is not a BIGINT")?;
            return Ok(converted);
        }
        if let Some(floats) = as_f64_values(array) {
            let mut out = Vec::with_capacity(floats.len());
            for (row, v) in floats.into_iter().enumerate() {
                out.push(match v {
                    None => None,
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
                    Some(f) => return Err(self.invalid(row, format!("{f} is not a BIGINT"))),
                });
            }
            return Ok(Arc::new(Int64Array::from(out)));
        }
        if let DataType::Decimal128(..) | DataType::Decimal256(..) = data_type {
            let strict = CastOptions {
                safe: true,
                ..Default::default()
            };
            let converted = cast_with_options(array, &DataType::Int64, &strict)
                .map_err(|_| self.mismatch(data_type))?;
            // A cast truncates fractions; only exact integers are accepted.
            let back = cast(&converted, data_type).map_err(|_| self.mismatch(data_type))?;
            for row in 0..array.len() {
                if array.is_valid(row)
                    && (converted.is_null(row) || !values_equal(array, &back, row))
                {
                    return Err(self.invalid(row, "is not a whole number".to_string()));
                }
            }
            return Ok(converted);
        }
        Err(self.mismatch(data_type))
    }

    fn to_text(&self, array: &ArrayRef) -> Result<ArrayRef> {
        if array.data_type() == &DataType::Utf8View {
            return Ok(compact_views(Arc::clone(array)));
        }
        let views =
            cast(array, &DataType::Utf8View).map_err(|_| self.mismatch(array.data_type()))?;
        Ok(compact_views(views))
    }

    fn to_money(&self, array: &ArrayRef) -> Result<ArrayRef> {
        let data_type = array.data_type();
        let cents: Vec<Option<i128>> = match data_type {
            DataType::Decimal128(18, 2) => return Ok(Arc::clone(array)),
            DataType::Decimal32(_, scale)
            | DataType::Decimal64(_, scale)
            | DataType::Decimal128(_, scale)
            | DataType::Decimal256(_, scale) => {
                let wide = cast_with_options(array, &DataType::Decimal128(38, *scale), &SAFE)
                    .map_err(|_| self.mismatch(data_type))?;
                self.check_no_new_nulls(array, &wide, "is out of range for DECIMAL(18,2)")?;
                let wide = wide.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
                let mut out = Vec::with_capacity(wide.len());
                for (row, v) in wide.iter().enumerate() {
                    out.push(match v {
                        None => None,
                        Some(v) => Some(self.rescale(row, v, *scale)?),
                    });
                }
                out
            }
            t if t.is_integer() => {
                let ints = cast_with_options(array, &DataType::Decimal128(38, 0), &SAFE)
                    .map_err(|_| self.mismatch(data_type))?;
                let ints = ints.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
                let mut out = Vec::with_capacity(ints.len());
                for (row, v) in ints.iter().enumerate() {
                    out.push(match v {
                        None => None,
                        Some(v) => Some(self.rescale(row, v, 0)?),
                    });
                }
                out
            }
            t if is_text(t) => {
                let text = as_utf8(array)?;
                let mut out = Vec::with_capacity(text.len());
                for (row, v) in text.iter().enumerate() {
                    out.push(match v {
                        None => None,
                        Some(s) => {
                            Some(parse_cents(s).map_err(|reason| self.invalid(row, reason))?)
                        }
                    });
                }
                out
            }
            _ => match as_f64_values(array) {
                Some(floats) => {
                    let mut out = Vec::with_capacity(floats.len());
                    for (row, v) in floats.into_iter().enumerate() {
                        out.push(match v {
                            None => None,
                            // The shortest text that reads back as the same float is
                            // what the producer meant: 12.3 is 12.30, 0.1 + 0.2 is refused.
                            Some(f) if f.is_finite() => Some(
                                parse_cents(&format!("{f}"))
                                    .map_err(|reason| self.invalid(row, reason))?,
                            ),
                            Some(f) => {
                                return Err(self.invalid(row, format!("{f} is not money")));
                            }
                        });
                    }
                    out
                }
                None => return Err(self.mismatch(data_type)),
            },
        };
        let array = Decimal128Array::from(cents)
            .with_precision_and_scale(18, 2)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Arc::new(array))
    }

    /// Converts a decimal with `scale` to cents, refusing lost digits and overflow.
    fn rescale(&self, row: usize, value: i128, scale: i8) -> Result<i128> {
        let shown = || format_decimal(value, scale);
        let cents = if scale <= 2 {
            10_i128
                .checked_pow(u32::from((2 - scale).unsigned_abs()))
                .and_then(|f| value.checked_mul(f))
        } else {
            let divisor = 10_i128.pow(u32::from((scale - 2).unsigned_abs()));
            if value % divisor != 0 {
                return Err(self.invalid(row, format!("'{}' has more than 2 decimals", shown())));
            }
            Some(value / divisor)
        };
        match cents {
            Some(c) if c.abs() <= MAX_CENTS => Ok(c),
            _ => Err(self.invalid(
                row,
                format!("'{}' is out of range for DECIMAL(18,2)", shown()),
            )),
        }
    }

    fn check_no_new_nulls(&self, before: &ArrayRef, after: &ArrayRef, what: &str) -> Result<()> {
        if after.null_count() == before.null_count() {
            return Ok(());
        }
        let row = (0..before.len())
            .find(|&i| before.is_valid(i) && after.is_null(i))
            .unwrap_or(0);
        let shown = datafusion::arrow::util::display::array_value_to_string(before, row)
            .unwrap_or_else(|_| "?".to_string());
        Err(self.invalid(row, format!("'{shown}' {what}")))
    }
}

const SAFE: CastOptions<'static> = CastOptions {
    safe: true,
    format_options: datafusion::arrow::util::display::FormatOptions::new(),
};

fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_text(value),
        _ => false,
    }
}

fn as_utf8(array: &ArrayRef) -> Result<StringArray> {
    let utf8 = cast(array, &DataType::Utf8).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(utf8.as_string::<i32>().clone())
}

fn trimmed_utf8(array: &ArrayRef) -> Result<StringArray> {
    Ok(as_utf8(array)?.iter().map(|v| v.map(str::trim)).collect())
}

fn as_f64_values(array: &ArrayRef) -> Option<Vec<Option<f64>>> {
    match array.data_type() {
        DataType::Float64 => Some(array.as_primitive::<Float64Type>().iter().collect()),
        // Through the shortest text of the f32, so 12.3f32 means 12.3 and not 12.3000002.
        DataType::Float32 => Some(
            array
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(|f| format!("{f}").parse::<f64>().unwrap_or(f64::NAN)))
                .collect(),
        ),
        DataType::Float16 => cast(array, &DataType::Float64)
            .ok()
            .map(|a| a.as_primitive::<Float64Type>().iter().collect()),
        _ => None,
    }
}

fn values_equal(a: &ArrayRef, b: &ArrayRef, row: usize) -> bool {
    use datafusion::arrow::util::display::array_value_to_string;
    array_value_to_string(a, row).ok() == array_value_to_string(b, row).ok()
}

fn format_decimal(value: i128, scale: i8) -> String {
    if scale <= 0 {
        return value.to_string();
    }
    let digits = value.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{whole}.{fraction}")
}

/// Parses text as a timestamp: RFC 3339 with any offset, or `YYYY-MM-DD[ T]HH:MM:SS[.f]`
/// and `YYYY-MM-DD` read as UTC.
pub(crate) fn parse_timestamp_micros(text: &str) -> Option<i64> {
    let parsed = string_to_datetime(&Utc, text.trim()).ok()?;
    let seconds = parsed.timestamp();
    let micros = i64::from(parsed.timestamp_subsec_micros());
    seconds.checked_mul(1_000_000)?.checked_add(micros)
}

/// `views` without the data buffers its values mostly do not use. A cast from `Utf8`
/// keeps the whole source buffer even when every value is inline (12 bytes or fewer:
/// channels, event types, statuses); dropping it saves that memory, and an array of
/// inline values with no data buffer at all is one arrow's comparisons read as 16-byte
/// integers (`event_type = 'pay'` over raw loaded rows took twice as long without).
fn compact_views(views: ArrayRef) -> ArrayRef {
    let text = views.as_string_view();
    let held: usize = text.data_buffers().iter().map(|buffer| buffer.len()).sum();
    if held == 0 || text.total_buffer_bytes_used() * 2 > held {
        return views;
    }
    Arc::new(text.gc())
}
#[cfg(test)]
mod tests;
