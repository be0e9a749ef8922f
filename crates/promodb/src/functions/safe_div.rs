//! `safe_div(numerator, denominator)` -> DOUBLE: the ratio rule of METRICS.md.
//!
//! NULL when the denominator is 0 or NULL (or the numerator is NULL): never an error, never
//! infinity or NaN, and never integer division (`safe_div(7, 2)` is 3.5). Any numeric type,
//! DECIMAL included, is accepted. For a ratio over a slice, divide the sums:
//! `safe_div(sum(clicks), sum(impressions))`.
//!
//! ```sql
//! SELECT channel, safe_div(sum(clicks), sum(impressions)) AS ctr FROM ad_spend GROUP BY channel
//! -- short_video (0 impressions) gives NULL
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The `safe_div` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SafeDiv {
    signature: Signature,
}

/// `safe_div` as a DataFusion scalar function.
pub fn safe_div_udf() -> Arc<ScalarUDF> {
    static UDF: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDF.get_or_init(|| {
        Arc::new(ScalarUDF::from(SafeDiv {
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    }))
}

impl ScalarUDFImpl for SafeDiv {
    fn name(&self) -> &str {
        "safe_div"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!("safe_div expects 2 arguments, got {}", arg_types.len());
        }
        for t in arg_types {
            if !(t.is_numeric() || t == &DataType::Null) {
                return plan_err!("safe_div expects numbers, got {t}");
            }
        }
        Ok(vec![DataType::Float64, DataType::Float64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let numerator = cast(&arrays[0], &DataType::Float64)?;
        let denominator = cast(&arrays[1], &DataType::Float64)?;
        let numerator = numerator.as_primitive::<Float64Type>();
        let denominator = denominator.as_primitive::<Float64Type>();
        let ratios: Float64Array = (0..numerator.len())
            .map(|i| {
                if numerator.is_null(i) || denominator.is_null(i) || denominator.value(i) == 0.0 {
                    return None;
                }
                let ratio = numerator.value(i) / denominator.value(i);
                ratio.is_finite().then_some(ratio)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(ratios)))
    }
}
