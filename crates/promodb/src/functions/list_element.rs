//! `array_element` (`list[i]`) with one vectorized gather.
//!
//! DataFusion 55 extracts an element row by row through `MutableArrayData`: in the
//! retention query, `sum(r[1])` ... `sum(p[4])` over 1.17M users was 305 ms of compute,
//! a third of the query's. promodb computes every row's position in the list values
//! (NULL where the list or index is NULL or the index is out of range) and gathers them
//! with Arrow's `take`. The same rules as DataFusion's: 1-based, negative counts from the
//! end, 0 and out of range give NULL. Anything else (NULL-typed lists, scalar lists,
//! indexes beyond the offsets' range) goes to DataFusion's own, whose signature, names
//! and return type this one shares.
//!
//! `list[i]` is planned with DataFusion's function object directly rather than by name,
//! so besides being registered, this one is swapped in by [`ListElementRewrite`].

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait, UInt64Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// DataFusion's `array_element`, gathering all rows at once.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ListElement {
    inner: ScalarUDF,
}

/// `array_element` (and its aliases `array_extract`, `list_element`, `list_extract`) as
/// registered in every promodb session (it replaces the built-in).
pub fn list_element_udf() -> Arc<ScalarUDF> {
    static UDF: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDF.get_or_init(|| {
        let inner = datafusion::functions_nested::extract::array_element_udf()
            .as_ref()
            .clone();
        Arc::new(ScalarUDF::from(ListElement { inner }))
    }))
}

impl ScalarUDFImpl for ListElement {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match gather_elements(&args.args)? {
            Some(elements) => Ok(ColumnarValue::Array(elements)),
            None => self.inner.invoke_with_args(args),
        }
    }
}

/// The elements, when the list is an array of `List` or `LargeList` and the index an
/// `Int64` scalar or array; `None` for DataFusion's own to handle.
fn gather_elements(args: &[ColumnarValue]) -> Result<Option<ArrayRef>> {
    let [ColumnarValue::Array(lists), index] = args else {
        return Ok(None);
    };
    let gathered = match lists.data_type() {
        DataType::List(_) => gather(lists.as_list::<i32>(), index)?,
        DataType::LargeList(_) => gather(lists.as_list::<i64>(), index)?,
        _ => None,
    };
    Ok(gathered)
}

fn gather<O: OffsetSizeTrait>(
    lists: &GenericListArray<O>,
    index: &ColumnarValue,
) -> Result<Option<ArrayRef>> {
    let positions = match index {
        ColumnarValue::Scalar(ScalarValue::Int64(index)) => {
            let index = *index;
            element_positions(lists, |_| index)
        }
        ColumnarValue::Array(indexes) if indexes.data_type() == &DataType::Int64 => {
            let indexes = indexes.as_primitive::<Int64Type>();
            element_positions(lists, |row| {
                indexes.is_valid(row).then(|| indexes.value(row))
            })
        }
        _ => None,
    };
    match positions {
        Some(positions) => Ok(Some(take(lists.values().as_ref(), &positions, None)?)),
        None => Ok(None),
    }
}

/// Each row's position in the list values, NULL where there is no element; `None` if an
/// index does not fit the offsets (DataFusion reports that error).
fn element_positions<O: OffsetSizeTrait>(
    lists: &GenericListArray<O>,
    index_of: impl Fn(usize) -> Option<i64>,
) -> Option<UInt64Array> {
    let offsets = lists.value_offsets();
    let mut fits = true;
    let positions = (0..lists.len())
        .map(|row| {
            let index = index_of(row).filter(|_| lists.is_valid(row))?;
            fits &= O::IS_LARGE || i32::try_from(index).is_ok();
            let start = offsets[row].as_usize() as i64;
            let len = offsets[row + 1].as_usize() as i64 - start;
            let at = if index < 0 { index + len } else { index - 1 };
            (0..len).contains(&at).then(|| (start + at) as u64)
        })
        .collect();
    fits.then_some(positions)
}

/// Plans `list[i]` (and `array_element(...)` built by other rewrites) with promodb's
/// [`ListElement`] instead of DataFusion's function object.
#[derive(Debug, Default)]
pub(crate) struct ListElementRewrite;

impl FunctionRewrite for ListElementRewrite {
    fn name(&self) -> &str {
        "list_element_gather"
    }

    fn rewrite(
        &self,
        expr: Expr,
        _schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        match expr {
            Expr::ScalarFunction(ScalarFunction { func, args })
                if func.name() == "array_element"
                    && func.inner().downcast_ref::<ListElement>().is_none() =>
            {
                Ok(Transformed::yes(Expr::ScalarFunction(
                    ScalarFunction::new_udf(list_element_udf(), args),
                )))
            }
            expr => Ok(Transformed::no(expr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::execution::registry::FunctionRegistry;
    use datafusion::prelude::SessionContext;

    use super::*;

    const ROWS: &str = "(VALUES (make_array(1, 2, NULL, 4), make_array('a', NULL, 'c'), 1), \
        (NULL, NULL, 2), (make_array(5), make_array('e'), -1), \
        (make_array(7, 8), make_array('g', 'h'), 0), (make_array(7, 8), make_array('g', 'h'), 3), \
        (make_array(7, 8), make_array('g', 'h'), -3), (make_array(7, 8), make_array('g', 'h'), -2), \
        (make_array(9, 10), make_array('i', 'j'), NULL)) AS t(l, s, i)";

    async fn run(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    /// Same answers as DataFusion's own: indexes from the front and back, 0 and out of
    /// range, NULL lists, NULL items and NULL indexes, numbers and strings, scalar and
    /// per-row indexes, `List` and `LargeList`.
    #[tokio::test]
    async fn agrees_with_datafusions_array_element() {
        let builtin = SessionContext::new();
        let ours = SessionContext::new();
        ours.register_udf(list_element_udf().as_ref().clone());
        for list in ["l", "s", "arrow_cast(l, 'LargeList(Int64)')"] {
            let sql = format!(
                "SELECT array_element({list}, i) AS a, array_element({list}, 1) AS b, \
                        array_element({list}, -1) AS c, array_element({list}, 3) AS d, \
                        array_element({list}, 0) AS e, array_element({list}, NULL) AS f \
                 FROM {ROWS}"
            );
            let expected = run(&builtin, &sql).await;
            assert_eq!(run(&ours, &sql).await, expected, "{list}");
            assert!(
                expected.contains("| 4 ") || expected.contains("| c "),
                "{expected}"
            );
        }
    }

    #[tokio::test]
    async fn list_indexing_is_planned_with_the_gather() {
        let ctx = SessionContext::new();
        ctx.state_ref()
            .write()
            .register_function_rewrite(Arc::new(ListElementRewrite))
            .unwrap();
        let sql = format!("SELECT l[2] AS second FROM {ROWS}");
        let plan = ctx.sql(&sql).await.unwrap().into_optimized_plan().unwrap();
        let mut gathers = 0;
        plan.apply(|node| {
            node.apply_expressions(|expr| {
                expr.apply(|expr| {
                    if let Expr::ScalarFunction(f) = expr {
                        gathers +=
                            usize::from(f.func.inner().downcast_ref::<ListElement>().is_some());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })
        .unwrap();
        assert!(gathers > 0, "{plan}");
        let expected = "+--------+\n| second |\n+--------+\n| 2      |\n|        |\n|        |\n\
                        | 8      |\n| 8      |\n| 8      |\n| 8      |\n| 10     |\n+--------+";
        assert_eq!(run(&ctx, &sql).await, expected);
    }
}
