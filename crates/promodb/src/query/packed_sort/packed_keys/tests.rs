use super::*;
use crate::test_random::xorshift;

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array, Int32Array,
    Int64Array, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::lexsort_to_indices;

/// The order arrow's lexicographic sort gives, ties broken by row index.
fn arrow_order(columns: &[SortColumn]) -> Vec<u32> {
    let rows = columns[0].values.len();
    let mut with_row = columns.to_vec();
    with_row.push(SortColumn {
        values: Arc::new(UInt32Array::from_iter_values(0..rows as u32)),
        options: None,
    });
    lexsort_to_indices(&with_row, None)
        .unwrap()
        .values()
        .to_vec()
}

fn every_option() -> [SortOptions; 4] {
    [false, true]
        .map(|descending| SortOptions {
            descending,
            nulls_first: false,
        })
        .into_iter()
        .chain([false, true].map(|descending| SortOptions {
            descending,
            nulls_first: true,
        }))
        .collect::<Vec<_>>()
        .try_into()
        .unwrap()
}

/// Random columns of several types, with NULLs, repeats and extreme values.
fn random_columns(rows: usize, seed: u64) -> Vec<ArrayRef> {
    let mut next = xorshift(seed);
    let null_or = |value: u64, every: u64| (!value.is_multiple_of(every)).then_some(value);
    let few: Vec<Option<i64>> = (0..rows)
        .map(|_| null_or(next(), 7).map(|v| (v % 5) as i64 - 2))
        .collect();
    let ts: Vec<Option<i64>> = (0..rows)
        .map(|_| null_or(next(), 11).map(|v| 1_762_819_200_000_000 + (v % 86_400_000_000) as i64))
        .collect();
    let extremes = [i64::MIN, -1, 0, 1, i64::MAX];
    let wide: Vec<i64> = (0..rows).map(|_| extremes[(next() % 5) as usize]).collect();
    let floats = [
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        1.5,
        -2.25,
        f64::NAN,
        f64::INFINITY,
    ];
    let float: Vec<Option<f64>> = (0..rows)
        .map(|_| null_or(next(), 9).map(|v| floats[(v % 7) as usize]))
        .collect();
    let money: Vec<Option<i128>> = (0..rows)
        .map(|_| null_or(next(), 13).map(|v| (v % 1_000_000) as i128 * 10_i128.pow(15)))
        .collect();
    let unsigned: Vec<u64> = (0..rows)
        .map(|_| [0, 1, u64::MAX - 1, u64::MAX][(next() % 4) as usize])
        .collect();
    let tiny: Vec<Option<i8>> = (0..rows)
        .map(|_| null_or(next(), 3).map(|v| v as i8))
        .collect();
    let singles = [
        f32::NAN,
        -f32::NAN,
        -0.0,
        0.0,
        -1.5,
        f32::MIN_POSITIVE,
        f32::MAX,
    ];
    let single: Vec<Option<f32>> = (0..rows)
        .map(|_| null_or(next(), 5).map(|v| singles[(v % 7) as usize]))
        .collect();
    let days: Vec<Option<i32>> = (0..rows)
        .map(|_| null_or(next(), 17).map(|v| 20_000 + (v % 40) as i32 - 20))
        .collect();
    let words: Vec<u32> = (0..rows)
        .map(|_| [0, 7, u32::MAX][(next() % 3) as usize])
        .collect();
    vec![
        Arc::new(Int64Array::from(few)),
        Arc::new(TimestampMicrosecondArray::from(ts)),
        Arc::new(Int64Array::from(wide)),
        Arc::new(Float64Array::from(float)),
        Arc::new(
            Decimal128Array::from(money)
                .with_precision_and_scale(38, 2)
                .unwrap(),
        ),
        Arc::new(UInt64Array::from(unsigned)),
        Arc::new(Int8Array::from(tiny)),
        Arc::new(Int32Array::from_iter_values((0..rows as i32).rev())),
        Arc::new(Float32Array::from(single)),
        Arc::new(Date32Array::from(days)),
        Arc::new(UInt32Array::from(words)),
    ]
}

#[test]
fn pairs_of_columns_sort_as_arrow_sorts_them_in_every_direction() {
    let columns = random_columns(2_000, 42);
    let mut packed = 0;
    for (first, second) in (0..columns.len()).flat_map(|a| (0..columns.len()).map(move |b| (a, b)))
    {
        for (first_options, second_options) in every_option()
            .into_iter()
            .flat_map(|a| every_option().map(move |b| (a, b)))
        {
            let sort = [
                SortColumn {
                    values: Arc::clone(&columns[first]),
                    options: Some(first_options),
                },
                SortColumn {
                    values: Arc::clone(&columns[second]),
                    options: Some(second_options),
                },
            ];
            let Some(indices) = sorted_indices(&sort) else {
                continue;
            };
            packed += 1;
            assert_eq!(
                indices,
                arrow_order(&sort),
                "columns {first} {first_options:?}, {second} {second_options:?}"
            );
        }
    }
    // Only pairs of the full-range i64, the full-range u64, the doubles from -inf to
    // NaN (64 bits each) and the decimal column (70 bits) need more than 128 bits: 16
    // of the 121 pairs.
    assert_eq!(packed, 105 * 16);
}

#[test]
fn sliced_columns_are_read_from_their_offset() {
    let columns = random_columns(3_000, 7);
    for column in &columns {
        let sliced = column.slice(1_000, 1_500);
        let sort = [SortColumn {
            values: sliced,
            options: Some(SortOptions {
                descending: true,
                nulls_first: true,
            }),
        }];
        assert_eq!(sorted_indices(&sort).unwrap(), arrow_order(&sort));
    }
}

#[test]
fn keys_wider_than_128_bits_are_left_to_arrow() {
    let full: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN, i64::MAX, 0]));
    let sort = |count: usize| {
        (0..count)
            .map(|_| SortColumn {
                values: Arc::clone(&full),
                options: None,
            })
            .collect::<Vec<_>>()
    };
    // One full-range i64 column takes 64 bits and the row index 2: a u128 key.
    assert_eq!(sorted_indices(&sort(1)), Some(vec![0, 2, 1]));
    assert_eq!(sorted_indices(&sort(2)), None);
    // Decimals whose span overflows i128.
    let huge: ArrayRef = Arc::new(
        Decimal128Array::from(vec![i128::MAX, i128::MIN + 1, 0])
            .with_precision_and_scale(38, 0)
            .unwrap(),
    );
    let huge = [SortColumn {
        values: huge,
        options: None,
    }];
    assert_eq!(sorted_indices(&huge), None);
    let unsupported: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec!["a"]));
    let text = [SortColumn {
        values: unsupported,
        options: None,
    }];
    assert_eq!(sorted_indices(&text), None);
    assert!(!is_packable(&DataType::Utf8));
}

#[test]
fn all_null_and_constant_columns_keep_row_order() {
    let nulls: ArrayRef = Arc::new(Int64Array::from(vec![None, None, None]));
    let constant: ArrayRef = Arc::new(Int64Array::from(vec![5, 5, 5]));
    for values in [nulls, constant] {
        let sort = [SortColumn {
            values,
            options: Some(SortOptions {
                descending: true,
                nulls_first: false,
            }),
        }];
        assert_eq!(sorted_indices(&sort), Some(vec![0, 1, 2]));
    }
}
