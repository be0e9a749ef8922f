use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, DictionaryArray, Float32Array, Float64Array,
    Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, Int8Type, Int64Type, Schema, TimestampMicrosecondType,
};

use super::*;
use crate::error::Error;

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn micros(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
    batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect()
}

fn cents(batch: &RecordBatch, column: &str) -> Vec<Option<i128>> {
    batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Decimal128Type>()
        .iter()
        .collect()
}

/// The minimum valid inventory batch, with `ts` given by the caller.
fn inventory(ts: ArrayRef) -> RecordBatch {
    let n = ts.len();
    batch(vec![
        ("ts", ts),
        ("sku_id", Arc::new(Int64Array::from(vec![1; n]))),
        ("warehouse", Arc::new(StringArray::from(vec!["hz"; n]))),
        ("on_hand", Arc::new(Int64Array::from(vec![5; n]))),
    ])
}

/// The minimum valid refunds batch, with `amount` given by the caller.
fn refunds(amount: ArrayRef) -> RecordBatch {
    let n = amount.len();
    batch(vec![
        ("amount", amount),
        (
            "ts",
            Arc::new(StringArray::from(vec!["2026-11-11T00:00:00Z"; n])),
        ),
        ("order_id", Arc::new(Int64Array::from(vec![1; n]))),
        ("sku_id", Arc::new(Int64Array::from(vec![1; n]))),
        ("qty", Arc::new(Int64Array::from(vec![1; n]))),
    ])
}

#[test]
fn reorders_columns_fills_missing_nullable_and_keeps_extras() {
    let input = batch(vec![
        (
            "coupon",
            Arc::new(StringArray::from(vec!["D11"])) as ArrayRef,
        ),
        ("amount", Arc::new(StringArray::from(vec!["10.5"]))),
        ("qty", Arc::new(Int32Array::from(vec![2]))),
        ("sku_id", Arc::new(Int64Array::from(vec![7]))),
        ("user_id", Arc::new(UInt64Array::from(vec![42]))),
        ("order_id", Arc::new(Int64Array::from(vec![1]))),
        (
            "ts",
            Arc::new(StringArray::from(vec!["2026-11-11 00:00:01"])),
        ),
    ]);
    let out = conform(Table::Orders, &input).unwrap();
    let schema = out.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "ts",
            "order_id",
            "user_id",
            "sku_id",
            "qty",
            "unit_price",
            "amount",
            "channel",
            "campaign_id",
            "region",
            "coupon"
        ]
    );
    for (i, column) in Table::Orders.def().columns.iter().enumerate() {
        assert_eq!(
            out.schema().field(i).data_type(),
            &column.column_type.arrow_type()
        );
        assert_eq!(out.schema().field(i).is_nullable(), column.nullable);
    }
    assert_eq!(cents(&out, "amount"), [Some(1050)]);
    assert_eq!(out.column_by_name("unit_price").unwrap().null_count(), 1);
    assert_eq!(out.column_by_name("channel").unwrap().null_count(), 1);
    assert_eq!(
        out.column_by_name("coupon").unwrap().data_type(),
        &DataType::Utf8View
    );
    assert_eq!(micros(&out, "ts"), [Some(1_794_355_201_000_000)]);
}

#[test]
fn timestamps_of_every_unit_and_zone_become_utc_microseconds() {
    // 2026-11-11T00:00:00Z
    let base_s = 1_794_355_200_i64;
    let cases: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(vec![base_s])),
        Arc::new(TimestampMillisecondArray::from(vec![base_s * 1_000]).with_timezone("+08:00")),
        Arc::new(TimestampNanosecondArray::from(vec![base_s * 1_000_000_000]).with_timezone("UTC")),
        Arc::new(StringArray::from(vec!["2026-11-11T08:00:00+08:00"])),
        Arc::new(LargeStringArray::from(vec!["2026-11-11T00:00:00Z"])),
        Arc::new(StringViewArray::from(vec!["2026-11-11 00:00:00"])),
        Arc::new(
            vec!["2026-11-11T00:00:00.000Z"]
                .into_iter()
                .collect::<DictionaryArray<Int8Type>>(),
        ),
    ];
    for ts in cases {
        let described = ts.data_type().to_string();
        let out = conform(Table::Inventory, &inventory(ts)).unwrap();
        assert_eq!(
            micros(&out, "ts"),
            [Some(base_s * 1_000_000)],
            "{described}"
        );
        assert_eq!(
            out.schema().field(0).data_type(),
            &ColumnType::Timestamp.arrow_type()
        );
    }
}

#[test]
fn unparseable_timestamp_names_table_column_and_first_bad_row() {
    let ts = Arc::new(StringArray::from(vec![
        "2026-11-11T00:00:00Z",
        "soon",
        "never",
    ]));
    let err = conform(Table::Inventory, &inventory(ts)).unwrap_err();
    match &err {
        Error::InvalidValue {
            table, column, row, ..
        } => assert_eq!(
            (table.as_str(), column.as_str(), *row),
            ("inventory", "ts", 1)
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().contains("'soon' is not a timestamp"),
        "{err}"
    );
}

#[test]
fn money_from_integers_floats_decimals_and_text() {
    let cases: Vec<(ArrayRef, Vec<Option<i128>>)> = vec![
        (
            Arc::new(Int64Array::from(vec![12, -3])),
            vec![Some(1200), Some(-300)],
        ),
        (
            Arc::new(Float64Array::from(vec![12.3, 0.07])),
            vec![Some(1230), Some(7)],
        ),
        (
            Arc::new(Float32Array::from(vec![12.3_f32])),
            vec![Some(1230)],
        ),
        (
            Arc::new(StringArray::from(vec!["12.30", " 7 "])),
            vec![Some(1230), Some(700)],
        ),
        (
            Arc::new(
                Decimal128Array::from(vec![123_400_i128])
                    .with_precision_and_scale(20, 4)
                    .unwrap(),
            ),
            vec![Some(1234)],
        ),
        (
            Arc::new(
                Decimal128Array::from(vec![5_i128])
                    .with_precision_and_scale(5, 0)
                    .unwrap(),
            ),
            vec![Some(500)],
        ),
    ];
    for (amount, expected) in cases {
        let described = amount.data_type().to_string();
        let out = conform(Table::Refunds, &refunds(amount)).unwrap();
        assert_eq!(cents(&out, "amount"), expected, "{described}");
    }
}

#[test]
fn money_with_more_than_two_decimals_or_out_of_range_is_refused() {
    let cases: Vec<(ArrayRef, usize, &str)> = vec![
        (
            Arc::new(StringArray::from(vec!["1.00", "1.005"])),
            1,
            "more than 2 decimals",
        ),
        (
            Arc::new(Float64Array::from(vec![0.1 + 0.2])),
            0,
            "more than 2 decimals",
        ),
        (
            Arc::new(
                Decimal128Array::from(vec![1_000_i128, 1_001])
                    .with_precision_and_scale(10, 3)
                    .unwrap(),
            ),
            1,
            "more than 2 decimals",
        ),
        (
            Arc::new(Int64Array::from(vec![i64::MAX])),
            0,
            "out of range",
        ),
        (
            Arc::new(StringArray::from(vec!["99999999999999999"])),
            0,
            "out of range",
        ),
        (Arc::new(Float64Array::from(vec![f64::NAN])), 0, "not money"),
        (Arc::new(StringArray::from(vec!["ten"])), 0, "not a decimal"),
    ];
    for (amount, bad_row, reason) in cases {
        let described = amount.data_type().to_string();
        let err = conform(Table::Refunds, &refunds(amount)).unwrap_err();
        match &err {
            Error::InvalidValue { column, row, .. } => {
                assert_eq!((column.as_str(), *row), ("amount", bad_row), "{described}")
            }
            other => panic!("{described}: unexpected {other:?}"),
        }
        assert!(err.to_string().contains(reason), "{described}: {err}");
    }
}

#[test]
fn missing_required_column_and_null_in_required_column_are_refused() {
    let without_amount = batch(vec![
        (
            "ts",
            Arc::new(StringArray::from(vec!["2026-11-11T00:00:00Z"])) as ArrayRef,
        ),
        ("order_id", Arc::new(Int64Array::from(vec![1]))),
        ("sku_id", Arc::new(Int64Array::from(vec![1]))),
        ("qty", Arc::new(Int64Array::from(vec![1]))),
    ]);
    let err = conform(Table::Refunds, &without_amount).unwrap_err();
    assert!(
        matches!(&err, Error::MissingColumn { table, column } if table == "refunds" && column == "amount"),
        "{err:?}"
    );

    let null_amount = refunds(Arc::new(StringArray::from(vec![Some("1.00"), None])));
    let err = conform(Table::Refunds, &null_amount).unwrap_err();
    assert!(
        matches!(&err, Error::NullValue { column, row: 1, .. } if column == "amount"),
        "{err:?}"
    );
}

#[test]
fn bigint_conversions_refuse_fractions_overflow_and_text() {
    let qty = |array: ArrayRef| {
        let n = array.len();
        batch(vec![
            ("qty", array),
            (
                "ts",
                Arc::new(StringArray::from(vec!["2026-11-11T00:00:00Z"; n])) as ArrayRef,
            ),
            ("order_id", Arc::new(Int64Array::from(vec![1; n]))),
            ("sku_id", Arc::new(Int64Array::from(vec![1; n]))),
            ("amount", Arc::new(Int64Array::from(vec![1; n]))),
        ])
    };
    let ok = conform(
        Table::Refunds,
        &qty(Arc::new(Float64Array::from(vec![3.0]))),
    )
    .unwrap();
    assert_eq!(
        ok.column_by_name("qty")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0),
        3
    );
    let ok = conform(
        Table::Refunds,
        &qty(Arc::new(StringArray::from(vec![" 4"]))),
    )
    .unwrap();
    assert_eq!(
        ok.column_by_name("qty")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0),
        4
    );
    let bad: Vec<(ArrayRef, &str)> = vec![
        (
            Arc::new(Float64Array::from(vec![1.0, 2.5])),
            "2.5 is not a BIGINT",
        ),
        (
            Arc::new(UInt64Array::from(vec![1, u64::MAX])),
            "is not a BIGINT",
        ),
        (
            Arc::new(StringArray::from(vec!["1", "two"])),
            "'two' is not a BIGINT",
        ),
    ];
    for (array, reason) in bad {
        let err = conform(Table::Refunds, &qty(array)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { column, row: 1, .. } if column == "qty"),
            "{err:?}"
        );
        assert!(err.to_string().contains(reason), "{err}");
    }
}

#[test]
fn strings_of_every_flavour_become_utf8_view() {
    let flavours: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["hz"])),
        Arc::new(LargeStringArray::from(vec!["hz"])),
        Arc::new(
            vec!["hz"]
                .into_iter()
                .collect::<DictionaryArray<Int8Type>>(),
        ),
    ];
    for warehouse in flavours {
        let input = batch(vec![
            (
                "ts",
                Arc::new(StringArray::from(vec!["2026-11-11T00:00:00Z"])) as ArrayRef,
            ),
            ("sku_id", Arc::new(Int64Array::from(vec![1]))),
            ("warehouse", warehouse),
            ("on_hand", Arc::new(Int64Array::from(vec![5]))),
        ]);
        let out = conform(Table::Inventory, &input).unwrap();
        let column = out.column_by_name("warehouse").unwrap();
        assert_eq!(column.data_type(), &DataType::Utf8View);
        assert_eq!(column.as_string_view().value(0), "hz");
    }
}

/// Text read from `Utf8` keeps no data buffer its values do not need: short values are
/// held in their views alone (so comparisons read them as 16-byte integers), and long
/// ones keep their bytes.
#[test]
fn text_columns_keep_only_the_bytes_their_values_need() {
    let warehouses = |values: Vec<Option<&str>>| {
        let rows = values.len();
        let input = batch(vec![
            (
                "ts",
                Arc::new(StringArray::from(vec!["2026-11-11T00:00:00Z"; rows])) as ArrayRef,
            ),
            ("sku_id", Arc::new(Int64Array::from(vec![1; rows]))),
            ("warehouse", Arc::new(StringArray::from(values))),
            ("on_hand", Arc::new(Int64Array::from(vec![5; rows]))),
        ]);
        let out = conform(Table::Inventory, &input).unwrap();
        Arc::clone(out.column_by_name("warehouse").unwrap())
    };
    let short = vec![Some("hz"), Some("exactly12byt"), Some("")];
    let column = warehouses(short.clone());
    let views = column.as_string_view();
    assert!(views.data_buffers().is_empty(), "{views:?}");
    assert_eq!(views.iter().collect::<Vec<_>>(), short);

    let long = "a warehouse name longer than twelve bytes";
    let mixed = vec![Some("hz"), Some(long), Some("sh")];
    let column = warehouses(mixed.clone());
    let views = column.as_string_view();
    let held: usize = views.data_buffers().iter().map(|b| b.len()).sum();
    assert!(
        held >= long.len() && held < 2 * long.len(),
        "{held} bytes held"
    );
    assert_eq!(views.iter().collect::<Vec<_>>(), mixed);
}

#[test]
fn a_type_that_cannot_become_a_timestamp_is_a_type_mismatch() {
    let err = conform(
        Table::Inventory,
        &inventory(Arc::new(Float64Array::from(vec![1.0]))),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::TypeMismatch { column, .. } if column == "ts"),
        "{err:?}"
    );
}
