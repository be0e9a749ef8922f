//! Which canonical tables a plan reads, through views and subqueries.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::{ViewTable, source_as_provider};
use datafusion::logical_expr::{Expr, LogicalPlan};

use super::provider::PromoTable;
use crate::functions::latest_ts;
use crate::schema::Table;

/// The canonical tables `plan` scans, directly or through views (built-in or created
/// with SQL) and subqueries, and those whose latest `ts` it reads (`latest_ts('orders')`:
/// a rule over payments since the latest order depends on orders too); sorted, without
/// duplicates.
pub(crate) fn tables_read(plan: &LogicalPlan) -> Vec<Table> {
    let mut tables = Vec::new();
    collect(plan, &mut tables);
    tables.sort();
    tables.dedup();
    tables
}

fn collect(plan: &LogicalPlan, tables: &mut Vec<Table>) {
    // The closure never fails.
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
        {
            if let Some(table) = provider.downcast_ref::<PromoTable>() {
                tables.push(table.table());
            } else if let Some(view) = provider.downcast_ref::<ViewTable>() {
                collect(view.logical_plan(), tables);
            }
        }
        let _ = node.apply_expressions(|expr| {
            expr.apply(|expr| {
                tables.extend(latest_ts_tables(expr));
                Ok(TreeNodeRecursion::Continue)
            })
        });
        Ok(TreeNodeRecursion::Continue)
    });
}

/// The canonical tables `expr` names, if it is a `latest_ts(...)` call.
fn latest_ts_tables(expr: &Expr) -> Vec<Table> {
    let Expr::ScalarFunction(call) = expr else {
        return Vec::new();
    };
    if call.func.name() != "latest_ts" {
        return Vec::new();
    }
    call.args
        .iter()
        .filter_map(|arg| match arg {
            Expr::Literal(value, _) => latest_ts::text(value)?.parse().ok(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_by(sql: &str) -> Vec<Table> {
        let db = crate::PromoDb::in_memory().unwrap();
        let frame = futures::executor::block_on(db.dataframe(sql)).unwrap();
        tables_read(frame.logical_plan())
    }

    #[test]
    fn tables_named_by_latest_ts_are_read_too() {
        assert_eq!(
            read_by(
                "SELECT count(*) FROM payments \
                 WHERE ts > latest_ts('orders') - INTERVAL '5 minutes'"
            ),
            [Table::Orders, Table::Payments]
        );
        assert_eq!(
            read_by("SELECT (SELECT latest_ts('inventory', 'orders')) AS now"),
            [Table::Orders, Table::Inventory]
        );
        // stock_risk scans both tables, and names them to latest_ts as well.
        assert_eq!(
            read_by("SELECT * FROM stock_risk"),
            [Table::Orders, Table::Inventory]
        );
    }
}
