//! Aggregations grouped by integer-like keys (`GROUP BY user_id`, `GROUP BY minute`)
//! and text keys (`GROUP BY channel`, `GROUP BY sku_id, warehouse`), run over group
//! tables built for those keys.
//!
//! Per-user promo metrics (funnels, retention, RFM) group ten million events into a
//! million users or more. In DataFusion 55 most of that time is spent finding each row's
//! group (`GroupValuesPrimitive::intern`: 52% of the retention query), three cache misses
//! per row. Dashboards group ten million orders by a handful of channels or categories,
//! where DataFusion hashes every string (`ArrowBytesViewMap::insert_if_new` and the hash:
//! 56% of `GROUP BY channel`). [`KeyedAggregation`] is a physical optimizer rule, run
//! after DataFusion's own, that hands such aggregations to [`KeyedAggregateExec`]: the
//! same accumulators, modes, filters and output as the `AggregateExec` it replaces, with
//! a table per key: integers that lie close together by their offset in a range,
//! others in an open-addressing table that keeps each key (an integer, or a short
//! string's view) beside its group index and prefetches ahead; several keys are
//! combined by the groups they make (`key_groups`).
//!
//! Funnels and sequence patterns keep every event of a group in their state, so their
//! partial aggregation shrinks nothing: it buckets all events by user, ships them as
//! lists, and the final aggregation buckets them again. For those the rule first turns
//! partial -> repartition -> final into one aggregation, a [`BucketedAggregateExec`]
//! that deals the raw rows to the partition owning their key itself.

mod bucketed_exec;
mod dealt_rows;
mod direct_index;
mod exec;
mod group_table;
mod int_keys;
mod int_table;
mod key_groups;
mod slots;
mod text_table;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, InputOrderMode, Partitioning};

use crate::functions::keeps_every_row;

use bucketed_exec::BucketedAggregateExec;
use exec::KeyedAggregateExec;

/// Runs funnel and sequence aggregations in one stage, dealing their rows by key,
/// then replaces every hash aggregation by integer-like keys (integers, dates,
/// timestamps) and text keys (`Utf8View`, `Utf8`, `LargeUtf8`) with a
/// [`KeyedAggregateExec`]. Left to DataFusion: the first stage of grouping sets, no
/// key, other key types,
/// aggregates with `ORDER BY`, sorted input (streaming aggregation), TopK aggregation
/// and aggregations with a dynamic filter.
#[derive(Debug, Default)]
pub(crate) struct KeyedAggregation;

impl PhysicalOptimizerRule for KeyedAggregation {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = plan.transform_up(one_stage_for_event_lists).data()?;
        plan.transform_up(|plan| {
            let Some(aggregate) = plan.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            if !runs_on_group_tables(aggregate)? {
                return Ok(Transformed::no(plan));
            }
            let aggregate = Arc::new(aggregate.clone());
            Ok(Transformed::yes(
                Arc::new(KeyedAggregateExec::new(aggregate)) as _,
            ))
        })
        .data()
    }

    fn name(&self) -> &str {
        "keyed_aggregation"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `FinalPartitioned <- hash repartition <- Partial` over aggregates that keep every row
/// becomes a [`BucketedAggregateExec`] over the raw rows (one event aggregate by an
/// integer-like key) or `SinglePartitioned <- hash repartition of the raw rows`, with the
/// same output, partitioned the same way.
fn one_stage_for_event_lists(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some(last) = plan.downcast_ref::<AggregateExec>() else {
        return Ok(Transformed::no(plan));
    };
    let Some(repartition) = last.input().downcast_ref::<RepartitionExec>() else {
        return Ok(Transformed::no(plan));
    };
    let Some(partial) = repartition.input().downcast_ref::<AggregateExec>() else {
        return Ok(Transformed::no(plan));
    };
    let Partitioning::Hash(_, partitions) = repartition.partitioning() else {
        return Ok(Transformed::no(plan));
    };
    let [(key, _)] = partial.group_expr().expr() else {
        return Ok(Transformed::no(plan));
    };
    let keeps_rows = partial
        .aggr_expr()
        .iter()
        .any(|aggr| keeps_every_row(aggr.fun()));
    // An aggregate that needs its rows in order (`array_agg(x ORDER BY ts)`,
    // `nth_value`) reads them sorted below the partial stage; a repartition of the raw
    // rows would interleave them.
    let needs_order = partial
        .aggr_expr()
        .iter()
        .any(|aggr| !aggr.order_bys().is_empty())
        || *partial.input_order_mode() != InputOrderMode::Linear
        || partial
            .required_input_ordering()
            .iter()
            .any(Option::is_some);
    if *last.mode() != AggregateMode::FinalPartitioned
        || *partial.mode() != AggregateMode::Partial
        || !keeps_rows
        || needs_order
        || !partial.group_expr().is_single()
        || repartition.preserve_order()
    {
        return Ok(Transformed::no(plan));
    }
    let single_over = |input: Arc<dyn ExecutionPlan>| {
        AggregateExec::try_new(
            AggregateMode::SinglePartitioned,
            partial.group_expr().clone(),
            partial.aggr_expr().to_vec(),
            partial.filter_expr().to_vec(),
            input,
            partial.input_schema(),
        )
    };
    let single = single_over(Arc::clone(partial.input()))?;
    if single.schema() != last.schema() {
        return Ok(Transformed::no(plan));
    }
    if runs_on_group_tables(&single)?
        && let Some(bucketed) = BucketedAggregateExec::try_new(Arc::new(single), *partitions)?
    {
        return Ok(Transformed::yes(Arc::new(bucketed)));
    }
    // Several aggregates, or a key that is not integer-like: the raw rows hash
    // repartitioned by DataFusion.
    let raw_rows = RepartitionExec::try_new(
        Arc::clone(partial.input()),
        Partitioning::Hash(vec![Arc::clone(key)], *partitions),
    )?;
    Ok(Transformed::yes(Arc::new(single_over(Arc::new(raw_rows))?)))
}

/// Whether `aggregate` is grouped by keys that all have group tables, in a mode and
/// with aggregates [`KeyedAggregateExec`] runs.
fn runs_on_group_tables(aggregate: &AggregateExec) -> Result<bool> {
    let group_by = aggregate.group_expr();
    let input_schema = aggregate.input().schema();
    let mut key_types = Vec::with_capacity(group_by.expr().len());
    for (key, _) in group_by.expr() {
        key_types.push(key.data_type(&input_schema)?);
    }
    let mode_supported = matches!(
        aggregate.mode(),
        AggregateMode::Partial
            | AggregateMode::Final
            | AggregateMode::FinalPartitioned
            | AggregateMode::Single
            | AggregateMode::SinglePartitioned
    );
    // A grouping set's first stage replaces keys by NULL per set; its final stage, by
    // the keys and the grouping id, is a plain grouping.
    Ok(mode_supported
        && group_by.is_single()
        && group_by.null_expr().is_empty()
        && aggregate.limit_options().is_none()
        && aggregate.dynamic_expressions_produced().is_empty()
        && *aggregate.input_order_mode() == InputOrderMode::Linear
        && aggregate
            .aggr_expr()
            .iter()
            .all(|aggr| aggr.order_bys().is_empty())
        && key_groups::KeyGroups::for_types(&key_types).is_some())
}
