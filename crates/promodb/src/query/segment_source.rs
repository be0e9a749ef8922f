//! The scan of a canonical table's segments in memory. It reads what DataFusion's memory
//! scan reads, and also takes the runtime filter a hash join pushes to its probe side:
//! once the join's build side is known (`order_id IN (...)` of one user's six orders),
//! each partition skips the segments whose key filters rule out every key in it, instead
//! of handing all their rows to the join to drop.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::Statistics;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSource;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr};
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_expr_common::physical_expr::snapshot_physical_expr;
use datafusion::physical_plan::execution_plan::SchedulingType;
use datafusion::physical_plan::filter_pushdown::{FilterPushdownPropagation, PushedDown};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayFormatType, Partitioning};
use futures::{FutureExt, StreamExt, TryStreamExt};

use super::key_lookup::KeyLookup;
use crate::storage::Segment;

/// The in-memory scan of some segments of one table, dealt into partitions.
///
/// Everything a plan asks of a scan (partitions, statistics, projection, limit) is
/// answered by the [`MemorySourceConfig`] over the segments' batches. Runtime filters
/// (DataFusion's dynamic filters) pushed into it are all reported as not applied, so the
/// operator that made one still applies it. A partition reads them once, when first
/// polled, and skips the segments that cannot hold any key they pin. A filter that is
/// not complete yet (a probe side polled before its join's build side is done) pins
/// nothing, so an early read skips nothing. `EXPLAIN ANALYZE` shows the count as
/// `skipped_segments`.
///
/// It does not repartition: DataFusion's memory scan would regroup the batches by size,
/// away from their segments, and the provider already deals the segments over the
/// session's partitions.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSource {
    memory: MemorySourceConfig,
    /// Per partition, the segments behind `memory`'s batches, in the same order.
    segments: Arc<[Vec<Arc<Segment>>]>,
    runtime_filters: Vec<Arc<dyn PhysicalExpr>>,
    metrics: ExecutionPlanMetricsSet,
}

impl SegmentSource {
    /// The scan of `partitions` (segments per partition) as rows of `schema` (the
    /// table's schema when its provider was registered; later segments may have more
    /// columns, which are cut off), projected and limited.
    pub(crate) fn try_new(
        partitions: Vec<Vec<Arc<Segment>>>,
        schema: SchemaRef,
        projection: Option<Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Self> {
        let batches = partitions
            .iter()
            .map(|segments| batches_for_schema(segments, &schema))
            .collect::<DfResult<Vec<_>>>()?;
        let memory = MemorySourceConfig::try_new(&batches, schema, projection)?.with_limit(limit);
        Ok(SegmentSource {
            memory,
            segments: partitions.into(),
            runtime_filters: Vec::new(),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The memory scan it answers plans with.
    pub(crate) fn memory(&self) -> &MemorySourceConfig {
        &self.memory
    }

    /// Whether runtime filters were pushed into it.
    pub(crate) fn has_runtime_filters(&self) -> bool {
        !self.runtime_filters.is_empty()
    }

    fn with_memory(&self, memory: MemorySourceConfig) -> Self {
        SegmentSource {
            memory,
            ..self.clone()
        }
    }
}

/// The batches of `segments`, cut to the columns of `schema`.
fn batches_for_schema(segments: &[Arc<Segment>], schema: &SchemaRef) -> DfResult<Vec<RecordBatch>> {
    let columns = schema.fields().len();
    let prefix: Vec<usize> = (0..columns).collect();
    segments
        .iter()
        .map(|segment| {
            let batch = segment.batch();
            if batch.num_columns() == columns {
                Ok(batch.clone())
            } else {
                Ok(batch.project(&prefix)?)
            }
        })
        .collect()
}

/// The key lookups that `filters` imply now, on the table's columns. A filter counts
/// only once its producer has marked it complete (a hash join does so after its build
/// side is done, before the first probe row is read), and only for the one BIGINT column
/// it was made for. `filters` are over the scan's output: `projection` maps them back.
fn runtime_lookups(
    filters: &[Arc<dyn PhysicalExpr>],
    output_schema: &SchemaRef,
    projection: Option<&[usize]>,
) -> DfResult<Vec<KeyLookup>> {
    let mut lookups = Vec::new();
    for filter in filters {
        let Some((dynamic, key_column)) = key_filter(filter, output_schema) else {
            continue;
        };
        if dynamic.wait_complete().now_or_never().is_none() {
            continue;
        }
        let current = snapshot_physical_expr(Arc::clone(filter))?;
        lookups.extend(
            KeyLookup::from_physical(output_schema, &current)
                .into_iter()
                .filter(|lookup| lookup.column == key_column),
        );
    }
    if let Some(projection) = projection {
        for lookup in &mut lookups {
            lookup.column = projection[lookup.column];
        }
    }
    Ok(lookups)
}

/// `filter` as a runtime filter with its output column, when it is on one BIGINT column, such
/// as a hash join's on an integer key: the only kind that can pin keys. Any other (the
/// `ts` bounds of a `min(ts)` or a top-k by time, a join on two columns) is not taken,
/// so that its operator does not keep it up to date for nothing. A top-k or a min/max
/// on one BIGINT column cannot be told from a join's and is taken; its bounds never pin
/// keys.
fn key_filter<'a>(
    filter: &'a Arc<dyn PhysicalExpr>,
    schema: &SchemaRef,
) -> Option<(&'a DynamicFilterPhysicalExpr, usize)> {
    let dynamic = (**filter).downcast_ref::<DynamicFilterPhysicalExpr>()?;
    let [column] = dynamic.children()[..] else {
        return None;
    };
    let column = (**column).downcast_ref::<Column>()?;
    let field = schema.fields().get(column.index())?;
    (field.data_type() == &DataType::Int64).then_some((dynamic, column.index()))
}

impl DataSource for SegmentSource {
    fn open(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if self.runtime_filters.is_empty() || self.memory.fetch().is_some() {
            // With a limit, skipping would change which rows come first.
            return self.memory.open(partition, context);
        }
        let segments = self.segments.get(partition).cloned().unwrap_or_default();
        let filters = self.runtime_filters.clone();
        let table_schema = self.memory.original_schema();
        let output_schema = Arc::clone(self.memory.eq_properties().schema());
        let projection = self.memory.projection().clone();
        let skipped = MetricBuilder::new(&self.metrics).counter("skipped_segments", partition);
        let stream_schema = Arc::clone(&output_schema);
        let opening = async move {
            let lookups = runtime_lookups(&filters, &output_schema, projection.as_deref())?;
            let kept: Vec<Arc<Segment>> = segments
                .into_iter()
                .filter(|segment| {
                    let kept = lookups
                        .iter()
                        .all(|lookup| segment.may_contain_any(lookup.column, &lookup.keys));
                    if !kept {
                        skipped.add(1);
                    }
                    kept
                })
                .collect();
            let batches = batches_for_schema(&kept, &table_schema)?;
            MemorySourceConfig::try_new(&[batches], table_schema, projection)?.open(0, context)
        };
        let stream = futures::stream::once(opening).try_flatten().boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            stream_schema,
            stream,
        )))
    }

    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.memory.fmt_as(t, f)?;
        if self.runtime_filters.is_empty() {
            return Ok(());
        }
        let filters: Vec<String> = self.runtime_filters.iter().map(|f| f.to_string()).collect();
        match t {
            DisplayFormatType::TreeRender => writeln!(f, "runtime_filters={}", filters.join(", ")),
            _ => write!(f, ", runtime_filters=[{}]", filters.join(", ")),
        }
    }

    fn output_partitioning(&self) -> Partitioning {
        self.memory.output_partitioning()
    }

    fn eq_properties(&self) -> EquivalenceProperties {
        self.memory.eq_properties()
    }

    fn scheduling_type(&self) -> SchedulingType {
        self.memory.scheduling_type()
    }

    /// The memory scan's statistics; inexact once runtime filters may skip segments.
    fn partition_statistics(&self, partition: Option<usize>) -> DfResult<Arc<Statistics>> {
        let statistics = self.memory.partition_statistics(partition)?;
        if self.runtime_filters.is_empty() {
            return Ok(statistics);
        }
        Ok(Arc::new(Arc::unwrap_or_clone(statistics).to_inexact()))
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn DataSource>> {
        Some(Arc::new(
            self.with_memory(self.memory.clone().with_limit(limit)),
        ))
    }

    fn fetch(&self) -> Option<usize> {
        self.memory.fetch()
    }

    fn metrics(&self) -> ExecutionPlanMetricsSet {
        self.metrics.clone()
    }

    /// Projects like the memory scan, but not once runtime filters were taken: they are
    /// over the current output columns.
    fn try_swapping_with_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> DfResult<Option<Arc<dyn DataSource>>> {
        if !self.runtime_filters.is_empty() {
            return Ok(None);
        }
        let Some(projected) = self.memory.try_swapping_with_projection(projection)? else {
            return Ok(None);
        };
        Ok(projected
            .downcast_ref::<MemorySourceConfig>()
            .map(|memory| Arc::new(self.with_memory(memory.clone())) as Arc<dyn DataSource>))
    }

    /// Keeps the runtime (dynamic) filters among `filters` that may pin keys, unless the
    /// scan has a limit, and reports every filter as not applied.
    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn DataSource>>> {
        let not_applied = vec![PushedDown::No; filters.len()];
        let propagation = FilterPushdownPropagation::with_parent_pushdown_result(not_applied);
        if self.memory.fetch().is_some() {
            return Ok(propagation);
        }
        let output_schema = Arc::clone(self.memory.eq_properties().schema());
        let runtime: Vec<Arc<dyn PhysicalExpr>> = filters
            .into_iter()
            .filter(|filter| key_filter(filter, &output_schema).is_some())
            .collect();
        if runtime.is_empty() {
            return Ok(propagation);
        }
        let mut source = self.clone();
        source.runtime_filters.extend(runtime);
        Ok(propagation.with_updated_node(Arc::new(source)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        for filter in &self.runtime_filters {
            if f(filter)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        self.memory.apply_expressions(f)
    }
}
