//! Sorts by fixed-width keys (integers, timestamps, decimals, floats) on packed
//! integer keys.
//!
//! Window functions over whole tables (`ntile(5) OVER (ORDER BY monetary, user_id)` in
//! the RFM view) and `ORDER BY` of many rows sort by two or more such columns. DataFusion
//! 55 sorts each 8k-row batch with arrow's lexicographic comparator, two calls through
//! per-column comparators per comparison, then merges the batches: in 10_rfm_segments
//! the comparator alone was 30% of the query and the sorts about 45% (perf).
//! [`PackedKeySort`] is a physical optimizer rule that hands each full sort (no
//! `LIMIT`) by packable columns to a [`PackedSortExec`]: it gathers the partition's
//! rows, packs each row's key columns and index into one integer
//! ([`packed_keys`]) and sorts those. A key too wide to pack is sorted by arrow's
//! lexicographic sort, over all the rows at once.

mod exec;
mod packed_keys;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::sorts::sort::SortExec;

use exec::PackedSortExec;

/// Replaces every `SortExec` without a fetch whose sort expressions are all packable
/// with a [`PackedSortExec`]. Left to DataFusion: `ORDER BY ... LIMIT` (its TopK) and
/// sorts by text or nested values.
#[derive(Debug, Default)]
pub(crate) struct PackedKeySort;

impl PhysicalOptimizerRule for PackedKeySort {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| {
            let Some(sort) = plan.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(plan));
            };
            let input_schema = sort.input().schema();
            let mut packable = sort.fetch().is_none();
            for sort_expr in sort.expr().iter() {
                packable &= packed_keys::is_packable(&sort_expr.expr.data_type(&input_schema)?);
            }
            if !packable {
                return Ok(Transformed::no(plan));
            }
            let sort = Arc::new(sort.clone());
            Ok(Transformed::yes(Arc::new(PackedSortExec::new(sort)) as _))
        })
        .data()
    }

    fn name(&self) -> &str {
        "packed_key_sort"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
