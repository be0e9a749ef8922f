//! Group keys of the integer-like types, carried as `i64` while grouping.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type};
use datafusion::common::Result;

/// Whether keys of this type can be grouped as `i64` and given back unchanged.
pub(super) fn is_integer_key(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Date32 | Date64
    ) || matches!(data_type, Timestamp(_, _))
}

/// The keys as `i64`: widened, or the same 64 bits reinterpreted.
pub(super) fn to_i64(keys: &ArrayRef) -> Result<Int64Array> {
    use DataType::*;
    Ok(match keys.data_type() {
        Int64 => keys.as_primitive::<Int64Type>().clone(),
        UInt64 | Date64 | Timestamp(_, _) => {
            Int64Array::from(keys.to_data().into_builder().data_type(Int64).build()?)
        }
        Date32 => {
            let days = keys
                .as_primitive::<Date32Type>()
                .reinterpret_cast::<Int32Type>();
            cast(&days, &Int64)?.as_primitive::<Int64Type>().clone()
        }
        _ => cast(keys, &Int64)?.as_primitive::<Int64Type>().clone(),
    })
}

/// Keys made by [`to_i64`] back in their own type.
pub(super) fn from_i64(keys: Int64Array, data_type: &DataType) -> Result<ArrayRef> {
    use DataType::*;
    let keys: ArrayRef = Arc::new(keys);
    Ok(match data_type {
        Int64 => keys,
        UInt64 | Date64 | Timestamp(_, _) => datafusion::arrow::array::make_array(
            keys.to_data()
                .into_builder()
                .data_type(data_type.clone())
                .build()?,
        ),
        Date32 => {
            let days = cast(&keys, &Int32)?;
            Arc::new(
                days.as_primitive::<Int32Type>()
                    .reinterpret_cast::<Date32Type>(),
            )
        }
        _ => cast(&keys, data_type)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Date32Array, Int8Array, TimestampMicrosecondArray, UInt64Array,
    };

    #[test]
    fn every_integer_key_type_round_trips() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int8Array::from(vec![Some(-128), None, Some(127)])),
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), None, Some(0)])),
            Arc::new(Date32Array::from(vec![Some(-1), None, Some(20_400)])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1), None, Some(-5)]).with_timezone("UTC"),
            ),
        ];
        for array in arrays {
            assert!(is_integer_key(array.data_type()));
            let keys = to_i64(&array).unwrap();
            assert_eq!(keys.null_count(), 1);
            let back = from_i64(keys, array.data_type()).unwrap();
            assert_eq!(&back, &array);
        }
        assert!(!is_integer_key(&DataType::Utf8));
        assert!(!is_integer_key(&DataType::Float64));
    }
}
