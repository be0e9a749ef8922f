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

use super::one_group::Regroup;
use super::row_filter::included;

/// A row that passed the NULL check: its time (in `ts`'s own unit) and the bit set of the
/// conditions it satisfies (bit k-1 for condition k; 0 is a row matching none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub(crate) ts: i64,
    pub(crate) mask: u32,
}

/// Rows of consecutive groups in one flat buffer: group i's rows, in arrival order, are
/// `rows[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GroupedRows {
    offsets: Vec<usize>,
    rows: Vec<EventRow>,
}

impl GroupedRows {
    /// Each group's rows, in group order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[EventRow]> {
        self.offsets.windows(2).map(|w| &self.rows[w[0]..w[1]])
    }

    /// Sorts each group's rows by `ts`, ties in arrival order. Rows usually arrive in
    /// time order (an event log), and then they are only checked.
    fn sort_each_by_ts(&mut self) {
        for w in self.offsets.windows(2) {
            let rows = &mut self.rows[w[0]..w[1]];
            if !rows.is_sorted_by_key(|r| r.ts) {
                rows.sort_by_key(|r| r.ts);
            }
        }
    }
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

/// Every group's rows. They are kept as flat columns of (group, ts, conditions) in
/// arrival order, with no allocation per group, and bucketed by group (a stable counting
/// sort) only when groups are evaluated or their state is emitted.
#[derive(Debug)]
pub(crate) struct EventGroups<E> {
    evaluator: Arc<E>,
    /// Index of `ts` among the arguments; the conditions follow it.
    ts_index: usize,
    /// As ClickHouse: when an argument may be NULL, a group without a complete row is NULL.
    null_when_unseen: bool,
    group_of: Vec<u32>,
    rows: Vec<EventRow>,
    seen: Vec<bool>,
    /// Scratch: the condition bits of each row of the batch being added.
    masks: Vec<u32>,
}

impl<E: GroupEvaluator> EventGroups<E> {
    pub(crate) fn new(evaluator: E, ts_index: usize, null_when_unseen: bool) -> Self {
        EventGroups::new_shared(Arc::new(evaluator), ts_index, null_when_unseen)
    }

    fn empty_like(&self) -> Self {
        EventGroups::new_shared(
            Arc::clone(&self.evaluator),
            self.ts_index,
            self.null_when_unseen,
        )
    }

    fn new_shared(evaluator: Arc<E>, ts_index: usize, null_when_unseen: bool) -> Self {
        EventGroups {
            evaluator,
            ts_index,
            null_when_unseen,
            group_of: Vec::new(),
            rows: Vec::new(),
            seen: Vec::new(),
            masks: Vec::new(),
        }
    }

    fn resize(&mut self, groups: usize) -> Result<()> {
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
        let mut offsets = vec![0usize; taken + 1];
        for &group in &self.group_of {
            if (group as usize) < taken {
                offsets[group as usize + 1] += 1;
            }
        }
        for i in 0..taken {
            offsets[i + 1] += offsets[i];
        }
        let mut cursor = offsets.clone();
        let mut rows = vec![EventRow { ts: 0, mask: 0 }; offsets[taken]];
        let mut kept = 0;
        for i in 0..self.rows.len() {
            let group = self.group_of[i] as usize;
            if group < taken {
                rows[cursor[group]] = self.rows[i];
                cursor[group] += 1;
            } else {
                self.group_of[kept] = (group - taken) as u32;
                self.rows[kept] = self.rows[i];
                kept += 1;
            }
        }
        self.group_of.truncate(kept);
        self.rows.truncate(kept);
        (GroupedRows { offsets, rows }, seen)
    }

    fn evaluate_groups(&self, groups: &GroupedRows, seen: &[bool]) -> Result<ArrayRef> {
        let null_when_unseen = self.null_when_unseen;
        self.evaluator
            .evaluate(groups, &|i| !null_when_unseen || seen[i])
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

impl<E: GroupEvaluator> GroupsAccumulator for EventGroups<E> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups)?;
        let ts = cast(&values[self.ts_index], &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        let conditions: Vec<&BooleanArray> = values[self.ts_index + 1..]
            .iter()
            .map(|c| c.as_boolean())
            .collect();
        let mut nulls = ts.nulls().cloned();
        for condition in &conditions {
            nulls = NullBuffer::union(nulls.as_ref(), condition.nulls());
        }
        let mut masks = std::mem::take(&mut self.masks);
        masks.clear();
        masks.resize(ts.len(), 0);
        for (bit, condition) in conditions.iter().enumerate() {
            for row in condition.values().set_indices() {
                masks[row] |= 1 << bit;
            }
        }
        let keep_noise = self.evaluator.keeps_noise();
        let times = ts.values();
        self.group_of.reserve(group_indices.len());
        self.rows.reserve(group_indices.len());
        let every_row = nulls.as_ref().is_none_or(|n| n.null_count() == 0) && opt_filter.is_none();
        for (row, &group) in group_indices.iter().enumerate() {
            if !every_row && !included(row, nulls.as_ref(), opt_filter) {
                continue;
            }
            self.seen[group] = true;
            let mask = masks[row];
            if mask != 0 || keep_noise {
                self.push(
                    group,
                    EventRow {
                        ts: times[row],
                        mask,
                    },
                );
            }
        }
        self.masks = masks;
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (mut groups, seen) = self.take_groups(emit_to);
        groups.sort_each_by_ts();
        self.evaluate_groups(&groups, &seen)
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

// Not derived: that would require `E: Clone`, but the evaluator is shared.
impl<E> Clone for EventGroups<E> {
    fn clone(&self) -> Self {
        EventGroups {
            evaluator: Arc::clone(&self.evaluator),
            ts_index: self.ts_index,
            null_when_unseen: self.null_when_unseen,
            group_of: self.group_of.clone(),
            rows: self.rows.clone(),
            seen: self.seen.clone(),
            masks: Vec::new(),
        }
    }
}

impl<E: GroupEvaluator> Regroup for EventGroups<E> {
    fn ensure_groups(&mut self, groups: usize) -> Result<()> {
        self.resize(groups)
    }
}
