//! The condition bits of an event aggregate's rows (bit k-1 set when the row satisfies
//! condition k), computed from the condition expressions over a batch.
//!
//! A funnel's steps are nearly always `event_type = 'view'`, `event_type = 'pay'`, ...:
//! equalities of one text column with literals. Evaluated one by one, each is a pass over
//! the column that builds a boolean array, and the bits are then gathered from every
//! array: in the 4-step funnel over 10M events the four comparisons and the gathering
//! were a fifth of the query's time (perf). [`ConditionBits`] recognizes that form and
//! reads the column once, comparing each value with every literal.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringViewArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};

/// How the condition bits of a batch's rows are computed.
#[derive(Debug, Clone)]
pub(crate) enum ConditionBits {
    /// Every condition is `column = 'literal'` (or `'literal' = column`) on one text
    /// column: one pass over the column.
    TextEqualities(TextEqualities),
    /// Each condition evaluated on its own, the bits gathered from the results.
    Evaluated(Vec<Arc<dyn PhysicalExpr>>),
}

impl ConditionBits {
    /// The computation for `conditions` (condition k at index k-1, at most 32) over
    /// batches of `schema`.
    pub(crate) fn new(conditions: &[Arc<dyn PhysicalExpr>], schema: &Schema) -> Self {
        match TextEqualities::recognize(conditions, schema) {
            Some(equalities) => ConditionBits::TextEqualities(equalities),
            None => ConditionBits::Evaluated(conditions.to_vec()),
        }
    }

    /// Sets `masks` to the condition bits of each row of `batch`, and returns the rows
    /// on which some condition is NULL.
    pub(crate) fn evaluate(
        &self,
        batch: &RecordBatch,
        masks: &mut Vec<u32>,
    ) -> Result<Option<NullBuffer>> {
        match self {
            ConditionBits::TextEqualities(equalities) => equalities.evaluate(batch, masks),
            ConditionBits::Evaluated(conditions) => {
                let results = conditions
                    .iter()
                    .map(|condition| condition.evaluate(batch)?.into_array(batch.num_rows()))
                    .collect::<Result<Vec<ArrayRef>>>()?;
                let booleans: Vec<&BooleanArray> =
                    results.iter().map(|result| result.as_boolean()).collect();
                Ok(gather_bits(&booleans, batch.num_rows(), masks))
            }
        }
    }
}

/// Sets `masks` (`rows` long) to bit k-1 for each row where `conditions[k-1]` is true,
/// and returns the rows on which some condition is NULL.
pub(crate) fn gather_bits(
    conditions: &[&BooleanArray],
    rows: usize,
    masks: &mut Vec<u32>,
) -> Option<NullBuffer> {
    masks.clear();
    masks.resize(rows, 0);
    let mut nulls: Option<NullBuffer> = None;
    for (bit, condition) in conditions.iter().enumerate() {
        nulls = NullBuffer::union(nulls.as_ref(), condition.nulls());
        for row in condition.values().set_indices() {
            masks[row] |= 1 << bit;
        }
    }
    nulls
}

/// Conditions that each compare one text column with a literal.
#[derive(Debug, Clone)]
pub(crate) struct TextEqualities {
    /// The column's index in the batch.
    column: usize,
    /// Each distinct literal, with the bits of the conditions that compare with it: those
    /// of up to 12 bytes (whole in a string view), and the longer ones.
    short: Vec<TextLiteral>,
    long: Vec<TextLiteral>,
    /// The short literals by length, when no two have the same length.
    short_by_length: Option<Box<ShortByLength>>,
}

/// A literal and the bits of the conditions equal to it.
#[derive(Debug, Clone)]
struct TextLiteral {
    text: String,
    bits: u32,
    /// The literal as a string view's first bytes (length, then up to 12 bytes of text,
    /// or the first 4 of a longer text), and which of the view's bits those are.
    view: u128,
    view_mask: u128,
}

impl TextLiteral {
    fn new(text: String, bits: u32) -> Self {
        let bytes = text.as_bytes();
        // A short text is all in its view; a long one is told apart by its length and
        // first 4 bytes there, and then compared in full.
        let shown = bytes.len().min(if bytes.len() <= 12 { 12 } else { 4 });
        let mut view = bytes.len() as u128 & 0xffff_ffff;
        for (i, &byte) in bytes[..shown].iter().enumerate() {
            view |= (byte as u128) << (32 + 8 * i);
        }
        let view_mask = u128::MAX >> (128 - 32 - 8 * shown);
        TextLiteral {
            text,
            bits,
            view,
            view_mask,
        }
    }

    /// Whether the text is in its view whole.
    fn is_inline(&self) -> bool {
        self.text.len() <= 12
    }
}

impl TextEqualities {
    /// The equalities, when every one of `conditions` (at least one) compares the same
    /// text column of `schema` with a non-NULL text literal.
    fn recognize(conditions: &[Arc<dyn PhysicalExpr>], schema: &Schema) -> Option<Self> {
        let mut column = None;
        let mut literals: Vec<TextLiteral> = Vec::new();
        for (bit, condition) in conditions.iter().enumerate() {
            let (index, text) = column_equals_text(condition)?;
            let text_column = matches!(
                schema.fields().get(index)?.data_type(),
                DataType::Utf8View | DataType::Utf8 | DataType::LargeUtf8
            );
            if !text_column || *column.get_or_insert(index) != index || bit >= 32 {
                return None;
            }
            match literals.iter_mut().find(|literal| literal.text == text) {
                Some(literal) => literal.bits |= 1 << bit,
                None => literals.push(TextLiteral::new(text, 1 << bit)),
            }
        }
        let (short, long): (Vec<TextLiteral>, Vec<TextLiteral>) =
            literals.into_iter().partition(TextLiteral::is_inline);
        Some(TextEqualities {
            column: column?,
            short_by_length: ShortByLength::new(&short).map(Box::new),
            short,
            long,
        })
    }

    fn evaluate(&self, batch: &RecordBatch, masks: &mut Vec<u32>) -> Result<Option<NullBuffer>> {
        let values = batch.column(self.column);
        masks.clear();
        match values.data_type() {
            DataType::Utf8View => self.view_bits(values.as_string_view(), masks),
            DataType::Utf8 => self.text_bits(values.as_string::<i32>().iter(), masks),
            DataType::LargeUtf8 => self.text_bits(values.as_string::<i64>().iter(), masks),
            other => return internal_err!("text equalities over a column of {other}"),
        }
        Ok(values.logical_nulls())
    }

    /// Bits of a string view column: a short literal is one comparison of the row's view
    /// (with the literal's length), a long one compares the text only when the view's
    /// length and first bytes agree.
    fn view_bits(&self, values: &StringViewArray, masks: &mut Vec<u32>) {
        let views = values.views();
        match &self.short_by_length {
            Some(by_length) => masks.extend(views.iter().map(|&view| by_length.bits(view))),
            None => masks.extend(views.iter().map(|&view| {
                self.short.iter().fold(0, |bits, literal| {
                    bits | literal.bits
                        & u32::from(view & literal.view_mask == literal.view).wrapping_neg()
                })
            })),
        }
        for literal in &self.long {
            for (row, &view) in views.iter().enumerate() {
                if view & literal.view_mask == literal.view
                    && values.is_valid(row)
                    && values.value(row) == literal.text
                {
                    masks[row] |= literal.bits;
                }
            }
        }
    }

    /// Bits of any text column, value by value (a NULL matches nothing).
    fn text_bits<'a>(&self, values: impl Iterator<Item = Option<&'a str>>, masks: &mut Vec<u32>) {
        masks.extend(values.map(|value| {
            value.map_or(0, |value| {
                self.short
                    .iter()
                    .chain(&self.long)
                    .filter(|literal| literal.text == value)
                    .fold(0, |bits, literal| bits | literal.bits)
            })
        }));
    }
}

/// Short literals (up to 12 bytes) of different lengths, found by a row's length: one
/// comparison a row, without a branch.
#[derive(Debug, Clone)]
struct ShortByLength {
    /// At index n, the literal of n bytes (for n <= 12), as its view, the bits of the
    /// view it fills, and its condition bits; index 13 (longer texts) and lengths without
    /// a literal match nothing.
    by_length: [(u128, u128, u32); 14],
}

impl ShortByLength {
    fn new(short: &[TextLiteral]) -> Option<Self> {
        let mut by_length = [(1, 0, 0); 14];
        for literal in short {
            let slot = &mut by_length[literal.text.len()];
            if slot.2 != 0 {
                return None;
            }
            *slot = (literal.view, literal.view_mask, literal.bits);
        }
        Some(ShortByLength { by_length })
    }

    #[inline(always)]
    fn bits(&self, view: u128) -> u32 {
        let (literal, filled, bits) = self.by_length[(view as u32).min(13) as usize];
        bits & u32::from(view & filled == literal).wrapping_neg()
    }
}

/// The column index and the literal of `column = 'text'` or `'text' = column`, when
/// `condition` is that over a text column (of any string type) and a non-NULL literal.
fn column_equals_text(condition: &Arc<dyn PhysicalExpr>) -> Option<(usize, String)> {
    let binary = (**condition).downcast_ref::<BinaryExpr>()?;
    if *binary.op() != Operator::Eq {
        return None;
    }
    let sides = [
        (binary.left(), binary.right()),
        (binary.right(), binary.left()),
    ];
    sides.into_iter().find_map(|(column, literal)| {
        let column = (**column).downcast_ref::<Column>()?;
        let literal = (**literal).downcast_ref::<Literal>()?;
        match literal.value() {
            ScalarValue::Utf8(Some(text))
            | ScalarValue::Utf8View(Some(text))
            | ScalarValue::LargeUtf8(Some(text)) => Some((column.index(), text.clone())),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{LargeStringArray, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::{col, lit};

    use super::*;

    const TEXTS: [Option<&str>; 11] = [
        Some("view"),
        Some("cart"),
        Some("pay"),
        None,
        Some(""),
        Some("add_to_cart"),
        Some("promo-channel-4"),
        Some("promo-channel-5"),
        Some("promo"),
        Some("view "),
        Some("123456789012"),
    ];

    fn equals(column: &str, text: &str, schema: &Schema) -> Arc<dyn PhysicalExpr> {
        let column = col(column, schema).expect("column");
        Arc::new(BinaryExpr::new(column, Operator::Eq, lit(text)))
    }

    /// The expected bits: condition k holds where the text equals `literals[k]`.
    fn expected(literals: &[&str]) -> Vec<u32> {
        TEXTS
            .iter()
            .map(|text| {
                literals
                    .iter()
                    .enumerate()
                    .filter(|(_, literal)| *text == Some(**literal))
                    .fold(0, |bits, (k, _)| bits | 1 << k)
            })
            .collect()
    }

    #[test]
    fn equalities_of_one_text_column_read_it_once_whatever_its_string_type() {
        // Short literals of different lengths (found by length), then with two of one
        // length ("view" and "cart": compared one by one).
        let distinct_lengths = vec![
            "view",
            "",
            "promo-channel-4",
            "123456789012",
            "view",
            "promo-channel-44",
            "add_to_cart",
        ];
        let mut shared_length = distinct_lengths.clone();
        shared_length.extend(["cart", "pay", "promo-channel-5"]);
        for literals in [distinct_lengths, shared_length] {
            equalities_give_the_bits_of_each_condition(&literals);
        }
    }

    fn equalities_give_the_bits_of_each_condition(literals: &[&str]) {
        let columns: [ArrayRef; 3] = [
            Arc::new(StringViewArray::from_iter(TEXTS)),
            Arc::new(StringArray::from_iter(TEXTS)),
            Arc::new(LargeStringArray::from_iter(TEXTS)),
        ];
        for values in columns {
            let schema = Schema::new(vec![
                Field::new("n", DataType::Int64, true),
                Field::new("t", values.data_type().clone(), true),
            ]);
            let mut conditions: Vec<_> = literals
                .iter()
                .map(|literal| equals("t", literal, &schema))
                .collect();
            // The literal on the left.
            conditions[1] = Arc::new(BinaryExpr::new(
                lit(""),
                Operator::Eq,
                col("t", &schema).expect("column"),
            ));
            let bits = ConditionBits::new(&conditions, &schema);
            let ConditionBits::TextEqualities(equalities) = &bits else {
                panic!("not recognized: {bits:?}");
            };
            let two_of_one_length = literals.contains(&"cart");
            assert_eq!(equalities.short_by_length.is_none(), two_of_one_length);
            let numbers = Arc::new(datafusion::arrow::array::Int64Array::from(vec![0; 11]));
            let batch =
                RecordBatch::try_new(Arc::new(schema), vec![numbers, values]).expect("batch");
            let mut masks = Vec::new();
            let nulls = bits.evaluate(&batch, &mut masks).expect("evaluate");
            let expected = expected(literals);
            assert_eq!(masks.len(), expected.len());
            for (row, text) in TEXTS.iter().enumerate() {
                match text {
                    Some(_) => assert_eq!(masks[row], expected[row], "row {row}: {text:?}"),
                    None => assert!(nulls.as_ref().is_some_and(|n| n.is_null(row))),
                }
            }
        }
    }

    #[test]
    fn other_conditions_are_evaluated_one_by_one() {
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("t", DataType::Utf8View, true),
            Field::new("u", DataType::Utf8View, true),
        ]);
        let two_columns = [equals("t", "a", &schema), equals("u", "b", &schema)];
        let not_equal: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            col("t", &schema).expect("column"),
            Operator::NotEq,
            lit("a"),
        ));
        let numbers: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            col("n", &schema).expect("column"),
            Operator::Eq,
            lit(3i64),
        ));
        for conditions in [
            two_columns.to_vec(),
            vec![equals("t", "a", &schema), not_equal],
            vec![numbers],
        ] {
            let bits = ConditionBits::new(&conditions, &schema);
            assert!(matches!(bits, ConditionBits::Evaluated(_)), "{bits:?}");
        }
    }
}
