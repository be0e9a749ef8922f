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
use futures::{StreamExt, TryStreamExt};

use super::key_lookup::KeyLookup;
use crate::storage::Segment;

/// The in-memory scan of some segments of one table, dealt into partitions.
///
/// Everything a plan asks of a scan (partitions, statistics, projection, limit) is
/// answered by the [`MemorySourceConfig`] over the segments' batches. Runtime filters
/// (DataFusion's dynamic filters) pushed into it are all reported as not applied, so the
/// operator that made one still applies it; a partition reads them when first polled,
/// which for a hash join's probe side is after the build side is complete, and skips
/// the segments that cannot hold any key they pin. `EXPLAIN ANALYZE` shows the count as
/// `skipped_segments`.
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
    segments
        .iter()
        .map(|segment| {
            let batch = segment.batch();
            match batch.num_columns() == columns {
                true => Ok(batch.clone()),
                false => Ok(batch.project(&(0..columns).collect::<Vec<_>>())?),
            }
        })
        .collect()
}

/// The key lookups the current state of `filters` implies, on the table's columns
/// (`filters` are over the scan's output: `projection` maps them back).
fn runtime_lookups(
    filters: &[Arc<dyn PhysicalExpr>],
    output_schema: &SchemaRef,
    projection: Option<&[usize]>,
) -> DfResult<Vec<KeyLookup>> {
    let mut lookups = Vec::new();
    for filter in filters {
        let current = snapshot_physical_expr(Arc::clone(filter))?;
        lookups.extend(KeyLookup::from_physical(output_schema, &current));
    }
    for lookup in &mut lookups {
        if let Some(projection) = projection {
            lookup.column = projection[lookup.column];
        }
    }
    Ok(lookups)
}

/// Whether `filter` is a runtime filter over BIGINT columns only, such as a hash join's on
/// its integer keys: the only kind that can pin keys. Any other (the `ts` bounds of a
/// `min(ts)` or a top-k) is left alone, so that its operator does not keep it up to date
/// for nothing.
fn may_pin_keys(filter: &Arc<dyn PhysicalExpr>, schema: &SchemaRef) -> bool {
    let Some(dynamic) = (**filter).downcast_ref::<DynamicFilterPhysicalExpr>() else {
        return false;
    };
    let columns = dynamic.children();
    !columns.is_empty()
        && columns.iter().all(|column| {
            (***column)
                .downcast_ref::<Column>()
                .and_then(|column| schema.fields().get(column.index()))
                .is_some_and(|field| field.data_type() == &DataType::Int64)
        })
}

impl DataSource for SegmentSource {
    fn open(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if self.runtime_filters.is_empty() {
            return self.memory.open(partition, context);
        }
        let segments = self.segments.get(partition).cloned().unwrap_or_default();
        let filters = self.runtime_filters.clone();
        let table_schema = self.memory.original_schema();
        let output_schema = Arc::clone(self.memory.eq_properties().schema());
        let projection = self.memory.projection().clone();
        let fetch = self.memory.fetch();
        let skipped = MetricBuilder::new(&self.metrics).counter("skipped_segments", partition);
        let schema = Arc::clone(&output_schema);
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
            MemorySourceConfig::try_new(&[batches], table_schema, projection)?
                .with_limit(fetch)
                .open(0, context)
        };
        let stream = futures::stream::once(opening).try_flatten().boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
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

    fn partition_statistics(&self, partition: Option<usize>) -> DfResult<Arc<Statistics>> {
        self.memory.partition_statistics(partition)
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

    /// Keeps the runtime (dynamic) filters among `filters` that it may use, and reports
    /// every filter as not applied.
    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn DataSource>>> {
        let not_applied = vec![PushedDown::No; filters.len()];
        let output_schema = Arc::clone(self.memory.eq_properties().schema());
        let runtime: Vec<Arc<dyn PhysicalExpr>> = filters
            .into_iter()
            .filter(|filter| may_pin_keys(filter, &output_schema))
            .collect();
        let propagation = FilterPushdownPropagation::with_parent_pushdown_result(not_applied);
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
