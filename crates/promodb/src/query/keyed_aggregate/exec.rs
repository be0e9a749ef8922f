//! `KeyedAggregateExec`: a DataFusion `AggregateExec` grouped by integer-like or text
//! keys, run over promodb's group tables.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{GroupsAccumulatorAdapter, OrderingRequirements, PhysicalExpr};
use datafusion::physical_plan::aggregates::{
    AggregateExec, AggregateInputMode, AggregateOutputMode, aggregate_expressions,
};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::key_groups::KeyGroups;

/// Runs the aggregation `aggregate` describes (its mode, keys, aggregates, filters and
/// output schema are all its own) with promodb group tables for its keys in place
/// of DataFusion's. Built only by [`super::KeyedAggregation`], for plans it accepts.
#[derive(Debug)]
pub(crate) struct KeyedAggregateExec {
    aggregate: Arc<AggregateExec>,
    metrics: ExecutionPlanMetricsSet,
}

impl KeyedAggregateExec {
    pub(super) fn new(aggregate: Arc<AggregateExec>) -> Self {
        Self {
            aggregate,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for KeyedAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        if matches!(t, DisplayFormatType::Default | DisplayFormatType::Verbose) {
            // "KeyedAggregateExec: mode=..., gby=[...], aggr=[...]"
            write!(f, "Keyed")?;
        }
        self.aggregate.fmt_as(t, f)
    }
}

impl ExecutionPlan for KeyedAggregateExec {
    fn name(&self) -> &str {
        "KeyedAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.aggregate.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.aggregate.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.aggregate.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.aggregate.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.aggregate.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.aggregate.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.aggregate.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let aggregate = aggregate_over(&self.aggregate, children, options)?;
        Ok(Arc::new(Self::new(aggregate)))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self
            .aggregate
            .input()
            .execute(partition, Arc::clone(&context))?;
        let reservation = MemoryConsumer::new(format!("KeyedAggregateExec[{partition}]"))
            .register(context.memory_pool());
        let mut run = AggregationRun::new(
            &self.aggregate,
            reservation,
            BaselineMetrics::new(&self.metrics, partition),
        )?;
        let batch_size = context.session_config().batch_size();
        let output = stream::once(async move {
            let mut input = input;
            while let Some(batch) = input.next().await {
                run.consume(&batch?)?;
            }
            run.finish(batch_size)
        })
        .map_ok(|batches| stream::iter(batches.into_iter().map(Ok)))
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            output,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// `aggregate` with its children replaced, still an `AggregateExec` (the plan a
/// promodb aggregation runs).
pub(super) fn aggregate_over(
    aggregate: &Arc<AggregateExec>,
    children: Vec<Arc<dyn ExecutionPlan>>,
    options: ReplaceChildrenOptions,
) -> Result<Arc<AggregateExec>> {
    let replaced = Arc::clone(aggregate).replace_children(children, options)?;
    let Some(aggregate) = replaced.downcast_ref::<AggregateExec>() else {
        return internal_err!(
            "AggregateExec::replace_children returned {}",
            replaced.name()
        );
    };
    Ok(Arc::new(aggregate.clone()))
}

/// One partition's aggregation: the groups, one accumulator per aggregate, and what
/// each needs from an input batch.
struct AggregationRun {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    input_mode: AggregateInputMode,
    output_mode: AggregateOutputMode,
    accumulators: Vec<AggregateInput>,
    groups: KeyGroups,
    batch_groups: Vec<usize>,
    output_schema: SchemaRef,
    reservation: MemoryReservation,
    metrics: BaselineMetrics,
}

/// An aggregate's accumulator and the expressions it is fed: its arguments (raw input)
/// or its state columns (partial input), and its `FILTER`.
struct AggregateInput {
    accumulator: Box<dyn GroupsAccumulator>,
    arguments: Vec<Arc<dyn PhysicalExpr>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
}

/// The aggregate's grouped accumulator, or (as DataFusion does) its per-group
/// accumulators behind an adapter when it has none (e.g. `count(DISTINCT text)`).
fn groups_accumulator(expr: &Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>> {
    if expr.groups_accumulator_supported() {
        return expr.create_groups_accumulator();
    }
    let expr = Arc::clone(expr);
    Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
        expr.create_accumulator()
    })))
}

impl AggregationRun {
    fn new(
        aggregate: &AggregateExec,
        reservation: MemoryReservation,
        metrics: BaselineMetrics,
    ) -> Result<Self> {
        let keys: Vec<_> = aggregate
            .group_expr()
            .expr()
            .iter()
            .map(|(key, _)| Arc::clone(key))
            .collect();
        let input_schema = aggregate.input().schema();
        let mode = aggregate.mode();
        // A partial state's columns follow the keys.
        let arguments = aggregate_expressions(aggregate.aggr_expr(), mode, keys.len())?;
        let accumulators = aggregate
            .aggr_expr()
            .iter()
            .zip(arguments)
            .zip(aggregate.filter_expr())
            .map(|((expr, arguments), filter)| {
                Ok(AggregateInput {
                    accumulator: groups_accumulator(expr)?,
                    arguments,
                    // A filter applies where rows are read; state rows already passed it.
                    filter: match mode.input_mode() {
                        AggregateInputMode::Raw => filter.clone(),
                        AggregateInputMode::Partial => None,
                    },
                })
            })
            .collect::<Result<_>>()?;
        let key_types = keys
            .iter()
            .map(|key| key.data_type(&input_schema))
            .collect::<Result<Vec<_>>>()?;
        let Some(groups) = KeyGroups::for_types(&key_types) else {
            return internal_err!("KeyedAggregateExec has no group tables for {key_types:?}");
        };
        Ok(Self {
            keys,
            input_mode: mode.input_mode(),
            output_mode: mode.output_mode(),
            accumulators,
            groups,
            batch_groups: Vec::new(),
            output_schema: aggregate.schema(),
            reservation,
            metrics,
        })
    }

    fn consume(&mut self, batch: &RecordBatch) -> Result<()> {
        let _timer = self.metrics.elapsed_compute().timer();
        let rows = batch.num_rows();
        let keys = self
            .keys
            .iter()
            .map(|key| key.evaluate(batch)?.into_array(rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        self.groups.intern(&keys, &mut self.batch_groups)?;
        let total_groups = self.groups.len();
        for input in &mut self.accumulators {
            let values = input
                .arguments
                .iter()
                .map(|argument| argument.evaluate(batch)?.into_array(rows))
                .collect::<Result<Vec<ArrayRef>>>()?;
            let filter = match &input.filter {
                Some(filter) => Some(filter.evaluate(batch)?.into_array(rows)?),
                None => None,
            };
            let filter = filter.as_ref().map(|filter| filter.as_boolean());
            match self.input_mode {
                AggregateInputMode::Raw => input.accumulator.update_batch(
                    &values,
                    &self.batch_groups,
                    filter,
                    total_groups,
                )?,
                AggregateInputMode::Partial => {
                    input
                        .accumulator
                        .merge_batch(&values, &self.batch_groups, total_groups)?
                }
            }
        }
        let held = self.groups.size()
            + self
                .accumulators
                .iter()
                .map(|input| input.accumulator.size())
                .sum::<usize>();
        self.reservation.try_resize(held)
    }

    /// Every group's key and aggregates, in batches of at most `batch_size` rows.
    fn finish(mut self, batch_size: usize) -> Result<Vec<RecordBatch>> {
        let timer = self.metrics.elapsed_compute().timer();
        if self.groups.len() == 0 {
            return Ok(Vec::new());
        }
        let mut columns = self.groups.take_keys()?;
        for input in &mut self.accumulators {
            match self.output_mode {
                AggregateOutputMode::Partial => {
                    columns.extend(input.accumulator.state(EmitTo::All)?)
                }
                AggregateOutputMode::Final => {
                    columns.push(input.accumulator.evaluate(EmitTo::All)?)
                }
            }
        }
        let output = RecordBatch::try_new(Arc::clone(&self.output_schema), columns)?;
        self.reservation.free();
        timer.done();
        self.metrics.record_output(output.num_rows());
        let batch_size = batch_size.max(1);
        Ok((0..output.num_rows())
            .step_by(batch_size)
            .map(|offset| output.slice(offset, batch_size.min(output.num_rows() - offset)))
            .collect())
    }
}
