//! The BIGINT keys a query's filters pin a column to (`user_id = 476`,
//! `order_id IN (1, 2)`, `order_id = 1 OR order_id = 2`), used to skip the segments whose key filter rules them out.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

/// Keys longer than this are not looked up: the filters would answer "maybe" for most
/// segments anyway.
const MAX_KEYS: usize = 64;

/// One BIGINT column that every row passing the filters has equal to one of `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyLookup {
    /// Index of the column in the scanned schema.
    pub column: usize,
    /// The values it may take (no NULL: `col = NULL` passes no row, and is not pruned on).
    pub keys: Vec<i64>,
}

impl KeyLookup {
    /// The lookups implied by the conjunction of `filters` on the BIGINT columns of
    /// `schema`. Filters it does not understand are left to the engine, which applies
    /// every filter row by row anyway.
    pub(crate) fn from_filters(schema: &Schema, filters: &[Expr]) -> Vec<KeyLookup> {
        let mut lookups = Vec::new();
        for filter in filters {
            collect(schema, filter, &mut lookups);
        }
        lookups
    }
}

fn collect(schema: &Schema, expr: &Expr, lookups: &mut Vec<KeyLookup>) {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            collect(schema, left, lookups);
            collect(schema, right, lookups);
        }
        _ => lookups.extend(pinned(schema, expr)),
    }
}

/// The keys `expr` alone pins a column to: `col = 1`, `col IN (1, 2)`, or a disjunction
/// of such on one column (DataFusion turns short IN lists into `col = 1 OR col = 2`).
fn pinned(schema: &Schema, expr: &Expr) -> Option<KeyLookup> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (column, key) = match (bigint_column(schema, left), bigint_column(schema, right)) {
                (Some(column), None) => (column, key_of(right)?),
                (None, Some(column)) => (column, key_of(left)?),
                _ => return None,
            };
            Some(KeyLookup {
                column,
                keys: vec![key],
            })
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut either = pinned(schema, left)?;
            let or = pinned(schema, right)?;
            if either.column != or.column || either.keys.len() + or.keys.len() > MAX_KEYS {
                return None;
            }
            either.keys.extend(or.keys);
            Some(either)
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) if list.len() <= MAX_KEYS => {
            let column = bigint_column(schema, expr)?;
            // Every item must be a known key: an item that is an expression might match
            // anything. NULL items match nothing and are dropped.
            let mut keys = Vec::with_capacity(list.len());
            for item in list {
                match item {
                    Expr::Literal(value, _) if value.is_null() => {}
                    _ => keys.push(key_of(item)?),
                }
            }
            Some(KeyLookup { column, keys })
        }
        _ => None,
    }
}

/// The index of the BIGINT column `expr` names.
fn bigint_column(schema: &Schema, expr: &Expr) -> Option<usize> {
    let Expr::Column(column) = expr else {
        return None;
    };
    let (index, field) = schema.column_with_name(&column.name)?;
    (field.data_type() == &DataType::Int64).then_some(index)
}

/// An integer literal that fits a BIGINT.
fn key_of(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::Int64(Some(v)) => Some(*v),
        ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("channel", DataType::Utf8View, false),
            Field::new("order_id", DataType::Int64, true),
        ])
    }

    #[test]
    fn equalities_and_in_lists_of_bigint_columns_pin_keys() {
        let filters = [
            col("user_id")
                .eq(lit(476i64))
                .and(col("channel").eq(lit("app"))),
            lit(7i32).eq(col("order_id")),
            col("user_id").eq(lit(1i64)).or(col("user_id")
                .eq(lit(2i64))
                .or(col("user_id").eq(lit(3i64)))),
            col("order_id").in_list(
                vec![lit(1i64), lit(ScalarValue::Int64(None)), lit(3i64)],
                false,
            ),
        ];
        assert_eq!(
            KeyLookup::from_filters(&schema(), &filters),
            vec![
                KeyLookup {
                    column: 0,
                    keys: vec![476]
                },
                KeyLookup {
                    column: 2,
                    keys: vec![7]
                },
                KeyLookup {
                    column: 0,
                    keys: vec![1, 2, 3]
                },
                KeyLookup {
                    column: 2,
                    keys: vec![1, 3]
                },
            ]
        );
    }

    #[test]
    fn what_does_not_pin_a_key_is_ignored() {
        let filters = [
            col("user_id")
                .eq(lit(1i64))
                .or(col("order_id").eq(lit(2i64))),
            col("user_id")
                .eq(lit(1i64))
                .or(col("user_id").gt(lit(2i64))),
            col("user_id").not_eq(lit(1i64)),
            col("user_id").in_list(vec![lit(1i64)], true),
            col("user_id").in_list(vec![lit(1i64), col("order_id")], false),
            col("user_id").eq(col("order_id")),
            col("channel").eq(lit(5i64)),
            col("user_id").eq(lit(ScalarValue::Int64(None))),
            col("user_id").eq(lit(u64::MAX)),
            col("user_id").gt(lit(5i64)),
        ];
        assert_eq!(KeyLookup::from_filters(&schema(), &filters), vec![]);
    }
}
