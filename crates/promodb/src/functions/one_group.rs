//! The plain accumulator DataFusion uses without GROUP BY and in window functions, for
//! any of promodb's grouped accumulators: the same code, with one group.

use std::fmt::Debug;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

/// A grouped accumulator that can be copied and grown to a number of groups.
pub(crate) trait Regroup: GroupsAccumulator + Clone + Debug + Send + Sync + 'static {
    /// Makes sure groups `0..groups` exist (empty if new).
    fn ensure_groups(&mut self, groups: usize) -> Result<()>;
}

/// `G` with every row in group 0. Evaluating and taking the state work on a copy, since
/// DataFusion may keep accumulating afterwards (window frames).
#[derive(Debug)]
pub(crate) struct OneGroup<G>(pub(crate) G);

impl<G: Regroup> OneGroup<G> {
    fn settled(&self) -> Result<G> {
        let mut copy = self.0.clone();
        copy.ensure_groups(1)?;
        Ok(copy)
    }
}

impl<G: Regroup> Accumulator for OneGroup<G> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values.first().map_or(0, |v| v.len())];
        self.0.update_batch(values, &groups, None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let array = self.settled()?.evaluate(EmitTo::All)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.settled()?
            .state(EmitTo::All)?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states.first().map_or(0, |v| v.len())];
        self.0.merge_batch(states, &groups, 1)
    }
}
