//! Computing a repeated aggregation once per query.
//!
//! A query that reads one view twice plans it twice: `stock_risk` sums `current_stock`,
//! and a query that joins `stock_risk` with `current_stock` again (05_stock_risk of the
//! suite) aggregates the 2M inventory snapshots twice. DataFusion 55 has no shared
//! subplans. [`ShareRepeatedAggregates`] is a physical optimizer rule that finds
//! complete aggregations appearing more than once, identical in plan and schema, and
//! wraps each copy in a [`SharedSubplanExec`]: the first copy executed runs the
//! aggregation (all its partitions) and keeps its output; the other copies replay it.
//!
//! It runs before DataFusion's late filter pushdown, so a join's dynamic filter cannot
//! reach inside a shared aggregation (it would drop rows another reader needs), and a
//! shared copy takes no filter from above. Only aggregations over memory and Parquet
//! scans are shared, never ones with volatile expressions (`random()`) or scalar
//! subqueries.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, HashMap, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
use datafusion::datasource::source::{DataSource, DataSourceExec};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::scalar_subquery::ScalarSubqueryExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream, collect_partitioned, displayable,
};
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, stream};

use super::segment_source::SegmentSource;

/// Wraps every complete aggregation that appears more than once in the plan in a
/// [`SharedSubplanExec`] shared by its copies.
#[derive(Debug, Default)]
pub(crate) struct ShareRepeatedAggregates;

impl PhysicalOptimizerRule for ShareRepeatedAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Each node's key, by the node's address (the plan holds every node, and the
        // rewrite below visits the same nodes), so that no key is computed twice.
        let mut keys: HashMap<usize, String> = HashMap::new();
        let mut copies: HashMap<String, usize> = HashMap::new();
        plan.apply(|node| {
            if let Some(key) = shareable_key(node)? {
                *copies.entry(key.clone()).or_default() += 1;
                keys.insert(address(node), key);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let shared: HashMap<String, Arc<SharedResult>> = copies
            .into_iter()
            .filter(|(_, count)| *count > 1)
            .map(|(key, _)| (key, Arc::new(SharedResult::default())))
            .collect();
        if shared.is_empty() {
            return Ok(plan);
        }
        plan.transform_down(|node| {
            let result = keys.get(&address(&node)).and_then(|key| shared.get(key));
            let Some(result) = result else {
                return Ok(Transformed::no(node));
            };
            let exec = SharedSubplanExec {
                input: node,
                result: Arc::clone(result),
            };
            // The copy is shared whole: nothing inside it is shared again.
            Ok(Transformed::new(
                Arc::new(exec) as _,
                true,
                TreeNodeRecursion::Jump,
            ))
        })
        .data()
    }

    fn name(&self) -> &str {
        "share_repeated_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn address(node: &Arc<dyn ExecutionPlan>) -> usize {
    Arc::as_ptr(node) as *const () as usize
}

/// The identity of `node` if it is a complete aggregation that may be shared: its whole
/// plan as displayed, its output schema, and what each of its scans reads (a memory
/// scan displays only its batch counts, so the identity of its batches is added).
/// Refused: anything that reads other than a memory or Parquet scan (a recursive
/// query's work table, `information_schema`), and volatile expressions or scalar
/// subqueries (every one displays alike).
fn shareable_key(node: &Arc<dyn ExecutionPlan>) -> Result<Option<String>> {
    let complete = node
        .downcast_ref::<AggregateExec>()
        .is_some_and(|aggregate| {
            matches!(
                aggregate.mode(),
                AggregateMode::Final
                    | AggregateMode::FinalPartitioned
                    | AggregateMode::Single
                    | AggregateMode::SinglePartitioned
            )
        });
    if !complete {
        return Ok(None);
    }
    let mut key = displayable(node.as_ref()).indent(true).to_string();
    key.push_str(&format!("{:?}\n", node.schema()));
    let mut shareable = true;
    node.apply(|plan| {
        plan.apply_expressions(&mut |expr: &Arc<dyn PhysicalExpr>| {
            expr.apply(|e| {
                shareable &= !e.is_volatile_node() && !e.is::<ScalarSubqueryExpr>();
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        if plan.children().is_empty() {
            match scan_identity(plan) {
                Some(identity) => key.push_str(&identity),
                None => shareable = false,
            }
        }
        Ok(match shareable {
            true => TreeNodeRecursion::Continue,
            false => TreeNodeRecursion::Stop,
        })
    })?;
    Ok(shareable.then_some(key))
}

/// What a leaf of the plan reads, beyond what it displays: for a memory scan the
/// addresses of its columns (two scans of one snapshot share them; the plan keeps them
/// alive, so no other data can take them) and its projection and limit; nothing more for
/// a Parquet scan, which displays its files, byte ranges, projection, limit and
/// predicate. `None` for any other leaf, CSV and JSON scans included (they do not
/// display their delimiter or other options).
fn scan_identity(leaf: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let source = leaf.downcast_ref::<DataSourceExec>()?.data_source();
    if let Some(files) = source.downcast_ref::<FileScanConfig>() {
        return files.file_source().is::<ParquetSource>().then(String::new);
    }
    let memory = match source.downcast_ref::<SegmentSource>() {
        // Runtime filters arrive after the sharing rule has run; a scan that had one
        // would read differently from an equal-looking one.
        Some(segments) if segments.has_runtime_filters() => return None,
        Some(segments) => segments.memory(),
        None => source.downcast_ref::<MemorySourceConfig>()?,
    };
    let columns: Vec<usize> = memory
        .partitions()
        .iter()
        .flatten()
        .flat_map(|batch| {
            batch
                .columns()
                .iter()
                .map(|c| Arc::as_ptr(c) as *const () as usize)
        })
        .collect();
    Some(format!(
        "{columns:?} {:?} {:?}\n",
        memory.projection(),
        memory.fetch()
    ))
}

type Outcome = std::result::Result<Arc<Vec<Vec<RecordBatch>>>, Arc<DataFusionError>>;

/// The output of one shared aggregation, every partition of it, as one future that
/// every copy awaits: whichever copy polls drives it, and a copy dropped mid-way (a
/// cancelled or finished consumer) does not stop the others or make them start over
/// (the plan cannot run twice). One per run of the plan: a DataFusion 55 plan runs once
/// (a second run of a `RepartitionExec` panics) unless its run state is reset, and a
/// kept plan (`plan_cache`) runs as a fresh copy whose shared aggregations get a new
/// result ([`SharedSubplanExec::with_result_of_run`]). A recursive query's recursive
/// term, which is re-run each iteration, reads a work table, and so is never shared.
#[derive(Default)]
pub(crate) struct SharedResult {
    future: Mutex<Option<Shared<BoxFuture<'static, Outcome>>>>,
}

impl fmt::Debug for SharedResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedResult").finish_non_exhaustive()
    }
}

impl SharedResult {
    /// The shared run of `input`, started by the first copy to ask.
    fn run(
        &self,
        input: &Arc<dyn ExecutionPlan>,
        context: Arc<TaskContext>,
    ) -> Shared<BoxFuture<'static, Outcome>> {
        let mut future = self.future.lock().unwrap_or_else(|e| e.into_inner());
        let input = Arc::clone(input);
        future
            .get_or_insert_with(|| {
                async move {
                    collect_partitioned(input, context)
                        .await
                        .map(Arc::new)
                        .map_err(Arc::new)
                }
                .boxed()
                .shared()
            })
            .clone()
    }
}

/// One copy of a repeated aggregation: the first copy executed runs it for every copy,
/// keeping all its output in memory until the query ends.
pub(crate) struct SharedSubplanExec {
    input: Arc<dyn ExecutionPlan>,
    result: Arc<SharedResult>,
}

impl fmt::Debug for SharedSubplanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSubplanExec").finish_non_exhaustive()
    }
}

impl DisplayAs for SharedSubplanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedSubplanExec")
    }
}

impl SharedSubplanExec {
    /// This copy for a new run of its plan: every copy of one shared aggregation given a
    /// new result, one per run; `results` maps the old results to the new ones of this run.
    pub(crate) fn with_result_of_run(
        &self,
        results: &mut HashMap<usize, Arc<SharedResult>>,
    ) -> Arc<dyn ExecutionPlan> {
        let result = results
            .entry(Arc::as_ptr(&self.result) as usize)
            .or_default();
        Arc::new(SharedSubplanExec {
            input: Arc::clone(&self.input),
            result: Arc::clone(result),
        })
    }
}

impl ExecutionPlan for SharedSubplanExec {
    fn name(&self) -> &str {
        "SharedSubplanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Later rules rewrite every copy alike (they see the same plan), so the copies
        // still share one result.
        let input = children
            .pop()
            .filter(|_| children.is_empty())
            .ok_or_else(|| {
                DataFusionError::Internal("SharedSubplanExec takes one child".to_string())
            })?;
        Ok(Arc::new(SharedSubplanExec {
            input,
            result: Arc::clone(&self.result),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.input.output_partitioning().partition_count();
        if partition >= partitions {
            return Err(DataFusionError::Internal(format!(
                "SharedSubplanExec has {partitions} partitions, asked for {partition}"
            )));
        }
        let run = self.result.run(&self.input, context);
        let output = stream::once(async move {
            let batches = match run.await {
                Ok(outcome) => match outcome.get(partition) {
                    Some(batches) => batches.iter().cloned().map(Ok).collect(),
                    None => vec![Err(DataFusionError::Internal(format!(
                        "the shared result has {} partitions, asked for {partition}",
                        outcome.len()
                    )))],
                },
                Err(error) => vec![Err(DataFusionError::Shared(error))],
            };
            stream::iter(batches)
        })
        .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.input.schema(),
            output,
        )))
    }
}
