//! `BucketedAggregateExec`: a one-stage aggregation by one key whose input rows are
//! dealt straight to the output partition that owns their key, and aggregated there a
//! few cache-sized buckets of keys at a time.
//!
//! Funnels and sequence patterns keep every row in their state, so a partial
//! aggregation shrinks nothing and they run in one stage. Behind DataFusion's hash
//! `RepartitionExec` that stage was most of the 4-step funnel over 10M events (perf,
//! share of the query's time): the repartition copied every row into new batches
//! (`partition_iter`, `take`, the copies and their page faults: about 15%), and one
//! aggregation over a partition's 250k users found each row's group (12%), copied the
//! row into its buffers (9%) and scattered the 10M rows to their users (10%).
//!
//! Here each input partition, on a task of its own, reads its rows once: it evaluates
//! the aggregate's arguments into compact rows (key, time, condition bits: 16 bytes
//! while the keys lie close together, see [`super::dealt_rows`]) and deals each
//! to its output partition, by DataFusion's own hash repartitioning function (so the
//! output is partitioned by the key exactly as a `RepartitionExec` would partition it,
//! and joins and aggregations above can rely on that), and to one of [`BUCKETS`] buckets
//! there, by other bits of the same hash. Then each output partition, on a task of its
//! own (so the partitions run in parallel whichever thread polls their streams), takes
//! its buckets a few at a time (about [`CHUNK_ROWS`] rows), finds the rows' groups with
//! promodb's group table (one per partition, emptied between chunks so that its slots
//! grow only once), buckets the rows by group and evaluates each group with the
//! aggregate's own evaluation (`EventAggregate::evaluate_rows`), all within the core's
//! cache. The condition bits of funnel steps that compare one text column with
//! literals come from one pass over that column (`ConditionBits`). No key is in two buckets, so each chunk's groups are final
//! when the chunk is done.
//!
//! One run of the plan executes each output partition once. The first `execute` of a
//! run makes the deal and the others share it; it starts when a stream first waits for
//! it. The streams hold it, so dropping them (a cancelled query) aborts its tasks and
//! frees the rows. A run that never executes some partition leaves its deal to the
//! next run (the same rows); a failed deal is started afresh.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::BatchCoalescer;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::hash_utils::create_hashes;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::repartition::REPARTITION_RANDOM_STATE;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    InputOrderMode, Partitioning, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use futures::future::{BoxFuture, Shared, try_join_all};
use futures::{FutureExt, StreamExt, TryStreamExt, stream};

use crate::functions::{ConditionBits, EventAggregate, event_aggregate};

use super::dealt_rows::{Buckets, DealtRow, KeyBase, NarrowRow, WideRow};
use super::exec::aggregate_over;
use super::group_table::GroupTable;
use super::int_keys::{is_integer_key, to_i64};
use super::int_table::IntGroupTable;

/// Buckets per output partition, chosen by the top bits of a row's key hash.
const BUCKETS: usize = 64;

/// How many rows an output partition gathers and aggregates at a time (whole buckets,
/// so a chunk can hold a few more): small enough that the chunk's groups, rows and group
/// table stay in the core's cache.
const CHUNK_ROWS: usize = 32 * 1024;

/// Runs the [`AggregateExec`] it holds (`SinglePartitioned`, over the raw input rows)
/// with its rows dealt by key hash to `partitions` output partitions. Built only by
/// [`super::KeyedAggregation`], for plans whose aggregation runs on a promodb group
/// table.
#[derive(Debug)]
pub(crate) struct BucketedAggregateExec {
    deal: Arc<RowDeal>,
    properties: Arc<PlanProperties>,
}

/// What the output partitions share: the aggregation, and the deal of its input rows.
#[derive(Debug)]
struct RowDeal {
    aggregate: Arc<AggregateExec>,
    /// The one aggregate, taken apart.
    events: EventAggregate,
    key_type: DataType,
    partitions: usize,
    metrics: ExecutionPlanMetricsSet,
    exchange: Mutex<Exchange>,
}

impl BucketedAggregateExec {
    /// `aggregate` (in mode `SinglePartitioned`) with its output hash partitioned by its
    /// key into `partitions` partitions, if it is one event-sequence aggregate (a funnel
    /// or sequence pattern) by one integer-like key.
    pub(super) fn try_new(
        aggregate: Arc<AggregateExec>,
        partitions: usize,
    ) -> Result<Option<Self>> {
        let input_schema = aggregate.input().schema();
        let ([(key, _)], [only]) = (aggregate.group_expr().expr(), aggregate.aggr_expr()) else {
            return Ok(None);
        };
        let key_type = key.data_type(&input_schema)?;
        let Some(events) = event_aggregate(only, &input_schema).transpose()? else {
            return Ok(None);
        };
        if !is_integer_key(&key_type)
            || partitions == 0
            || aggregate.schema().fields().len() != 2
            || *aggregate.input_order_mode() != InputOrderMode::Linear
        {
            return Ok(None);
        }
        let schema = aggregate.schema();
        let key = Arc::new(Column::new(schema.field(0).name(), 0)) as Arc<dyn PhysicalExpr>;
        let properties = aggregate
            .properties()
            .as_ref()
            .clone()
            .with_partitioning(Partitioning::Hash(vec![key], partitions));
        Ok(Some(Self {
            deal: Arc::new(RowDeal {
                aggregate,
                events,
                key_type,
                partitions,
                metrics: ExecutionPlanMetricsSet::new(),
                exchange: Mutex::new(Exchange::Idle),
            }),
            properties: Arc::new(properties),
        }))
    }
}

impl RowDeal {
    /// The deal and every output partition's batches, for one output partition's
    /// stream: the first `execute` of a run of the plan makes the deal, which starts (on
    /// tasks of its own) when a stream first waits for it, and every output partition of
    /// the run shares it. The streams hold it: once the last one is dropped its tasks are
    /// aborted and the rows are freed.
    fn dealt_rows(&self, context: &Arc<TaskContext>) -> Result<SharedDeal> {
        let mut exchange = self
            .exchange
            .lock()
            .map_err(|_| DataFusionError::Internal("BucketedAggregateExec lock".into()))?;
        // A run whose deal failed is not continued: the next execute starts afresh.
        let failed = matches!(&*exchange, Exchange::Dealing { dealt, .. }
            if matches!(dealt.peek(), Some(Err(_))));
        if failed || matches!(*exchange, Exchange::Idle) {
            *exchange = Exchange::Dealing {
                dealt: self.start(Arc::clone(context)),
                untaken: self.partitions,
            };
        }
        let Exchange::Dealing { dealt, untaken } = &mut *exchange else {
            return internal_err!("BucketedAggregateExec has no deal");
        };
        let dealt = dealt.clone();
        *untaken -= 1;
        if *untaken == 0 {
            *exchange = Exchange::Idle;
        }
        Ok(dealt)
    }

    /// The deal of every input partition, then the aggregation of every output
    /// partition, started when first awaited.
    fn start(&self, context: Arc<TaskContext>) -> SharedDeal {
        let input = Arc::clone(self.aggregate.input());
        let key = self
            .aggregate
            .group_expr()
            .expr()
            .first()
            .map(|(key, _)| Arc::clone(key));
        let arguments = self.aggregate.aggr_expr()[0].expressions();
        let ts_index = self.events.ts_index();
        let ts = Arc::clone(&arguments[ts_index]);
        let conditions = ConditionBits::new(&arguments[ts_index + 1..], &input.schema());
        let filter = self.aggregate.filter_expr()[0].clone();
        let events = self.events.clone();
        let chunks = ChunkAggregator {
            schema: self.aggregate.schema(),
            key_type: self.key_type.clone(),
            events: self.events.clone(),
        };
        let partitions = self.partitions;
        let metrics = self.metrics.clone();
        let batch_size = context.session_config().batch_size().max(1);
        let key_base = Arc::new(KeyBase::default());
        let all = async move {
            let Some(key) = key else {
                return internal_err!("BucketedAggregateExec needs exactly one group key");
            };
            let tasks = (0..input.output_partitioning().partition_count())
                .map(|source| {
                    let rows = input.execute(source, Arc::clone(&context))?;
                    let dealt = SourceDeal {
                        buckets: Buckets::narrow(0, 0),
                        reservation: MemoryConsumer::new(format!(
                            "BucketedAggregateExec deal[{source}]"
                        ))
                        .register(context.memory_pool()),
                        widened: MetricBuilder::new(&metrics).counter("widened", source),
                    };
                    let dealer = Dealer {
                        expected_rows: exact_rows(&input, source),
                        key: Arc::clone(&key),
                        ts: Arc::clone(&ts),
                        conditions: conditions.clone(),
                        filter: filter.clone(),
                        events: events.clone(),
                        partitions,
                        key_base: Arc::clone(&key_base),
                        time: MetricBuilder::new(&metrics).subset_time("deal_time", source),
                    };
                    Ok(SpawnedTask::spawn(dealer.deal(rows, dealt)))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut sources = join_each(tasks).await?;
            // One layout for every partition's rows: wide if any partition needed it.
            let base = key_base.get();
            let wide = sources.iter().any(|source| source.buckets.is_wide());
            if wide {
                for source in &mut sources {
                    source.widen(base)?;
                }
            }
            let sources = Arc::new(sources);
            // Each output partition's aggregation on a task of its own, so that the
            // partitions run in parallel whichever thread their streams are polled on.
            let outputs = (0..partitions).map(|partition| {
                let chunks = chunks.clone();
                let sources = Arc::clone(&sources);
                let metrics = BaselineMetrics::new(&metrics, partition);
                SpawnedTask::spawn(async move {
                    if wide {
                        chunks.aggregate_partition::<WideRow>(
                            &sources, base, partition, &metrics, batch_size,
                        )
                    } else {
                        chunks.aggregate_partition::<NarrowRow>(
                            &sources, base, partition, &metrics, batch_size,
                        )
                    }
                })
            });
            let outputs = join_each(outputs.collect()).await?;
            Ok(Arc::new(
                outputs.into_iter().map(|o| Mutex::new(Some(o))).collect(),
            ))
        };
        all.map(|dealt| dealt.map_err(Arc::new)).boxed().shared()
    }
}

/// The results of `tasks`, in order; the first error of any, as soon as it happens.
async fn join_each<T: Send + 'static>(tasks: Vec<SpawnedTask<Result<T>>>) -> Result<Vec<T>> {
    try_join_all(tasks.into_iter().map(|task| async move {
        task.join_unwind()
            .await
            .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?
    }))
    .await
}

/// The number of rows of input partition `source`, when known exactly (in-memory
/// tables); it sizes the buckets up front.
fn exact_rows(input: &Arc<dyn ExecutionPlan>, source: usize) -> Option<usize> {
    let args = StatisticsArgs::new().with_partition(Some(source));
    let statistics = StatisticsContext::new()
        .compute(input.as_ref(), &args)
        .ok()?;
    match statistics.num_rows {
        Precision::Exact(rows) => Some(rows),
        _ => None,
    }
}

/// The deal of one run of the plan.
#[derive(Debug)]
enum Exchange {
    /// No output partition has asked yet (or every one has taken its rows).
    Idle,
    /// Dealing or dealt; `untaken` output partitions have not been executed yet.
    Dealing { dealt: SharedDeal, untaken: usize },
}

/// Each output partition's batches, until its stream takes them.
type Outputs = Vec<Mutex<Option<Vec<RecordBatch>>>>;

type SharedDeal = Shared<BoxFuture<'static, Result<Arc<Outputs>, Arc<DataFusionError>>>>;

/// One input partition's rows, in bucket `partition * BUCKETS + bucket` those dealt to
/// that bucket of that output partition, in input order.
#[derive(Debug)]
struct SourceDeal {
    buckets: Buckets,
    /// Holds the memory of `buckets`.
    reservation: MemoryReservation,
    /// Counts the partitions whose rows were widened.
    widened: Count,
}

impl SourceDeal {
    /// Widens the rows, whose narrow keys are offsets from `base`, reserving the memory
    /// of both copies while both are held.
    fn widen(&mut self, base: i64) -> Result<()> {
        if self.buckets.is_wide() {
            return Ok(());
        }
        self.reservation.try_grow(self.buckets.widened_bytes())?;
        self.buckets.widen(base);
        self.widened.add(1);
        self.reservation.try_resize(self.buckets.held_bytes())
    }
}

/// Deals one input partition's rows.
struct Dealer {
    /// How many rows the input partition holds, if known.
    expected_rows: Option<usize>,
    key: Arc<dyn PhysicalExpr>,
    /// The aggregate's `ts` argument, and how its conditions' bits are computed.
    ts: Arc<dyn PhysicalExpr>,
    conditions: ConditionBits,
    filter: Option<Arc<dyn PhysicalExpr>>,
    events: EventAggregate,
    partitions: usize,
    /// The base of the narrow rows' keys, shared with the other input partitions.
    key_base: Arc<KeyBase>,
    time: Time,
}

impl Dealer {
    /// Deals every row of `rows` into `dealt`'s buckets (which it sizes).
    async fn deal(
        self,
        mut rows: SendableRecordBatchStream,
        mut dealt: SourceDeal,
    ) -> Result<SourceDeal> {
        let bucket_count = self.partitions * BUCKETS;
        // An eighth more than an even share: hashing spreads keys within a few percent.
        let share = self.expected_rows.unwrap_or(0) / bucket_count;
        dealt
            .reservation
            .try_grow(bucket_count * Buckets::narrow_bytes(share + share / 8))?;
        dealt.buckets = Buckets::narrow(bucket_count, share + share / 8);
        let mut hashes = Vec::new();
        let mut masks = Vec::new();
        while let Some(batch) = rows.next().await {
            let batch = batch?;
            let _timer = self.time.timer();
            self.deal_batch(&batch, &mut dealt, &mut hashes, &mut masks)?;
            dealt.reservation.try_resize(dealt.buckets.held_bytes())?;
        }
        Ok(dealt)
    }

    /// Deals a batch's rows: narrow while every key fits the deal's base, wide (this
    /// partition's rows so far widened) from the first batch whose keys do not.
    fn deal_batch(
        &self,
        batch: &RecordBatch,
        dealt: &mut SourceDeal,
        hashes: &mut Vec<u64>,
        masks: &mut Vec<u32>,
    ) -> Result<()> {
        let count = batch.num_rows();
        let keys = self.key.evaluate(batch)?.into_array(count)?;
        hashes.clear();
        hashes.resize(count, 0);
        create_hashes([&keys], REPARTITION_RANDOM_STATE.random_state(), hashes)?;
        let keys = to_i64(&keys)?;
        let fitting = match dealt.buckets {
            Buckets::Narrow(_) => self.key_base.fitting(&keys),
            Buckets::Wide(_) => None,
        };
        if fitting.is_none() {
            dealt.widen(self.key_base.get())?;
        }
        match (&mut dealt.buckets, fitting) {
            (Buckets::Narrow(narrow), Some(base)) => {
                self.deal_rows(batch, &keys, hashes, masks, base, narrow)
            }
            (Buckets::Wide(wide), _) => self.deal_rows(batch, &keys, hashes, masks, 0, wide),
            (Buckets::Narrow(_), None) => {
                internal_err!("BucketedAggregateExec kept narrow rows for keys out of reach")
            }
        }
    }

    /// Deals the rows of `batch`, whose keys are `keys` (hashed to `hashes`), as rows
    /// of layout `R` whose narrow keys are offsets from `base`.
    fn deal_rows<R: DealtRow>(
        &self,
        batch: &RecordBatch,
        keys: &Int64Array,
        hashes: &[u64],
        masks: &mut Vec<u32>,
        base: i64,
        buckets: &mut [Vec<R>],
    ) -> Result<()> {
        let count = batch.num_rows();
        let key_nulls = keys.nulls().filter(|nulls| nulls.null_count() > 0);
        let ts = self.ts.evaluate(batch)?.into_array(count)?;
        let condition_nulls = self.conditions.evaluate(batch, masks)?;
        let filter = match &self.filter {
            Some(filter) => Some(filter.evaluate(batch)?.into_array(count)?),
            None => None,
        };
        let partition_of = PartitionOf::new(self.partitions);
        let bucket_shift = 64 - BUCKETS.trailing_zeros();
        self.events.read_bits(
            &ts,
            condition_nulls.as_ref(),
            masks,
            filter.as_ref().map(|filter| filter.as_boolean()),
            |row, event| {
                let hash = hashes[row];
                let bucket = partition_of.of(hash) * BUCKETS + (hash >> bucket_shift) as usize;
                let null_key = key_nulls.is_some_and(|nulls| nulls.is_null(row));
                let key = (!null_key).then(|| keys.value(row));
                buckets[bucket].push(R::new(key, event, base));
            },
        )
    }
}

/// The output partition of a key hash, as `RepartitionExec` computes it (the hash's
/// remainder), without a division when the count is a power of two. The buckets take
/// the top bits of the hash, which the remainder leaves free.
#[derive(Debug, Clone, Copy)]
enum PartitionOf {
    PowerOfTwo { mask: u64 },
    Remainder { divisor: u64 },
}

impl PartitionOf {
    fn new(partitions: usize) -> Self {
        let partitions = partitions as u64;
        if partitions.is_power_of_two() {
            PartitionOf::PowerOfTwo {
                mask: partitions - 1,
            }
        } else {
            PartitionOf::Remainder {
                divisor: partitions,
            }
        }
    }

    #[inline(always)]
    fn of(self, hash: u64) -> usize {
        match self {
            PartitionOf::PowerOfTwo { mask } => (hash & mask) as usize,
            PartitionOf::Remainder { divisor } => (hash % divisor) as usize,
        }
    }
}

/// What aggregating a chunk of buckets needs.
#[derive(Debug, Clone)]
struct ChunkAggregator {
    schema: SchemaRef,
    key_type: DataType,
    events: EventAggregate,
}

impl ChunkAggregator {
    /// Aggregates the rows dealt to one output partition, rows of layout `R` whose
    /// narrow keys are offsets from `base`, a chunk of buckets at a time.
    fn aggregate_partition<R: DealtRow>(
        &self,
        sources: &[SourceDeal],
        base: i64,
        partition: usize,
        metrics: &BaselineMetrics,
        batch_size: usize,
    ) -> Result<Vec<RecordBatch>> {
        let sources = sources
            .iter()
            .map(|source| R::rows_of(&source.buckets))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                DataFusionError::Internal("BucketedAggregateExec dealt mixed rows".into())
            })?;
        let mut coalescer = BatchCoalescer::new(Arc::clone(&self.schema), batch_size);
        let mut output = Vec::new();
        let mut table = IntGroupTable::new(self.key_type.clone());
        let mut next_bucket = 0;
        while next_bucket < BUCKETS {
            let mut chunk: Vec<&[R]> = Vec::new();
            let mut chunk_rows = 0;
            while next_bucket < BUCKETS && chunk_rows < CHUNK_ROWS {
                for source in &sources {
                    let rows = &source[partition * BUCKETS + next_bucket];
                    chunk_rows += rows.len();
                    chunk.push(rows);
                }
                next_bucket += 1;
            }
            if chunk_rows > 0 {
                let timer = metrics.elapsed_compute().timer();
                let groups = self.aggregate_chunk(&chunk, base, &mut table)?;
                timer.done();
                metrics.record_output(groups.num_rows());
                coalescer.push_batch(groups)?;
            }
            while let Some(batch) = coalescer.next_completed_batch() {
                output.push(batch);
            }
        }
        coalescer.finish_buffered_batch()?;
        while let Some(batch) = coalescer.next_completed_batch() {
            output.push(batch);
        }
        Ok(output)
    }

    /// The groups of the rows in `chunk` (whole buckets, so no key is outside it), each
    /// key with its aggregate; `table` is empty, and is left empty.
    fn aggregate_chunk<R: DealtRow>(
        &self,
        chunk: &[&[R]],
        base: i64,
        table: &mut IntGroupTable,
    ) -> Result<RecordBatch> {
        let rows: usize = chunk.iter().map(|rows| rows.len()).sum();
        let mut keys = Vec::with_capacity(rows);
        let mut null_keys = false;
        for row in chunk.iter().flat_map(|rows| rows.iter()) {
            let key = row.key(base);
            keys.push(key.unwrap_or_default());
            null_keys |= key.is_none();
        }
        // NULL keys are rare: their validity is read in a second pass, when there are any.
        let nulls = null_keys.then(|| {
            let valid = chunk
                .iter()
                .flat_map(|rows| rows.iter().map(|row| row.key(base).is_some()));
            NullBuffer::from_iter(valid)
        });
        let keys: ArrayRef = Arc::new(Int64Array::new(keys.into(), nulls));
        let mut groups = Vec::new();
        table.intern(&keys, &mut groups)?;
        let rows = || {
            chunk
                .iter()
                .flat_map(|rows| rows.iter())
                .zip(&groups)
                .filter_map(|(row, &group)| row.event().map(|event| (group, event)))
        };
        let values = self.events.evaluate_rows(table.len(), rows)?;
        Ok(RecordBatch::try_new(
            Arc::clone(&self.schema),
            vec![table.take_keys_keeping_slots()?, values],
        )?)
    }
}

impl DisplayAs for BucketedAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        if matches!(t, DisplayFormatType::Default | DisplayFormatType::Verbose) {
            // "BucketedAggregateExec: mode=SinglePartitioned, gby=[...], aggr=[...]"
            write!(f, "Bucketed")?;
        }
        self.deal.aggregate.fmt_as(t, f)
    }
}

impl ExecutionPlan for BucketedAggregateExec {
    fn name(&self) -> &str {
        "BucketedAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.deal.aggregate.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.deal.aggregate.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let aggregate = aggregate_over(&self.deal.aggregate, children, options)?;
        match Self::try_new(aggregate, self.deal.partitions)? {
            Some(replaced) => Ok(Arc::new(replaced)),
            None => internal_err!("BucketedAggregateExec's new children change its aggregate"),
        }
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
        let deal = Arc::clone(&self.deal);
        if partition >= deal.partitions {
            return internal_err!(
                "BucketedAggregateExec has {} partitions, asked for {partition}",
                deal.partitions
            );
        }
        let dealt = deal.dealt_rows(&context)?;
        let output = stream::once(async move {
            let outputs = dealt.await.map_err(DataFusionError::Shared)?;
            let taken = outputs[partition]
                .lock()
                .map_err(|_| DataFusionError::Internal("BucketedAggregateExec lock".into()))?
                .take();
            match taken {
                Some(batches) => Ok(batches),
                None => internal_err!("BucketedAggregateExec partition {partition} taken twice"),
            }
        })
        .map_ok(|batches| stream::iter(batches.into_iter().map(Ok)))
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            output,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.deal.metrics.clone_inner())
    }
}
