//! The accumulator shared by the event-sequence aggregates (`window_funnel`,
//! `window_funnel_times`, `sequence_match`, `sequence_count`): each group's rows as
//! `(ts, condition bits)` in arrival order, with a state of two lists that concatenates
//! across batches and partitions. At evaluation each group's rows are sorted by `ts`;
//! what a group evaluates to is the [`GroupEvaluator`]'s.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt32Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt32Type};
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::condition_bits::gather_bits;
use super::grouped_rows::GroupedRows;
use super::one_group::Regroup;
use super::row_filter::included;

/// A row that passed the NULL check: its time (in `ts`'s own unit) and the bit set of the
/// conditions it satisfies (bit k-1 for condition k; 0 is a row matching none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub(crate) ts: i64,
    pub(crate) mask: u32,
}

/// What a group of rows evaluates to.
pub(crate) trait GroupEvaluator: Debug + Send + Sync + 'static {
    /// Whether rows matching no condition matter (they are dropped otherwise).
    fn keeps_noise(&self) -> bool;

    /// One output value per group, whose rows come sorted by `ts` (ties in arrival
    /// order); `valid(i)` is false for a group that must be NULL.
    fn evaluate(&self, groups: &GroupedRows, valid: &dyn Fn(usize) -> bool) -> Result<ArrayRef>;
}

/// The state fields: the rows' times, their condition bits, and whether the group had a
/// row without NULLs.
pub(crate) fn state_fields(name: &str) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new_list(
            format!("{name}[ts]"),
            Field::new_list_field(DataType::Int64, false),
            true,
        )),
        Arc::new(Field::new_list(
            format!("{name}[conditions]"),
            Field::new_list_field(DataType::UInt32, false),
            true,
        )),
        Arc::new(Field::new(format!("{name}[seen]"), DataType::Boolean, true)),
    ]
}

/// An event-sequence aggregate's reading and evaluation, apart from any accumulator: the
/// [`EventGroups`] accumulator uses it, and so does an aggregation that deals its rows
/// by key itself (`BucketedAggregateExec`).
#[derive(Debug, Clone)]
pub(crate) struct EventAggregate {
    evaluator: Arc<dyn GroupEvaluator>,
    /// Index of `ts` among the arguments; the conditions follow it.
    ts_index: usize,
    /// As ClickHouse: when an argument may be NULL, a group without a complete row is NULL.
    null_when_unseen: bool,
}

impl EventAggregate {
    /// The aggregate `evaluator` evaluates, over arguments with `ts` at `ts_index` and
    /// the conditions after it.
    pub(crate) fn new(
        evaluator: impl GroupEvaluator,
        ts_index: usize,
        null_when_unseen: bool,
    ) -> Self {
        EventAggregate {
            evaluator: Arc::new(evaluator),
            ts_index,
            null_when_unseen,
        }
    }

    /// Reads a batch of the aggregate's arguments: calls `each(row, event)` for every
    /// row in order, with `None` for a row the aggregate skips (a NULL `ts` or
    /// condition, or a FILTER that is not true). `masks` is scratch space.
    pub(crate) fn read_rows(
        &self,
        values: &[ArrayRef],
        filter: Option<&BooleanArray>,
        masks: &mut Vec<u32>,
        each: impl FnMut(usize, Option<EventRow>),
    ) -> Result<()> {
        let conditions: Vec<&BooleanArray> = values[self.ts_index + 1..]
            .iter()
            .map(|c| c.as_boolean())
            .collect();
        let ts = &values[self.ts_index];
        let condition_nulls = gather_bits(&conditions, ts.len(), masks);
        self.read_bits(ts, condition_nulls.as_ref(), masks, filter, each)
    }

    /// [`Self::read_rows`] of a batch whose condition bits were computed already: `ts`,
    /// the rows on which some condition is NULL, and each row's bits.
    pub(crate) fn read_bits(
        &self,
        ts: &ArrayRef,
        condition_nulls: Option<&NullBuffer>,
        masks: &[u32],
        filter: Option<&BooleanArray>,
        mut each: impl FnMut(usize, Option<EventRow>),
    ) -> Result<()> {
        if masks.len() != ts.len() {
            return internal_err!("{} condition bits for {} rows", masks.len(), ts.len());
        }
        let ts = as_int64(ts)?;
        let nulls = NullBuffer::union(ts.nulls(), condition_nulls);
        let times = ts.values();
        let every_row = nulls.as_ref().is_none_or(|n| n.null_count() == 0) && filter.is_none();
        for (row, (&ts, &mask)) in times.iter().zip(masks.iter()).enumerate() {
            let counts = every_row || included(row, nulls.as_ref(), filter);
            each(row, counts.then_some(EventRow { ts, mask }));
        }
        Ok(())
    }

    /// Where `ts` is among the aggregate's arguments; the conditions follow it.
    pub(crate) fn ts_index(&self) -> usize {
        self.ts_index
    }

    /// Whether rows matching no condition are kept in a group's rows.
    pub(crate) fn keeps_noise(&self) -> bool {
        self.evaluator.keeps_noise()
    }

    /// One value per group of `groups` groups, from every row the aggregate takes, as
    /// `(group, row)` in arrival order (`rows` is called twice and must yield the same
    /// rows): what an aggregation that finds its rows' groups itself evaluates.
    pub(crate) fn evaluate_rows<I>(&self, groups: usize, rows: impl Fn() -> I) -> Result<ArrayRef>
    where
        I: Iterator<Item = (usize, EventRow)>,
    {
        let (mut grouped, seen) = GroupedRows::bucketed(groups, self.keeps_noise(), rows);
        grouped.sort_each_by_ts();
        self.evaluate(&grouped, &seen)
    }

    /// One value per group of `groups` (rows sorted by `ts`); `seen[i]` tells whether
    /// group i had a row the aggregate did not skip.
    pub(crate) fn evaluate(&self, groups: &GroupedRows, seen: &[bool]) -> Result<ArrayRef> {
        let null_when_unseen = self.null_when_unseen;
        self.evaluator
            .evaluate(groups, &|i| !null_when_unseen || seen[i])
    }
}

/// `ts` (a TIMESTAMP of any unit, or an integer) as the `Int64Array` of its values;
/// a BIGINT or TIMESTAMP is read in place.
fn as_int64(ts: &ArrayRef) -> Result<Int64Array> {
    if matches!(ts.data_type(), DataType::Int64 | DataType::Timestamp(_, _)) {
        let values = ts
            .to_data()
            .into_builder()
            .data_type(DataType::Int64)
            .build()?;
        return Ok(Int64Array::from(values));
    }
    Ok(cast(ts, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

/// Every group's rows. They are kept as flat columns of (group, ts, conditions) in
/// arrival order, with no allocation per group, and bucketed by group (a stable counting
/// sort) only when groups are evaluated or their state is emitted.
#[derive(Debug)]
pub(crate) struct EventGroups {
    aggregate: EventAggregate,
    /// The aggregate's [`EventAggregate::keeps_noise`].
    keeps_noise: bool,
    group_of: Vec<u32>,
    rows: Vec<EventRow>,
    seen: Vec<bool>,
    /// Scratch: the condition bits of each row of the batch being added.
    masks: Vec<u32>,
}

impl EventGroups {
    pub(crate) fn new(aggregate: EventAggregate) -> Self {
        EventGroups {
            keeps_noise: aggregate.keeps_noise(),
            aggregate,
            group_of: Vec::new(),
            rows: Vec::new(),
            seen: Vec::new(),
            masks: Vec::new(),
        }
    }

    fn empty_like(&self) -> Self {
        EventGroups::new(self.aggregate.clone())
    }

    /// Adds one row of group `group` (which must exist), as [`EventAggregate::read_rows`]
    /// read it.
    pub(crate) fn add(&mut self, group: usize, event: Option<EventRow>) {
        let Some(event) = event else {
            return;
        };
        self.seen[group] = true;
        if event.mask != 0 || self.keeps_noise {
            self.push(group, event);
        }
    }

    /// Makes sure groups `0..groups` exist.
    pub(crate) fn resize(&mut self, groups: usize) -> Result<()> {
        if groups > u32::MAX as usize {
            return internal_err!("event aggregates support up to {} groups", u32::MAX);
        }
        if self.seen.len() < groups {
            self.seen.resize(groups, false);
        }
        Ok(())
    }

    fn push(&mut self, group: usize, row: EventRow) {
        self.group_of.push(group as u32);
        self.rows.push(row);
    }

    /// Takes the groups `emit_to` asks for, bucketed; the other groups stay, renumbered
    /// from 0.
    fn take_groups(&mut self, emit_to: EmitTo) -> (GroupedRows, Vec<bool>) {
        let seen = emit_to.take_needed(&mut self.seen);
        let taken = seen.len();
        // The rows were filtered as they were added: keep every one.
        let (groups, _) = GroupedRows::bucketed(taken, true, || {
            self.group_of
                .iter()
                .zip(&self.rows)
                .filter(|(group, _)| (**group as usize) < taken)
                .map(|(&group, &row)| (group as usize, row))
        });
        let mut kept = 0;
        for i in 0..self.rows.len() {
            let group = self.group_of[i] as usize;
            if group >= taken {
                self.group_of[kept] = (group - taken) as u32;
                self.rows[kept] = self.rows[i];
                kept += 1;
            }
        }
        self.group_of.truncate(kept);
        self.rows.truncate(kept);
        (groups, seen)
    }
}

/// A list column over `values` cut at `offsets`.
fn list_of(values: ArrayRef, offsets: &[usize]) -> Result<ArrayRef> {
    let offsets: Vec<i32> = offsets
        .iter()
        .map(|&o| i32::try_from(o))
        .collect::<Result<_, _>>()
        .map_err(|_| DataFusionError::Execution("event state over 2^31 rows".into()))?;
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), false));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        values,
        None,
    )?))
}

impl GroupsAccumulator for EventGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        self.group_of.reserve(group_indices.len());
        self.rows.reserve(group_indices.len());
        let mut masks = std::mem::take(&mut self.masks);
        let aggregate = self.aggregate.clone();
        aggregate.read_rows(values, opt_filter, &mut masks, |row, event| {
            self.add(group_indices[row], event)
        })?;
        self.masks = masks;
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (mut groups, seen) = self.take_groups(emit_to);
        groups.sort_each_by_ts();
        self.aggregate.evaluate(&groups, &seen)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (groups, seen) = self.take_groups(emit_to);
        let ts: Int64Array = groups.rows.iter().map(|r| r.ts).collect();
        let masks: UInt32Array = groups.rows.iter().map(|r| r.mask).collect();
        Ok(vec![
            list_of(Arc::new(ts), &groups.offsets)?,
            list_of(Arc::new(masks), &groups.offsets)?,
            Arc::new(BooleanArray::from(seen)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        let [ts, masks, seen] = values else {
            return internal_err!("event state has 3 fields, got {}", values.len());
        };
        let ts = ts.as_list::<i32>();
        let masks = masks.as_list::<i32>();
        let seen = seen.as_boolean();
        let times = ts.values().as_primitive::<Int64Type>().values();
        let bits = masks.values().as_primitive::<UInt32Type>().values();
        let (ts_offsets, mask_offsets) = (ts.value_offsets(), masks.value_offsets());
        for (row, &group) in group_indices.iter().enumerate() {
            if ts.is_null(row) {
                continue;
            }
            self.seen[group] |= seen.is_valid(row) && seen.value(row);
            let (from, to) = (ts_offsets[row] as usize, ts_offsets[row + 1] as usize);
            let mask_from = mask_offsets[row] as usize;
            for k in 0..to - from {
                self.push(
                    group,
                    EventRow {
                        ts: times[from + k],
                        mask: bits[mask_from + k],
                    },
                );
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut each_row_alone = self.empty_like();
        let rows = values.first().map_or(0, |v| v.len());
        let groups: Vec<usize> = (0..rows).collect();
        each_row_alone.update_batch(values, &groups, opt_filter, rows)?;
        each_row_alone.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        self.group_of.capacity() * std::mem::size_of::<u32>()
            + self.rows.capacity() * std::mem::size_of::<EventRow>()
            + self.seen.capacity()
            + self.masks.capacity() * std::mem::size_of::<u32>()
    }
}

// Not derived: the scratch space is not copied.
impl Clone for EventGroups {
    fn clone(&self) -> Self {
        EventGroups {
            aggregate: self.aggregate.clone(),
            keeps_noise: self.keeps_noise,
            group_of: self.group_of.clone(),
            rows: self.rows.clone(),
            seen: self.seen.clone(),
            masks: Vec::new(),
        }
    }
}

impl Regroup for EventGroups {
    fn ensure_groups(&mut self, groups: usize) -> Result<()> {
        self.resize(groups)
    }
}
