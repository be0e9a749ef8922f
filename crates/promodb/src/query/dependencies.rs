//! Which canonical tables a plan reads, through views and subqueries.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::{ViewTable, source_as_provider};
use datafusion::logical_expr::LogicalPlan;

use super::provider::PromoTable;
use crate::schema::Table;

/// The canonical tables `plan` scans, directly or through views (built-in or created
/// with SQL) and subqueries; sorted, without duplicates.
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
        Ok(TreeNodeRecursion::Continue)
    });
}
