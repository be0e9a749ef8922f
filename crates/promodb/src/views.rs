//! The built-in metric views: one `.sql` file each (in `src/views/`), planned when a
//! database opens and visible to every SQL client like a table.
//!
//! Every column is defined as in `METRICS.md` (the header comment of each file spells out
//! its formulas and NULL rules); every ratio goes through `safe_div`, so a zero denominator
//! gives NULL. Views that need "now" take the latest `ts` in the data, so a replay or a test
//! gets the same answer at any wall-clock time. Built-in views cannot be dropped or
//! replaced: "GMV" must mean one thing in every query.
//!
//! | view | one row per | columns |
//! |---|---|---|
//! | `kpi_minute` | minute, first to last order | gmv, orders, buyers, units, aov, arpb |
//! | `channel_performance` | channel | impressions, clicks, cost, orders, gmv, cogs, ctr, cvr, cpc, cpa, roas, roi |
//! | `current_stock` | (sku_id, warehouse) | on_hand, as_of |
//! | `stock_risk` | sku_id | on_hand, sell_rate, minutes_to_stockout, days_of_cover |
//! | `stock_turn` | sku_id | category, units_sold, avg_on_hand, ending_on_hand, stock_turn_units, cogs, avg_stock_value, stock_turn_value, sell_through, stockout_intervals, snapshot_intervals, stockout_rate |
//! | `stock_turn_by_category` | category | the same sums and ratios per category |
//! | `payment_health` | (minute, method) | attempts, successes, success_rate |
//! | `refund_rate` | category | gmv, refund_amount, refund_rate_value, orders, refunded_orders, refund_rate_count |
//! | `category_mix` | category | gmv, share |
//! | `funnel_by_channel` | first-touch channel | users, viewed, added_to_cart, checked_out, paid, view_to_pay |
//! | `customer_rfm` | buyer (user_id) | last_order, recency, frequency, monetary, r_score, f_score, m_score, segment |

use std::sync::Arc;

use datafusion::datasource::ViewTable;
use datafusion::execution::context::SessionContext;

use crate::error::{Error, Result};

/// A built-in view: its name and the SQL `SELECT` that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinView {
    /// The name SQL refers to it by.
    pub name: &'static str,
    /// The defining query.
    pub sql: &'static str,
}

macro_rules! builtin_views {
    ($($name:literal),* $(,)?) => {
        /// Every built-in view, in dependency order (a view only reads views before it).
        pub const BUILTIN_VIEWS: &[BuiltinView] = &[
            $(BuiltinView { name: $name, sql: include_str!(concat!("views/", $name, ".sql")) },)*
        ];
    };
}

builtin_views!(
    "kpi_minute",
    "channel_performance",
    "current_stock",
    "stock_risk",
    "stock_turn",
    "stock_turn_by_category",
    "payment_health",
    "refund_rate",
    "category_mix",
    "funnel_by_channel",
    "customer_rfm",
);

/// Whether `name` is a built-in view.
pub fn is_builtin_view(name: &str) -> bool {
    BUILTIN_VIEWS.iter().any(|v| v.name == name)
}

/// Plans `view` in `ctx`, whose catalog must already hold every table and earlier view it
/// reads. Planning does no I/O: scans read the tables' snapshots when a query runs.
pub(crate) async fn plan_view(ctx: &SessionContext, view: &BuiltinView) -> Result<Arc<ViewTable>> {
    let plan = ctx
        .state()
        .create_logical_plan(view.sql)
        .await
        .map_err(|e| Error::Internal(format!("built-in view {} does not plan: {e}", view.name)))?;
    Ok(Arc::new(ViewTable::new(plan, Some(view.sql.to_string()))))
}
