//! The accumulator shared by the event-sequence aggregates (`window_funnel`,
//! `window_funnel_times`, `sequence_match`, `sequence_count`): each group's rows as
//! `(ts, condition bits)` in arrival order, with a state of two lists that concatenates
//! across batches and partitions. What a group evaluates to is the [`GroupEvaluator`]'s.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Builder, ListBuilder, UInt32Builder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt32Type};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

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

    /// One output value per group; `valid(i)` is false for a group that must be NULL.
    fn evaluate(&self, groups: &[Vec<EventRow>], valid: &dyn Fn(usize) -> bool)
    -> Result<ArrayRef>;
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

/// Every group's rows, in arrival order.
#[derive(Debug)]
pub(crate) struct EventGroups<E> {
    evaluator: Arc<E>,
    /// Index of `ts` among the arguments; the conditions follow it.
    ts_index: usize,
    /// As ClickHouse: when an argument may be NULL, a group without a complete row is NULL.
    null_when_unseen: bool,
    rows: Vec<Vec<EventRow>>,
    seen: Vec<bool>,
}

impl<E: GroupEvaluator> EventGroups<E> {
    pub(crate) fn new(evaluator: E, ts_index: usize, null_when_unseen: bool) -> Self {
        EventGroups {
            evaluator: Arc::new(evaluator),
            ts_index,
            null_when_unseen,
            rows: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn empty_like(&self) -> Self {
        EventGroups {
            evaluator: Arc::clone(&self.evaluator),
            ts_index: self.ts_index,
            null_when_unseen: self.null_when_unseen,
            rows: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn resize(&mut self, groups: usize) {
        if self.rows.len() < groups {
            self.rows.resize_with(groups, Vec::new);
            self.seen.resize(groups, false);
        }
    }

    fn evaluate_groups(&self, rows: &[Vec<EventRow>], seen: &[bool]) -> Result<ArrayRef> {
        let null_when_unseen = self.null_when_unseen;
        self.evaluator
            .evaluate(rows, &|i| !null_when_unseen || seen[i])
    }
}

fn filtered_out(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_some_and(|f| !(f.is_valid(row) && f.value(row)))
}

impl<E: GroupEvaluator> GroupsAccumulator for EventGroups<E> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
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
        let mut masks = vec![0u32; ts.len()];
        for (bit, condition) in conditions.iter().enumerate() {
            for row in condition.values().set_indices() {
                masks[row] |= 1 << bit;
            }
        }
        let keep_noise = self.evaluator.keeps_noise();
        for (row, &group) in group_indices.iter().enumerate() {
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) || filtered_out(opt_filter, row) {
                continue;
            }
            self.seen[group] = true;
            if masks[row] != 0 || keep_noise {
                self.rows[group].push(EventRow {
                    ts: ts.value(row),
                    mask: masks[row],
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let rows = emit_to.take_needed(&mut self.rows);
        let seen = emit_to.take_needed(&mut self.seen);
        self.evaluate_groups(&rows, &seen)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let rows = emit_to.take_needed(&mut self.rows);
        let seen = emit_to.take_needed(&mut self.seen);
        let mut ts = ListBuilder::new(Int64Builder::new())
            .with_field(Field::new_list_field(DataType::Int64, false));
        let mut masks = ListBuilder::new(UInt32Builder::new())
            .with_field(Field::new_list_field(DataType::UInt32, false));
        for group in &rows {
            ts.values().extend(group.iter().map(|r| Some(r.ts)));
            masks.values().extend(group.iter().map(|r| Some(r.mask)));
            ts.append(true);
            masks.append(true);
        }
        Ok(vec![
            Arc::new(ts.finish()),
            Arc::new(masks.finish()),
            Arc::new(BooleanArray::from(seen)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let [ts, masks, seen] = values else {
            return internal_err!("event state has 3 fields, got {}", values.len());
        };
        let ts = ts.as_list::<i32>();
        let masks = masks.as_list::<i32>();
        let seen = seen.as_boolean();
        for (row, &group) in group_indices.iter().enumerate() {
            if ts.is_null(row) {
                continue;
            }
            self.seen[group] |= seen.is_valid(row) && seen.value(row);
            let times = ts.value(row);
            let bits = masks.value(row);
            let times = times.as_primitive::<Int64Type>().values();
            let bits = bits.as_primitive::<UInt32Type>().values();
            self.rows[group].extend(
                times
                    .iter()
                    .zip(bits.iter())
                    .map(|(&ts, &mask)| EventRow { ts, mask }),
            );
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
        let rows: usize = self
            .rows
            .iter()
            .map(|r| r.capacity() * std::mem::size_of::<EventRow>())
            .sum();
        rows + self.rows.capacity() * std::mem::size_of::<Vec<EventRow>>() + self.seen.capacity()
    }
}

/// The plain accumulator DataFusion uses without GROUP BY and in window functions: the
/// same code, with one group.
#[derive(Debug)]
pub(crate) struct SingleGroup<E>(pub(crate) EventGroups<E>);

impl<E: GroupEvaluator> Accumulator for SingleGroup<E> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values.first().map_or(0, |v| v.len())];
        self.0.update_batch(values, &groups, None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.resize(1);
        let array = self.0.evaluate_groups(&self.0.rows, &self.0.seen)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.resize(1);
        let arrays = self.0.state(EmitTo::All)?;
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states.first().map_or(0, |v| v.len())];
        self.0.merge_batch(states, &groups, 1)
    }
}
