//! The BIGINT keys a query's filters pin a column to (`user_id = 476`,
//! `order_id IN (1, 2)`, `order_id = 1 OR order_id = 2`), used to skip the segments whose
//! key filter rules them out: from the filters a scan is planned with, and from the
//! runtime filter a hash join pushes to its probe side once its build side is known.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr as PhysicalBinary, Column as PhysicalColumn, InListExpr, Literal as PhysicalLiteral,
};

/// Keys longer than this are not looked up: the filters would answer "maybe" for most
/// segments anyway.
const MAX_KEYS: usize = 64;

/// Items a physical `IN` list may have for its distinct keys to be counted.
const MAX_IN_LIST: usize = 1024;

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

    /// The lookups implied by the physical predicate `filter` over `schema` (the scan's
    /// output): the conjuncts that pin a BIGINT column, such as the
    /// `key >= 3 AND key <= 9 AND key IN (3, 9)` a hash join builds from its build side.
    /// Anything else in it is ignored; the operator that made the filter still applies
    /// its own condition to every row.
    pub(crate) fn from_physical(schema: &Schema, filter: &Arc<dyn PhysicalExpr>) -> Vec<KeyLookup> {
        let mut lookups = Vec::new();
        collect_physical(schema, filter, &mut lookups);
        lookups
    }
}

fn collect_physical(schema: &Schema, expr: &Arc<dyn PhysicalExpr>, lookups: &mut Vec<KeyLookup>) {
    match (**expr).downcast_ref::<PhysicalBinary>() {
        Some(binary) if *binary.op() == Operator::And => {
            collect_physical(schema, binary.left(), lookups);
            collect_physical(schema, binary.right(), lookups);
        }
        _ => lookups.extend(pinned_physical(schema, expr)),
    }
}

/// The keys the physical predicate `expr` alone pins a column to: `col = 1`,
/// `col IN (1, 2)`, or a disjunction of such on one column.
fn pinned_physical(schema: &Schema, expr: &Arc<dyn PhysicalExpr>) -> Option<KeyLookup> {
    if let Some(binary) = (**expr).downcast_ref::<PhysicalBinary>() {
        return match binary.op() {
            Operator::Eq => pinned_by_equality(
                binary.left(),
                binary.right(),
                |side| physical_bigint_column(schema, side),
                physical_key,
            ),
            Operator::Or => {
                let either = pinned_physical(schema, binary.left())?;
                let or = pinned_physical(schema, binary.right())?;
                merge_disjuncts(either, or)
            }
            _ => None,
        };
    }
    // A hash join's list is its build side's key column as it is: repeats and NULLs
    // (which match nothing) are dropped before counting.
    let in_list = (**expr).downcast_ref::<InListExpr>()?;
    if in_list.negated() || in_list.len() > MAX_IN_LIST {
        return None;
    }
    let column = physical_bigint_column(schema, in_list.expr())?;
    let mut keys = Vec::with_capacity(in_list.len());
    for item in in_list.list() {
        match (**item).downcast_ref::<PhysicalLiteral>() {
            Some(literal) if literal.value().is_null() => {}
            _ => keys.push(physical_key(item)?),
        }
    }
    keys.sort_unstable();
    keys.dedup();
    (keys.len() <= MAX_KEYS).then_some(KeyLookup { column, keys })
}

/// The index of the BIGINT column the physical `expr` is.
fn physical_bigint_column(schema: &Schema, expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    let column = (**expr).downcast_ref::<PhysicalColumn>()?;
    let field = schema.fields().get(column.index())?;
    (field.data_type() == &DataType::Int64).then_some(column.index())
}

/// A physical integer literal that fits a BIGINT.
fn physical_key(expr: &Arc<dyn PhysicalExpr>) -> Option<i64> {
    scalar_key((**expr).downcast_ref::<PhysicalLiteral>()?.value())
}

/// The key `left = right` pins a BIGINT column to, a column on one side and a key on the
/// other (logical and physical expressions alike).
fn pinned_by_equality<E>(
    left: E,
    right: E,
    column_of: impl Fn(E) -> Option<usize>,
    key_of: impl Fn(E) -> Option<i64>,
) -> Option<KeyLookup>
where
    E: Copy,
{
    let (column, key) = match (column_of(left), column_of(right)) {
        (Some(column), None) => (column, key_of(right)?),
        (None, Some(column)) => (column, key_of(left)?),
        _ => return None,
    };
    Some(KeyLookup {
        column,
        keys: vec![key],
    })
}

/// The lookup of `either` or `or`, when both are on one column and not too many keys.
fn merge_disjuncts(mut either: KeyLookup, or: KeyLookup) -> Option<KeyLookup> {
    if either.column != or.column || either.keys.len() + or.keys.len() > MAX_KEYS {
        return None;
    }
    either.keys.extend(or.keys);
    Some(either)
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
        }) => pinned_by_equality(
            left.as_ref(),
            right.as_ref(),
            |side| bigint_column(schema, side),
            key_of,
        ),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let either = pinned(schema, left)?;
            let or = pinned(schema, right)?;
            merge_disjuncts(either, or)
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
    scalar_key(value)
}

/// An integer value that fits a BIGINT.
fn scalar_key(value: &ScalarValue) -> Option<i64> {
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

    mod physical {
        use super::*;
        use datafusion::physical_expr::expressions::{
            CastExpr, IsNullExpr, col as pcol, lit as plit,
        };
        use datafusion::physical_plan::expressions::{binary, in_list};

        fn and(left: Arc<dyn PhysicalExpr>, right: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
            binary(left, Operator::And, right, &schema()).expect("and")
        }

        fn cmp(name: &str, op: Operator, value: i64) -> Arc<dyn PhysicalExpr> {
            let schema = schema();
            binary(
                pcol(name, &schema).expect("column"),
                op,
                plit(value),
                &schema,
            )
            .expect("cmp")
        }

        fn keys_in(name: &str, keys: &[ScalarValue], negated: bool) -> Arc<dyn PhysicalExpr> {
            let schema = schema();
            let list = keys.iter().map(|k| plit(k.clone())).collect();
            in_list(
                pcol(name, &schema).expect("column"),
                list,
                &negated,
                &schema,
            )
            .expect("in")
        }

        #[test]
        fn a_hash_joins_bounds_and_key_list_pin_its_keys() {
            // What DataFusion 55 pushes to a probe scan once a build side is known.
            let keys = [ScalarValue::Int64(Some(9)), ScalarValue::Int64(Some(3))];
            let filter = and(
                and(
                    cmp("order_id", Operator::GtEq, 3),
                    cmp("order_id", Operator::LtEq, 9),
                ),
                keys_in("order_id", &keys, false),
            );
            assert_eq!(
                KeyLookup::from_physical(&schema(), &filter),
                vec![KeyLookup {
                    column: 2,
                    keys: vec![3, 9]
                }]
            );
            let either = binary(
                cmp("user_id", Operator::Eq, 1),
                Operator::Or,
                cmp("user_id", Operator::Eq, 2),
                &schema(),
            )
            .expect("or");
            let with_null = keys_in(
                "user_id",
                &[ScalarValue::Int64(None), ScalarValue::Int64(Some(5))],
                false,
            );
            assert_eq!(
                KeyLookup::from_physical(&schema(), &and(either, with_null)),
                vec![
                    KeyLookup {
                        column: 0,
                        keys: vec![1, 2]
                    },
                    KeyLookup {
                        column: 0,
                        keys: vec![5]
                    },
                ]
            );
        }

        #[test]
        fn a_build_side_list_counts_its_distinct_keys_and_nulls_match_nothing() {
            // 130 items, 6 distinct keys and NULLs: as a join's build column gives them.
            let column: Vec<ScalarValue> = (0..130)
                .map(|i| match i % 7 {
                    6 => ScalarValue::Int64(None),
                    k => ScalarValue::Int64(Some(k * 10)),
                })
                .collect();
            assert_eq!(
                KeyLookup::from_physical(&schema(), &keys_in("order_id", &column, false)),
                vec![KeyLookup {
                    column: 2,
                    keys: vec![0, 10, 20, 30, 40, 50]
                }]
            );
            // Only NULLs: no row can pass, and no segment needs reading.
            let nulls = [ScalarValue::Int64(None), ScalarValue::Int64(None)];
            assert_eq!(
                KeyLookup::from_physical(&schema(), &keys_in("order_id", &nulls, false)),
                vec![KeyLookup {
                    column: 2,
                    keys: vec![]
                }]
            );
        }

        #[test]
        fn what_does_not_pin_a_key_is_ignored() {
            let schema = schema();
            let many: Vec<ScalarValue> = (0..=MAX_KEYS as i64)
                .map(|k| ScalarValue::Int64(Some(k)))
                .collect();
            let cast = Arc::new(CastExpr::new(
                pcol("user_id", &schema).unwrap(),
                DataType::Int32,
                None,
            ));
            // A null-equal join's filter keeps probe NULLs: `key IS NULL OR (...)`.
            let keys = keys_in("order_id", &[ScalarValue::Int64(Some(1))], false);
            let is_null = Arc::new(IsNullExpr::new(pcol("order_id", &schema).unwrap()));
            let null_or_keys = binary(is_null, Operator::Or, keys, &schema).unwrap();
            let filters = [
                null_or_keys,
                plit(true),
                keys_in("order_id", &many, false),
                keys_in("order_id", &[ScalarValue::Int64(Some(1))], true),
                cmp("order_id", Operator::NotEq, 1),
                binary(
                    cmp("user_id", Operator::Eq, 1),
                    Operator::Or,
                    cmp("order_id", Operator::Eq, 2),
                    &schema,
                )
                .unwrap(),
                binary(cast, Operator::Eq, plit(1i32), &schema).unwrap(),
                binary(
                    pcol("channel", &schema).unwrap(),
                    Operator::Eq,
                    plit("app"),
                    &schema,
                )
                .unwrap(),
            ];
            for filter in filters {
                assert_eq!(
                    KeyLookup::from_physical(&schema, &filter),
                    vec![],
                    "{filter}"
                );
            }
        }
    }
}
