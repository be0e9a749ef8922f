//! The `ts` range a query's filters allow, used to skip whole segments.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

/// An inclusive range of `ts` in microseconds since the epoch; unbounded ends are the
/// extreme `i64` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Smallest `ts` a row may have to pass the filters.
    pub lo: i64,
    /// Largest `ts` a row may have to pass the filters.
    pub hi: i64,
}

impl TimeRange {
    /// Every timestamp.
    pub const ALL: TimeRange = TimeRange {
        lo: i64::MIN,
        hi: i64::MAX,
    };

    /// The range on `column` implied by the conjunction of `filters`. Filters it does not
    /// understand leave the range as it is (they are applied later by the engine anyway).
    pub fn from_filters(column: &str, filters: &[Expr]) -> TimeRange {
        let mut range = TimeRange::ALL;
        for filter in filters {
            range.narrow(column, filter);
        }
        range
    }

    /// Whether no timestamp satisfies the range.
    pub fn is_empty(&self) -> bool {
        self.lo > self.hi
    }

    fn narrow(&mut self, column: &str, expr: &Expr) {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if *op == Operator::And {
                    self.narrow(column, left);
                    self.narrow(column, right);
                    return;
                }
                let (op, value) = match (is_column(left, column), is_column(right, column)) {
                    (true, false) => (*op, micros(right)),
                    (false, true) => match op.swap() {
                        Some(swapped) => (swapped, micros(left)),
                        None => return,
                    },
                    _ => return,
                };
                let Some((floor, ceil)) = value else { return };
                match op {
                    Operator::Eq => {
                        self.lo = self.lo.max(floor);
                        self.hi = self.hi.min(ceil);
                    }
                    Operator::Gt | Operator::GtEq => self.lo = self.lo.max(floor),
                    Operator::Lt | Operator::LtEq => self.hi = self.hi.min(ceil),
                    _ => {}
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_column(expr, column) => {
                if let Some((floor, _)) = micros(low) {
                    self.lo = self.lo.max(floor);
                }
                if let Some((_, ceil)) = micros(high) {
                    self.hi = self.hi.min(ceil);
                }
            }
            _ => {}
        }
    }
}

fn is_column(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Column(c) if c.name == name)
}

/// A timestamp literal as microseconds, rounded both ways (floor, ceil) so that a bound
/// in a finer unit never prunes a segment it should keep.
fn micros(expr: &Expr) -> Option<(i64, i64)> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let (value, per_micro_num, per_micro_den): (i64, i64, i64) = match value {
        ScalarValue::TimestampMicrosecond(Some(v), _) => (*v, 1, 1),
        ScalarValue::TimestampNanosecond(Some(v), _) => (*v, 1, 1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => (*v, 1_000, 1),
        ScalarValue::TimestampSecond(Some(v), _) => (*v, 1_000_000, 1),
        _ => return None,
    };
    if per_micro_den > 1 {
        let floor = value.div_euclid(per_micro_den);
        let ceil = floor + i64::from(value.rem_euclid(per_micro_den) != 0);
        Some((floor, ceil))
    } else {
        let scaled = value.saturating_mul(per_micro_num);
        Some((scaled, scaled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn ts(v: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(
            Some(v),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn narrows_on_comparisons_between_and_conjunctions() {
        let filters = [col("ts").gt_eq(ts(10)).and(col("ts").lt(ts(20)))];
        assert_eq!(
            TimeRange::from_filters("ts", &filters),
            TimeRange { lo: 10, hi: 20 }
        );
        let flipped = [ts(15).lt_eq(col("ts"))];
        assert_eq!(TimeRange::from_filters("ts", &flipped).lo, 15);
        let between = [col("ts").between(ts(1), ts(2))];
        assert_eq!(
            TimeRange::from_filters("ts", &between),
            TimeRange { lo: 1, hi: 2 }
        );
    }

    #[test]
    fn ignores_what_it_cannot_bound() {
        let filters = [
            col("ts").gt(ts(5)).or(col("ts").lt(ts(1))),
            col("other").gt(ts(5)),
            col("ts").not_eq(ts(3)),
            col("ts").not_between(ts(1), ts(2)),
        ];
        assert_eq!(TimeRange::from_filters("ts", &filters), TimeRange::ALL);
    }

    #[test]
    fn rounds_finer_units_outwards() {
        let ns = |v| lit(ScalarValue::TimestampNanosecond(Some(v), None));
        let filters = [col("ts").gt_eq(ns(1_500)), col("ts").lt_eq(ns(2_500))];
        assert_eq!(
            TimeRange::from_filters("ts", &filters),
            TimeRange { lo: 1, hi: 3 }
        );
    }
}
