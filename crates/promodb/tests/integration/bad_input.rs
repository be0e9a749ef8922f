//! Bad input gets a clear, typed error, never a panic, and nothing already accepted is lost.

use std::sync::Arc;

use promodb::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::{DataType, Field, Schema};
use promodb::{Error, ErrorKind, PromoDb};

use promodb::schema::Table;

use crate::common::{all_rows, fixture, query, small_promo, table, write_parquet};

#[test]
fn bad_sql_is_a_sql_error() {
    let db = small_promo();
    for sql in [
        "SELEC * FROM orders",
        "SELECT nope FROM orders",
        "SELECT * FROM orders WHERE",
        "",
    ] {
        let err = query(&db, sql).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Sql, "{sql}: {err}");
        assert!(!err.to_string().contains('\n'), "multi-line message: {err}");
    }
}

#[test]
fn unknown_tables_are_named() {
    let db = small_promo();
    let err = query(&db, "SELECT * FROM order_lines").unwrap_err();
    assert!(err.to_string().contains("order_lines"), "{err}");

    let err = db
        .load("order_lines", &fixture("small/orders.csv"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTable { table, .. } if table == "order_lines"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn canonical_tables_cannot_be_dropped_or_replaced() {
    let db = small_promo();
    for sql in ["DROP TABLE orders", "CREATE TABLE orders AS SELECT 1 AS x"] {
        let err = query(&db, sql).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Sql, "{sql}");
    }
    assert_eq!(db.row_count("orders").unwrap(), 8);
}

#[test]
fn a_batch_with_the_wrong_schema_is_refused_whole() {
    let db = small_promo();
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Float64, false),
        Field::new("sku_id", DataType::Int64, false),
        Field::new("warehouse", DataType::Utf8, false),
        Field::new("on_hand", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["hz"])),
            Arc::new(Int64Array::from(vec![1])),
        ],
    )
    .unwrap();
    let err = db.append("inventory", batch).unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert_eq!(db.row_count("inventory").unwrap(), 12);
}

#[test]
fn a_user_column_whose_type_changes_is_refused_and_nothing_is_stored() {
    let db = PromoDb::in_memory().unwrap();
    let with_coupon = |coupon: Arc<dyn promodb::arrow::array::Array>| {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("ts", DataType::Utf8, false),
                Field::new("sku_id", DataType::Int64, false),
                Field::new("warehouse", DataType::Utf8, false),
                Field::new("on_hand", DataType::Int64, false),
                Field::new("shelf", coupon.data_type().clone(), true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["2026-11-11T00:00:00Z"])),
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(StringArray::from(vec!["hz"])),
                Arc::new(Int64Array::from(vec![1])),
                coupon,
            ],
        )
        .unwrap()
    };
    db.append(
        "inventory",
        with_coupon(Arc::new(Int64Array::from(vec![4]))),
    )
    .unwrap();
    let err = db
        .append(
            "inventory",
            with_coupon(Arc::new(StringArray::from(vec!["A-4"]))),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::TypeMismatch { column, .. } if column == "shelf"),
        "{err:?}"
    );
    assert_eq!(db.row_count("inventory").unwrap(), 1);
}

#[test]
fn bad_files_are_refused_whole_with_the_file_named_and_earlier_data_kept() {
    let db = small_promo();
    let cases = [
        ("bad/orders_bad_ts.csv", "'yesterday' is not a timestamp"),
        ("bad/orders_three_decimals.csv", "more than 2 decimals"),
        (
            "bad/orders_missing_amount.csv",
            "orders.amount: required column is missing",
        ),
        ("bad/orders_null_user.csv", "orders.user_id: NULL at row 0"),
        ("bad/orders_corrupt.parquet", "orders_corrupt.parquet"),
        ("bad/orders_malformed.jsonl", "orders_malformed.jsonl"),
        ("bad/no_such_file.csv", "no_such_file.csv"),
        ("small/README-missing-dir/", "README-missing-dir"),
    ];
    for (file, expected) in cases {
        let err = db.load("orders", &fixture(file)).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(expected), "{file}: {message}");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Io | ErrorKind::Schema | ErrorKind::NotFound
            ),
            "{file}: {:?}",
            err.kind()
        );
        assert_eq!(db.row_count("orders").unwrap(), 8, "{file} stored rows");
    }
    // The first bad row is named too.
    let err = db
        .load("orders", &fixture("bad/orders_three_decimals.csv"))
        .unwrap_err();
    assert!(err.to_string().contains("row 1"), "{err}");
}

#[test]
fn a_load_with_one_bad_file_among_good_ones_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("small/orders.csv"), dir.path().join("a.csv")).unwrap();
    std::fs::copy(fixture("bad/orders_bad_ts.csv"), dir.path().join("b.csv")).unwrap();
    let db = PromoDb::in_memory().unwrap();
    let err = db.load("orders", dir.path().to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("b.csv"), "{err}");
    assert_eq!(db.row_count("orders").unwrap(), 0);
}

/// A setting DataFusion 55 accepts at `SET` but unwraps while it scans Parquet (a bad
/// `coerce_int96`) makes the query fail with an internal error, on one thread or several,
/// instead of taking the caller down; the database answers the next query as before.
#[test]
fn a_panic_inside_the_engine_is_the_query_error_and_the_database_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skus.parquet");
    write_parquet(&path, &all_rows(&small_promo(), Table::Skus), 3);
    let db = PromoDb::in_memory().unwrap();
    db.attach("skus", path.to_str().unwrap()).unwrap();
    let count = "SELECT count(*) AS n FROM skus WHERE unit_cost > 0";
    let expected = table(&query(&db, count).unwrap());
    let bad = format!("SET datafusion.execution.parquet.coerce_int96 = 'bogus'; {count}");
    let several_threads = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    // The same scan inside a CREATE TABLE AS, which runs when it is planned.
    let create = "SET datafusion.execution.parquet.coerce_int96 = 'bogus'; \
                  CREATE TABLE copied AS SELECT * FROM skus WHERE unit_cost > 0";
    for outcome in [
        query(&db, &bad),
        several_threads.block_on(db.sql(&bad)),
        query(&db, create),
    ] {
        let error = outcome.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Internal, "{error}");
        assert!(error.to_string().contains("the query panicked"), "{error}");
        assert!(error.to_string().contains("coerce_int96"), "{error}");
    }
    let good = format!("SET datafusion.execution.parquet.coerce_int96 = 'us'; {count}");
    assert_eq!(table(&query(&db, &good).unwrap()), expected);
    assert_eq!(
        db.row_count("skus").unwrap(),
        all_rows(&small_promo(), Table::Skus).num_rows()
    );
}
