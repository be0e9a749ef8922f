//! `PackedSortExec`: a DataFusion `SortExec` (no fetch) run on packed integer keys.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, UInt32Array, new_empty_array};
use datafusion::arrow::compute::{
    SortColumn, concat, interleave_record_batch, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::{LexOrdering, PhysicalExpr};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::packed_keys::sorted_indices;

/// Runs the sort `sort` describes (its expressions, partitioning and output are all
/// its own) over all of a partition's rows at once, on packed keys. Built only by
/// [`super::PackedKeySort`], for sorts without a fetch. The rows, keys and indices are
/// reserved from the memory pool but never spilled: a pool that refuses them fails the
/// query (promodb's sessions have an unbounded pool, as their tables are in memory).
#[derive(Debug)]
pub(crate) struct PackedSortExec {
    sort: Arc<SortExec>,
    metrics: ExecutionPlanMetricsSet,
}

impl PackedSortExec {
    pub(super) fn new(sort: Arc<SortExec>) -> Self {
        Self {
            sort,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for PackedSortExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        if matches!(t, DisplayFormatType::Default | DisplayFormatType::Verbose) {
            // "PackedSortExec: expr=[...], preserve_partitioning=[...]"
            write!(f, "Packed")?;
        }
        self.sort.fmt_as(t, f)
    }
}

impl ExecutionPlan for PackedSortExec {
    fn name(&self) -> &str {
        "PackedSortExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.sort.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.sort.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.sort.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.sort.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.sort.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.sort.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let replaced = Arc::clone(&self.sort).replace_children(children, options)?;
        let Some(sort) = replaced.downcast_ref::<SortExec>() else {
            return internal_err!("SortExec::replace_children returned {}", replaced.name());
        };
        Ok(Arc::new(Self::new(Arc::new(sort.clone()))))
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
        let input = self.sort.input().execute(partition, Arc::clone(&context))?;
        // As SortExec: rows already in the order asked for pass through.
        if self
            .sort
            .input()
            .equivalence_properties()
            .ordering_satisfy(self.sort.expr().clone())?
        {
            return Ok(input);
        }
        let reservation = MemoryConsumer::new(format!("PackedSortExec[{partition}]"))
            .register(context.memory_pool());
        let run = SortRun {
            schema: self.sort.input().schema(),
            expr: self.sort.expr().clone(),
            batch_size: context.session_config().batch_size().max(1),
            reservation,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let output = stream::once(async move {
            let mut input = input;
            let mut batches = Vec::new();
            while let Some(batch) = input.next().await {
                let batch = batch?;
                run.reservation.try_grow(batch.get_array_memory_size())?;
                batches.push(batch);
            }
            run.sort(batches)
        })
        .map_ok(stream::iter)
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

/// One partition's sort: what it sorts by and the memory its rows hold.
struct SortRun {
    /// The input's schema, which the sort expressions read.
    schema: SchemaRef,
    expr: LexOrdering,
    batch_size: usize,
    reservation: MemoryReservation,
    metrics: BaselineMetrics,
}

impl SortRun {
    /// The rows of `batches` in order, as batches of `batch_size` rows gathered on
    /// demand. Only the sort keys are put end to end; the rows stay in their batches.
    fn sort(
        self,
        batches: Vec<RecordBatch>,
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
        let timer = self.metrics.elapsed_compute().timer();
        let batches: Vec<RecordBatch> = batches
            .into_iter()
            .filter(|batch| batch.num_rows() > 0)
            .collect();
        let mut columns = Vec::with_capacity(self.expr.len());
        for sort_expr in self.expr.iter() {
            let mut parts = Vec::with_capacity(batches.len());
            for batch in &batches {
                parts.push(sort_expr.evaluate_to_sort_column(batch)?.values);
            }
            let parts: Vec<&dyn Array> = parts.iter().map(|part| part.as_ref()).collect();
            let values = match parts.as_slice() {
                [] => new_empty_array(&sort_expr.expr.data_type(&self.schema)?),
                parts => concat(parts)?,
            };
            columns.push(SortColumn {
                values,
                options: Some(sort_expr.options),
            });
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        // The keys, and the packed keys and indices while they are sorted.
        let sorting_bytes = columns
            .iter()
            .map(|column| column.values.get_array_memory_size())
            .sum::<usize>()
            + rows * 2 * size_of::<u128>();
        self.reservation.try_grow(sorting_bytes)?;
        let indices = match sorted_indices(&columns) {
            Some(indices) => UInt32Array::from(indices),
            None => lexsort_to_indices(&columns, None)?,
        };
        drop(columns);
        self.reservation
            .shrink(sorting_bytes.saturating_sub(indices.get_array_memory_size()));
        timer.done();
        let Self {
            batch_size,
            reservation,
            metrics,
            ..
        } = self;
        // The first row of each batch, counted over all of them.
        let starts: Vec<usize> = batches
            .iter()
            .scan(0, |start, batch| {
                let first = *start;
                *start += batch.num_rows();
                Some(first)
            })
            .collect();
        Ok((0..indices.len()).step_by(batch_size).map(move |start| {
            // The reservation lives in this closure: the rows are held until the last
            // chunk is gathered.
            let _held = &reservation;
            let _timer = metrics.elapsed_compute().timer();
            let chunk = indices.slice(start, batch_size.min(indices.len() - start));
            let batch = match batches.as_slice() {
                [only] => take_record_batch(only, &chunk)?,
                _ => {
                    let sources: Vec<&RecordBatch> = batches.iter().collect();
                    let rows: Vec<(usize, usize)> = chunk
                        .values()
                        .iter()
                        .map(|&row| {
                            let row = row as usize;
                            let batch = starts.partition_point(|&first| first <= row) - 1;
                            (batch, row - starts[batch])
                        })
                        .collect();
                    interleave_record_batch(&sources, &rows)?
                }
            };
            metrics.record_output(batch.num_rows());
            Ok(batch)
        }))
    }
}
