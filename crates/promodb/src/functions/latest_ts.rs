//! `latest_ts('orders', 'inventory', ...)` -> TIMESTAMP: the latest `ts` among the rows of
//! the named canonical tables (their segments, rows still being appended, and attached
//! files), NULL when they hold no row: the "now" of METRICS.md's views, which is the data's
//! own clock, so that replays and tests are deterministic.
//!
//! It is answered from each segment's and file's `ts` range, and being stable within a
//! query (as `now()` is), DataFusion folds it into a constant when it plans the query: a
//! filter such as
//! `ts > latest_ts('orders') - INTERVAL '15 minutes'` then prunes segments and Parquet row
//! groups by their time range, where the same "now" joined in from a `max(ts)` subquery
//! left every row to be read and compared (the `stock_risk` view read all 607k orders to
//! keep the last 15 minutes of them). Every query is planned afresh, so each sees the
//! data as it is then; each call reads the tables, so two calls in one query may see an
//! append made between them.
//!
//! ```sql
//! SELECT sku_id, sum(qty) FROM orders
//! WHERE ts > latest_ts('orders') - INTERVAL '15 minutes' GROUP BY sku_id
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::schema::Table;
use crate::storage::TableStore;

/// The `latest_ts` scalar function of one database.
#[derive(Debug)]
pub struct LatestTs {
    signature: Signature,
    /// Every canonical table's store, by `Table` discriminant.
    stores: Vec<Arc<TableStore>>,
}

impl LatestTs {
    /// The function over the tables of `stores` (every canonical table, in `Table` order).
    pub(crate) fn new(stores: Vec<Arc<TableStore>>) -> Self {
        LatestTs {
            signature: Signature::user_defined(Volatility::Stable),
            stores,
        }
    }

    /// The latest `ts` of the tables named by `names`, in microseconds.
    fn latest(&self, names: &[String]) -> Result<Option<i64>> {
        let mut latest = None;
        for name in names {
            let table: Table = name
                .parse()
                .map_err(|e| DataFusionError::Plan(format!("latest_ts: {e}")))?;
            if table.def().time_column().is_none() {
                return plan_err!("latest_ts: table {table} has no ts column");
            }
            let snapshot = self.stores[table as usize]
                .snapshot()
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let segments = snapshot.segments().iter().map(|s| s.time_range());
            let files = snapshot.files().iter().map(|f| f.time_range());
            for range in segments.chain(files) {
                latest = latest.max(range.map(|(_, max)| max));
            }
        }
        Ok(latest)
    }
}

/// The value of `latest` as the function's result.
fn timestamp(latest: Option<i64>) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(latest, Some("UTC".into()))
}

/// The table names of the arguments, when each is a text constant.
fn literal_names(args: &[ColumnarValue]) -> Option<Vec<String>> {
    args.iter()
        .map(|arg| match arg {
            ColumnarValue::Scalar(value) => text(value).map(str::to_string),
            ColumnarValue::Array(_) => None,
        })
        .collect()
}

/// The text of a non-NULL string constant: how `latest_ts` is given a table's name.
pub(crate) fn text(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(text))
        | ScalarValue::Utf8View(Some(text))
        | ScalarValue::LargeUtf8(Some(text)) => Some(text),
        _ => None,
    }
}

impl PartialEq for LatestTs {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
            && self.stores.len() == other.stores.len()
            && self
                .stores
                .iter()
                .zip(&other.stores)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Eq for LatestTs {}

impl std::hash::Hash for LatestTs {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
        for store in &self.stores {
            Arc::as_ptr(store).hash(state);
        }
    }
}

impl ScalarUDFImpl for LatestTs {
    fn name(&self) -> &str {
        "latest_ts"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() {
            return plan_err!("latest_ts takes the names of one or more canonical tables");
        }
        for t in arg_types {
            if !matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) {
                return plan_err!("latest_ts takes table names as text, got {t}");
            }
        }
        Ok(vec![DataType::Utf8; arg_types.len()])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match literal_names(&args.args) {
            Some(names) => Ok(ColumnarValue::Scalar(timestamp(self.latest(&names)?))),
            None => exec_err!("latest_ts takes table names as text literals, not columns"),
        }
    }
}
