//! Parquet files attached to canonical tables: read in place, checked once when attached,
//! and answering every query and view as the same rows loaded into memory do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promodb::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::{Field, Schema};
use promodb::ingest::LoadReport;
use promodb::schema::Table;
use promodb::views::BUILTIN_VIEWS;
use promodb::{Error, PromoDb};

use crate::common::{
    all_rows, assert_text_eq, file_minutes, file_time_ranges, query, small_promo, table,
    write_parquet,
};

/// The small promo written as one Parquet file per table (row groups of 3 rows) in `dir`.
fn small_promo_files(dir: &Path) -> Vec<(Table, PathBuf)> {
    let loaded = small_promo();
    Table::ALL
        .iter()
        .map(|&t| {
            let path = dir.join(format!("{}.parquet", t.name()));
            write_parquet(&path, &all_rows(&loaded, t), 3);
            (t, path)
        })
        .collect()
}

/// A query's rows as sorted text lines, so that row order does not matter.
fn sorted_rows(db: &PromoDb, sql: &str) -> String {
    let text = table(&query(db, sql).unwrap_or_else(|e| panic!("{sql}: {e}")));
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

#[test]
fn every_view_over_attached_files_equals_the_same_rows_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let attached = PromoDb::in_memory().unwrap();
    for (table, path) in small_promo_files(dir.path()) {
        let report = attached
            .attach(table.name(), path.to_str().unwrap())
            .unwrap();
        assert_eq!(report.files, 1);
        assert_eq!(report.rows, small_promo().row_count(table.name()).unwrap());
        assert_eq!(attached.snapshot(table.name()).unwrap().memory_rows(), 0);
    }
    let loaded = small_promo();
    for view in BUILTIN_VIEWS {
        let sql = format!("SELECT * FROM {}", view.name);
        let expected = sorted_rows(&loaded, &sql);
        assert!(
            expected.lines().count() > 4,
            "{}: the fixture gives rows",
            view.name
        );
        assert_eq!(sorted_rows(&attached, &sql), expected, "{}", view.name);
    }
    for table in Table::ALL {
        let sql = format!("SELECT * FROM {}", table.name());
        assert_eq!(
            sorted_rows(&attached, &sql),
            sorted_rows(&loaded, &sql),
            "{table}"
        );
    }
}

#[test]
fn attached_files_and_appended_rows_are_read_together() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = small_promo();
    let orders = all_rows(&loaded, Table::Orders);
    write_parquet(&dir.path().join("first.parquet"), &orders.slice(0, 5), 2);
    let db = PromoDb::in_memory().unwrap();
    db.attach("orders", dir.path().join("first.parquet").to_str().unwrap())
        .unwrap();
    db.append("orders", orders.slice(5, orders.num_rows() - 5))
        .unwrap();
    assert_eq!(db.row_count("orders").unwrap(), orders.num_rows());
    assert_eq!(
        db.snapshot("orders").unwrap().memory_rows(),
        orders.num_rows() - 5
    );
    for sql in [
        "SELECT * FROM orders",
        "SELECT channel, sum(amount), count(*) FROM orders GROUP BY channel",
        "SELECT * FROM kpi_minute",
    ] {
        assert_eq!(sorted_rows(&db, sql), sorted_rows(&loaded, sql), "{sql}");
    }
}

/// Orders in hour `hour` of 2026-11-11: two rows, order ids `10 * hour` and one more.
pub(crate) fn hour_of_orders(hour: i64) -> RecordBatch {
    let db = PromoDb::in_memory().unwrap();
    let fields = crate::common::text_order_fields();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        vec![
            Arc::new(StringArray::from(vec![
                format!("2026-11-11T{hour:02}:00:00Z"),
                format!("2026-11-11T{hour:02}:30:00Z"),
            ])) as ArrayRef,
            Arc::new(Int64Array::from(vec![10 * hour, 10 * hour + 1])),
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int64Array::from(vec![1, 1])),
            Arc::new(Int64Array::from(vec![hour, hour])),
            Arc::new(StringArray::from(vec!["1.00", "2.00"])),
        ],
    )
    .unwrap();
    db.append("orders", batch).unwrap();
    all_rows(&db, Table::Orders)
}

/// A database whose orders are one attached file per hour of `hours` (`h{hour}.parquet`
/// in `dir`, the rows of [`hour_of_orders`]), and the attach report.
pub(crate) fn hourly_order_files(dir: &Path, hours: &[i64]) -> (PromoDb, LoadReport) {
    for hour in hours {
        write_parquet(
            &dir.join(format!("h{hour}.parquet")),
            &hour_of_orders(*hour),
            8,
        );
    }
    let db = PromoDb::in_memory().unwrap();
    let report = db
        .attach("orders", &format!("{}/*.parquet", dir.display()))
        .unwrap();
    (db, report)
}

#[test]
fn a_ts_filter_skips_the_files_whose_statistics_rule_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let (db, report) = hourly_order_files(dir.path(), &[1, 5, 9]);
    assert_eq!((report.files, report.rows), (3, 6));
    assert_eq!(
        file_minutes(&db, Table::Orders),
        [Some(30), Some(30), Some(30)]
    );

    let plan = table(
        &query(
            &db,
            "EXPLAIN SELECT sum(qty) FROM orders WHERE ts >= '2026-11-11T04:00:00Z' AND ts < '2026-11-11T06:00:00Z'",
        )
        .unwrap(),
    );
    assert!(plan.contains("h5.parquet"), "{plan}");
    assert!(
        !plan.contains("h1.parquet") && !plan.contains("h9.parquet"),
        "{plan}"
    );

    // The files' row counts and ts range answer count(*), min(ts) and max(ts) unread.
    let sql = "SELECT count(*) AS n, min(ts) AS first, max(ts) AS last FROM orders";
    let plan = table(&query(&db, &format!("EXPLAIN {sql}")).unwrap());
    assert!(!plan.contains("DataSourceExec"), "{plan}");
    assert_text_eq(
        "
+---+----------------------+----------------------+
| n | first                | last                 |
+---+----------------------+----------------------+
| 6 | 2026-11-11T01:00:00Z | 2026-11-11T09:30:00Z |
+---+----------------------+----------------------+",
        &table(&query(&db, sql).unwrap()),
    );

    // A key lookup is evaluated row by row inside the reader (no filter above the scan);
    // a broad filter is left to a filter above it, the reader only skipping row groups.
    let lookup = table(&query(&db, "EXPLAIN SELECT * FROM orders WHERE order_id = 50").unwrap());
    assert!(lookup.contains("predicate=order_id@1 = 50"), "{lookup}");
    assert!(!lookup.contains("FilterExec"), "{lookup}");
    let broad = table(&query(&db, "EXPLAIN SELECT * FROM orders WHERE qty >= 5").unwrap());
    assert!(broad.contains("predicate=qty@4 >= 5"), "{broad}");
    assert!(broad.contains("FilterExec"), "{broad}");
    let result = query(
        &db,
        "SELECT order_id, qty FROM orders WHERE order_id = 50 OR order_id = 91 ORDER BY order_id",
    )
    .unwrap();
    assert_text_eq(
        "
+----------+-----+
| order_id | qty |
+----------+-----+
| 50       | 5   |
| 91       | 9   |
+----------+-----+",
        &table(&result),
    );
    let result = query(
        &db,
        "SELECT sum(qty) AS qty FROM orders WHERE ts >= '2026-11-11T04:00:00Z' AND ts < '2026-11-11T06:00:00Z'",
    )
    .unwrap();
    assert_text_eq(
        "
+-----+
| qty |
+-----+
| 10  |
+-----+",
        &table(&result),
    );
}

/// A Parquet file with the given columns, each declared nullable.
fn file_with(dir: &Path, name: &str, columns: Vec<(&str, ArrayRef)>) -> PathBuf {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let path = dir.join(name);
    write_parquet(&path, &batch, 1024);
    path
}

fn skus(ids: Vec<Option<i64>>, names: Vec<&str>) -> Vec<(&'static str, ArrayRef)> {
    let n = ids.len();
    vec![
        ("sku_id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names))),
        ("category", Arc::new(StringArray::from(vec!["tea"; n]))),
        (
            "list_price",
            Arc::new(
                promodb::arrow::array::Decimal128Array::from(vec![1999; n])
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            ),
        ),
        (
            "unit_cost",
            Arc::new(
                promodb::arrow::array::Decimal128Array::from(vec![999; n])
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            ),
        ),
    ]
}

#[test]
fn files_that_cannot_be_read_in_place_are_refused_and_nothing_is_attached() {
    let dir = tempfile::tempdir().unwrap();
    let db = PromoDb::in_memory().unwrap();
    let good = file_with(
        dir.path(),
        "a_good.parquet",
        skus(vec![Some(1), Some(2)], vec!["x", "y"]),
    );
    db.attach("skus", good.to_str().unwrap()).unwrap();

    // A NULL in NOT NULL sku_id, in a column declared nullable: found by reading it.
    let nulls = file_with(
        dir.path(),
        "b_nulls.parquet",
        skus(vec![Some(3), None], vec!["x", "y"]),
    );
    let error = db
        .attach("skus", &format!("{}/*.parquet", dir.path().display()))
        .unwrap_err();
    match &error {
        Error::InFile { path, error } => {
            assert!(path.ends_with("b_nulls.parquet"), "{path:?}");
            assert!(
                matches!(error.as_ref(), Error::NullValue { column, row: 1, .. } if column == "sku_id"),
                "{error}"
            );
        }
        other => panic!("expected a NULL in a file, got {other}"),
    }
    // Neither the good file of the glob nor the bad one was attached again.
    assert_eq!(db.row_count("skus").unwrap(), 2);
    std::fs::remove_file(nulls).unwrap();

    let mut wrong_type = skus(vec![Some(4)], vec!["x"]);
    wrong_type[0].1 = Arc::new(StringArray::from(vec!["4"]));
    let wrong_type = file_with(dir.path(), "c_type.parquet", wrong_type);
    let error = db.attach("skus", wrong_type.to_str().unwrap()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("skus.sku_id: cannot convert Utf8"),
        "{error}"
    );
    assert!(error.to_string().contains("load it"), "{error}");

    let mut missing = skus(vec![Some(5)], vec!["x"]);
    missing.remove(0); // sku_id, NOT NULL
    let missing = file_with(dir.path(), "d_missing.parquet", missing);
    let error = db.attach("skus", missing.to_str().unwrap()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("skus.sku_id: required column is missing"),
        "{error}"
    );

    let corrupt = dir.path().join("e_corrupt.parquet");
    std::fs::write(&corrupt, b"PAR1 this is not a parquet file").unwrap();
    let error = db.attach("skus", corrupt.to_str().unwrap()).unwrap_err();
    assert!(matches!(error, Error::File { .. }), "{error}");
    assert!(
        error.to_string().contains("not a readable Parquet file"),
        "{error}"
    );

    let csv = dir.path().join("f.csv");
    std::fs::write(&csv, "sku_id\n1\n").unwrap();
    let error = db.attach("skus", csv.to_str().unwrap()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("only Parquet files can be attached"),
        "{error}"
    );

    assert_eq!(db.row_count("skus").unwrap(), 2);
    let result = query(&db, "SELECT sku_id, name FROM skus ORDER BY sku_id").unwrap();
    assert_text_eq(
        "
+--------+------+
| sku_id | name |
+--------+------+
| 1      | x    |
| 2      | y    |
+--------+------+",
        &table(&result),
    );
}

#[test]
fn other_string_and_integer_types_read_as_canonical_and_extra_columns_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut columns = skus(vec![Some(7), Some(8)], vec!["x", "y"]);
    columns[0].1 = Arc::new(promodb::arrow::array::Int32Array::from(vec![7, 8]));
    columns[2].1 = Arc::new(promodb::arrow::array::LargeStringArray::from(vec![
        "tea", "milk",
    ]));
    columns.push(("shelf", Arc::new(StringArray::from(vec!["a1", "b2"]))));
    let path = file_with(dir.path(), "skus.parquet", columns);
    let db = PromoDb::in_memory().unwrap();
    db.attach("skus", path.to_str().unwrap()).unwrap();
    let result = query(
        &db,
        "SELECT sku_id, category, arrow_typeof(sku_id) AS t FROM skus ORDER BY sku_id",
    )
    .unwrap();
    assert_text_eq(
        "
+--------+----------+-------+
| sku_id | category | t     |
+--------+----------+-------+
| 7      | tea      | Int64 |
| 8      | milk     | Int64 |
+--------+----------+-------+",
        &table(&result),
    );
    let error = query(&db, "SELECT shelf FROM skus").unwrap_err();
    assert!(error.to_string().contains("shelf"), "{error}");
}

#[test]
fn a_file_changed_after_it_was_attached_fails_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(dir.path(), "skus.parquet", skus(vec![Some(1)], vec!["x"]));
    let db = PromoDb::in_memory().unwrap();
    db.attach("skus", path.to_str().unwrap()).unwrap();
    let count = |db: &PromoDb| {
        table(&query(db, "SELECT count(*) AS n FROM skus WHERE sku_id > 0").unwrap())
    };
    assert!(count(&db).contains("| 1 |"), "{}", count(&db));
    file_with(
        dir.path(),
        "skus.parquet",
        skus(vec![Some(1), Some(2), Some(3)], vec!["x", "y", "z"]),
    );
    let error = query(&db, "SELECT count(*) FROM skus WHERE sku_id > 0").unwrap_err();
    assert!(
        error.to_string().contains("changed since it was attached"),
        "{error}"
    );

    // Detaching gives the table back, with its rows in memory; the new file attaches.
    db.append(
        "skus",
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "sku_id",
                promodb::arrow::datatypes::DataType::Int64,
                false,
            )])),
            vec![Arc::new(Int64Array::from(vec![42]))],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(db.detach("skus").unwrap(), 1);
    assert!(count(&db).contains("| 1 |"), "{}", count(&db));
    db.attach("skus", path.to_str().unwrap()).unwrap();
    assert!(count(&db).contains("| 4 |"), "{}", count(&db));

    // A file that went away fails the query too, naming it.
    std::fs::remove_file(&path).unwrap();
    let error = query(&db, "SELECT count(*) FROM skus WHERE sku_id > 0").unwrap_err();
    assert!(error.to_string().contains("skus.parquet"), "{error}");
}

#[test]
fn a_durable_database_refuses_attached_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(dir.path(), "skus.parquet", skus(vec![Some(1)], vec!["x"]));
    let db = PromoDb::open(dir.path().join("db")).unwrap();
    let error = db.attach("skus", path.to_str().unwrap()).unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error}");
    assert_eq!(db.row_count("skus").unwrap(), 0);
}

/// A one-column array of `type_` holding `values` (cast from Int64).
fn ints_as(values: Vec<Option<i64>>, type_: &promodb::arrow::datatypes::DataType) -> ArrayRef {
    promodb::arrow::compute::cast(&Int64Array::from(values), type_).unwrap()
}

#[test]
fn zoned_and_naive_timestamps_dictionaries_and_narrow_types_read_as_canonical() {
    use promodb::arrow::datatypes::{DataType, TimeUnit};
    let dir = tempfile::tempdir().unwrap();
    // 2026-11-11T08:00:00Z and 08:30, as microseconds.
    let micros = vec![Some(1_794_384_000_000_000), Some(1_794_385_800_000_000)];
    let ts_types = [
        DataType::Timestamp(TimeUnit::Microsecond, Some("+08:00".into())),
        DataType::Timestamp(TimeUnit::Microsecond, None),
    ];
    let db = PromoDb::in_memory().unwrap();
    for (i, ts_type) in ts_types.iter().enumerate() {
        let path = file_with(
            dir.path(),
            &format!("orders_{i}.parquet"),
            vec![
                ("ts", ints_as(micros.clone(), ts_type)),
                (
                    "order_id",
                    ints_as(
                        vec![Some(10 * i as i64), Some(10 * i as i64 + 1)],
                        &DataType::UInt32,
                    ),
                ),
                ("user_id", ints_as(vec![Some(7), Some(8)], &DataType::Int16)),
                ("sku_id", ints_as(vec![Some(1), Some(1)], &DataType::Int64)),
                ("qty", ints_as(vec![Some(1), Some(2)], &DataType::UInt8)),
                (
                    "amount",
                    Arc::new(
                        promodb::arrow::array::Decimal128Array::from(vec![1050, 2000])
                            .with_precision_and_scale(10, 2)
                            .unwrap(),
                    ),
                ),
                (
                    "channel",
                    promodb::arrow::compute::cast(
                        &StringArray::from(vec!["ads", "search"]),
                        &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    )
                    .unwrap(),
                ),
            ],
        );
        db.attach("orders", path.to_str().unwrap()).unwrap();
    }
    assert_eq!(
        file_time_ranges(&db, Table::Orders),
        vec![Some((1_794_384_000_000_000, 1_794_385_800_000_000)); 2]
    );
    let result = query(
        &db,
        "SELECT ts, order_id, user_id, qty, amount, channel, unit_price,
                arrow_typeof(ts) AS ts_type, arrow_typeof(channel) AS channel_type,
                arrow_typeof(amount) AS amount_type
         FROM orders WHERE ts > '2026-11-11T08:10:00Z' ORDER BY order_id",
    )
    .unwrap();
    assert_text_eq(
        "
+----------------------+----------+---------+-----+--------+---------+------------+----------------------+--------------+-------------------+
| ts                   | order_id | user_id | qty | amount | channel | unit_price | ts_type              | channel_type | amount_type       |
+----------------------+----------+---------+-----+--------+---------+------------+----------------------+--------------+-------------------+
| 2026-11-11T08:30:00Z | 1        | 8       | 2   | 20.00  | search  |            | Timestamp(µs, \"UTC\") | Utf8View     | Decimal128(18, 2) |
| 2026-11-11T08:30:00Z | 11       | 8       | 2   | 20.00  | search  |            | Timestamp(µs, \"UTC\") | Utf8View     | Decimal128(18, 2) |
+----------------------+----------+---------+-----+--------+---------+------------+----------------------+--------------+-------------------+",
        &table(&result),
    );
    // Both files end at 08:30: a filter after it reads neither.
    let plan = table(
        &query(
            &db,
            "EXPLAIN SELECT count(*) FROM orders WHERE ts > '2026-11-11T09:00:00Z'",
        )
        .unwrap(),
    );
    assert!(
        !plan.contains("orders_0.parquet") && !plan.contains("orders_1.parquet"),
        "{plan}"
    );
}

#[test]
fn limits_filters_and_user_columns_over_files_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h1.parquet");
    write_parquet(&path, &hour_of_orders(1), 8);
    let db = PromoDb::in_memory().unwrap();
    db.attach("orders", path.to_str().unwrap()).unwrap();
    // Rows in memory at hour 3, with a user column the file also has but was not read for.
    let mut memory = hour_of_orders(3);
    let coupon: ArrayRef = Arc::new(StringArray::from(vec!["c1", "c2"]));
    let mut fields: Vec<Field> = memory
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("coupon", coupon.data_type().clone(), true));
    let mut columns = memory.columns().to_vec();
    columns.push(coupon);
    memory = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    db.append("orders", memory).unwrap();

    let result = query(
        &db,
        "SELECT order_id, qty, coupon FROM orders ORDER BY order_id",
    )
    .unwrap();
    assert_text_eq(
        "
+----------+-----+--------+
| order_id | qty | coupon |
+----------+-----+--------+
| 10       | 1   |        |
| 11       | 1   |        |
| 30       | 3   | c1     |
| 31       | 3   | c2     |
+----------+-----+--------+",
        &table(&result),
    );
    let rows = |sql: &str| table(&query(&db, sql).unwrap()).lines().count() - 4;
    assert_eq!(rows("SELECT * FROM orders LIMIT 3"), 3);
    assert_eq!(rows("SELECT * FROM orders WHERE qty = 1 LIMIT 3"), 2);
    assert_eq!(
        rows("SELECT * FROM orders WHERE ts >= '2026-11-11T03:00:00Z'"),
        2
    );
    assert_eq!(rows("SELECT * FROM orders WHERE coupon IS NULL"), 2);
    // The filter reaches the Parquet reader, to skip row groups by their statistics.
    let plan = table(&query(&db, "EXPLAIN SELECT * FROM orders WHERE order_id = 11").unwrap());
    assert!(
        plan.lines()
            .any(|l| l.contains("h1.parquet") && l.contains("predicate=order_id@1 = 11")),
        "{plan}"
    );
}

#[test]
fn values_that_need_converting_are_refused() {
    use promodb::arrow::datatypes::{DataType, TimeUnit};
    let dir = tempfile::tempdir().unwrap();
    let db = PromoDb::in_memory().unwrap();
    let base = || skus(vec![Some(1)], vec!["x"]);
    let cases: Vec<(&str, usize, ArrayRef, &str)> = vec![
        (
            "u64",
            0,
            ints_as(vec![Some(1)], &DataType::UInt64),
            "skus.sku_id: cannot convert UInt64",
        ),
        (
            "scale3",
            3,
            Arc::new(
                promodb::arrow::array::Decimal128Array::from(vec![1999])
                    .with_precision_and_scale(18, 3)
                    .unwrap(),
            ),
            "skus.list_price: cannot convert Decimal128(18, 3)",
        ),
        (
            "beyond",
            3,
            Arc::new(
                promodb::arrow::array::Decimal128Array::from(vec![
                    Some(5),
                    Some(-1_000_000_000_000_000_000),
                ])
                .with_precision_and_scale(18, 2)
                .unwrap(),
            ),
            "skus.list_price: row 1: -10000000000000000.00 is beyond DECIMAL(18,2)",
        ),
    ];
    for (name, column, array, expected) in cases {
        let mut columns = base();
        if array.len() > 1 {
            columns = skus(vec![Some(1), Some(2)], vec!["x", "y"]);
        }
        columns[column].1 = array;
        let path = file_with(dir.path(), &format!("{name}.parquet"), columns);
        let error = db.attach("skus", path.to_str().unwrap()).unwrap_err();
        assert!(error.to_string().contains(expected), "{name}: {error}");
    }
    let millis = file_with(
        dir.path(),
        "millis.parquet",
        vec![
            (
                "ts",
                ints_as(
                    vec![Some(1)],
                    &DataType::Timestamp(TimeUnit::Millisecond, None),
                ),
            ),
            ("sku_id", ints_as(vec![Some(1)], &DataType::Int64)),
            ("warehouse", Arc::new(StringArray::from(vec!["w"]))),
            ("on_hand", ints_as(vec![Some(1)], &DataType::Int64)),
        ],
    );
    let error = db
        .attach("inventory", millis.to_str().unwrap())
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("inventory.ts: cannot convert Timestamp(ms)"),
        "{error}"
    );

    let good = file_with(dir.path(), "good.parquet", base());
    db.attach("skus", good.to_str().unwrap()).unwrap();
    let error = db.attach("skus", good.to_str().unwrap()).unwrap_err();
    assert!(
        error.to_string().contains("already attached to skus"),
        "{error}"
    );
    assert_eq!(db.row_count("skus").unwrap(), 1);
    assert_eq!(db.row_count("inventory").unwrap(), 0);
}

/// Orders with the given user ids, one a minute from 2026-11-11 00:00, in row groups of
/// `group_rows`.
fn orders_of_users(path: &Path, users: &[i64], group_rows: usize) {
    let db = PromoDb::in_memory().unwrap();
    let n = users.len();
    let ts: Vec<String> = (0..n)
        .map(|i| format!("2026-11-11T{:02}:{:02}:00Z", i / 60 % 24, i % 60))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(crate::common::text_order_fields())),
        vec![
            Arc::new(StringArray::from(ts)) as ArrayRef,
            Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(users.to_vec())),
            Arc::new(Int64Array::from(vec![1; n])),
            Arc::new(Int64Array::from(vec![1; n])),
            Arc::new(StringArray::from(vec!["1.00"; n])),
        ],
    )
    .unwrap();
    db.append("orders", batch).unwrap();
    write_parquet(path, &all_rows(&db, Table::Orders), group_rows);
}

/// `count` ids `first`, `first + 2`, ... dealt over four row groups of `count / 4` so that
/// every group spans the whole range: row group `g` holds the `i`-th ids with `i % 4 == g`.
fn interleaved(first: i64, count: i64) -> Vec<i64> {
    (0..4)
        .flat_map(|g| (0..count / 4).map(move |i| first + 2 * (4 * i + g)))
        .collect()
}

#[test]
fn a_key_lookup_reads_only_the_row_groups_whose_key_filters_may_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    orders_of_users(
        &dir.path().join("evens.parquet"),
        &interleaved(0, 1000),
        250,
    );
    orders_of_users(&dir.path().join("odds.parquet"), &interleaved(1, 1000), 250);
    let db = PromoDb::in_memory().unwrap();
    db.attach("orders", &format!("{}/*.parquet", dir.path().display()))
        .unwrap();
    assert_eq!(
        db.snapshot("orders").unwrap().files()[1].num_row_groups(),
        4
    );

    // 1001 lies within every row group's min/max of both files. It is in none of
    // evens.parquet's: the key filters leave that file out of the plan. It is in the
    // first of odds.parquet's four: the key filters leave the reader fewer than four,
    // where min/max statistics keep all four.
    let sql = "SELECT user_id, order_id FROM orders WHERE user_id = 1001";
    let plan = table(&query(&db, &format!("EXPLAIN {sql}")).unwrap());
    assert!(!plan.contains("evens.parquet"), "{plan}");
    assert!(plan.contains("odds.parquet"), "{plan}");
    let analyzed = table(&query(&db, &format!("EXPLAIN ANALYZE {sql}")).unwrap());
    let considered: usize = analyzed
        .split("row_groups_pruned_statistics=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{analyzed}"));
    assert!(considered < 4, "{analyzed}");
    assert_text_eq(
        "
+---------+----------+
| user_id | order_id |
+---------+----------+
| 1001    | 125      |
+---------+----------+",
        &table(&query(&db, sql).unwrap()),
    );
    // Every key of both files is found, in every row group, and absent keys are not;
    // two lookups together keep only the row groups both allow.
    for key in [0, 2, 4, 6, 998, 1000, 1200, 1998, 1, 3, 1003, 1999] {
        let sql = format!("SELECT count(*) AS n FROM orders WHERE user_id = {key}");
        let rows = table(&query(&db, &sql).unwrap());
        assert!(rows.contains("| 1 |"), "{key}: {rows}");
    }
    for key in [2001, 3001, -2, -1] {
        let sql = format!(
            "SELECT count(*) AS n FROM orders WHERE user_id IN ({key}, {})",
            key + 100_000
        );
        let rows = table(&query(&db, &sql).unwrap());
        assert!(rows.contains("| 0 |"), "{key}: {rows}");
    }
    let both =
        "SELECT count(*) AS n FROM orders WHERE user_id IN (4, 1003) AND order_id IN (500, 7)";
    assert!(table(&query(&db, both).unwrap()).contains("| 1 |"));
}
