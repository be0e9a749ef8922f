//! Loading files into canonical tables, and ad-hoc tables over files.

use std::fs::File;
use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::Schema;
use promodb::datafusion::parquet::arrow::ArrowWriter;
use promodb::schema::Table;

use crate::common::{
    assert_text_eq, fixture, query, small_promo, table, text_order_fields, write_parquet,
};

#[test]
fn every_fixture_table_loads_with_its_row_count() {
    let db = small_promo();
    let expected = [
        ("skus", 5),
        ("user_events", 20),
        ("orders", 8),
        ("payments", 9),
        ("refunds", 2),
        ("ad_spend", 5),
        ("inventory", 12),
        ("tickets", 3),
        ("shipments", 5),
    ];
    for (name, rows) in expected {
        assert_eq!(db.row_count(name).unwrap(), rows, "{name}");
        let snapshot = db.snapshot(name).unwrap();
        let table: Table = name.parse().unwrap();
        assert_eq!(snapshot.schema(), &table.arrow_schema(), "{name}");
    }
}

fn orders_batch(ids: &[i64]) -> RecordBatch {
    let n = ids.len();
    RecordBatch::try_new(
        Arc::new(Schema::new(text_order_fields())),
        vec![
            Arc::new(StringArray::from(vec!["2026-11-11T00:00:00Z"; n])),
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(Int64Array::from(vec![1; n])),
            Arc::new(Int64Array::from(vec![1; n])),
            Arc::new(Int64Array::from(vec![1; n])),
            Arc::new(StringArray::from(vec!["9.99"; n])),
        ],
    )
    .unwrap()
}

#[test]
fn a_directory_and_a_glob_load_every_matching_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("date=2026-11-11");
    std::fs::create_dir(&nested).unwrap();
    write_parquet(
        &nested.join("part-0.parquet"),
        &orders_batch(&[1, 2, 3]),
        1024,
    );
    write_parquet(
        &dir.path().join("part-1.parquet"),
        &orders_batch(&[4]),
        1024,
    );
    std::fs::copy(fixture("small/orders.csv"), dir.path().join("more.csv")).unwrap();
    std::fs::write(dir.path().join("README.txt"), "not data").unwrap();

    let db = PromoDb::in_memory().unwrap();
    let report = db.load("orders", dir.path().to_str().unwrap()).unwrap();
    assert_eq!((report.files, report.rows), (3, 12));

    let db = PromoDb::in_memory().unwrap();
    let pattern = format!("{}/*.parquet", dir.path().display());
    let report = db.load("orders", &pattern).unwrap();
    assert_eq!((report.files, report.rows), (1, 1));
}

#[test]
fn json_lines_convert_zones_and_floats_and_keep_user_columns() {
    let db = PromoDb::in_memory().unwrap();
    db.load("orders", &fixture("formats/orders.jsonl")).unwrap();
    let result = table(
        &query(
            &db,
            "SELECT order_id, ts, unit_price, amount, channel, coupon FROM orders ORDER BY order_id",
        )
        .unwrap(),
    );
    assert_text_eq(
        "+----------+----------------------+------------+--------+-------------+--------+\n\
         | order_id | ts                   | unit_price | amount | channel     | coupon |\n\
         +----------+----------------------+------------+--------+-------------+--------+\n\
         | 2001     | 2026-11-11T00:00:00Z | 299.00     | 249.90 | live_stream | D11-50 |\n\
         | 2002     | 2026-11-11T00:30:00Z |            | 398.00 |             |        |\n\
         +----------+----------------------+------------+--------+-------------+--------+",
        &result,
    );
    // A later batch without the user column still appends; the column is NULL for it.
    db.append("orders", orders_batch(&[3001])).unwrap();
    let result =
        table(&query(&db, "SELECT count(*) AS n, count(coupon) AS c FROM orders").unwrap());
    assert_text_eq(
        "+---+---+\n| n | c |\n+---+---+\n| 3 | 1 |\n+---+---+",
        &result,
    );
}

#[test]
fn ad_hoc_parquet_and_csv_tables_join_canonical_ones() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.csv");
    std::fs::write(
        &targets,
        "channel,target_gmv\nlive_stream,800\nsearch,1000\n",
    )
    .unwrap();
    let extra = dir.path().join("extra.parquet");
    write_parquet(&extra, &orders_batch(&[7, 8]), 1024);

    let db = small_promo();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(db.register_csv("targets", targets.to_str().unwrap()))
        .unwrap();
    runtime
        .block_on(db.register_parquet("extra_orders", extra.to_str().unwrap()))
        .unwrap();
    let result = table(
        &query(
            &db,
            "SELECT o.channel, sum(o.amount) AS gmv, t.target_gmv \
             FROM orders o JOIN targets t ON o.channel = t.channel \
             GROUP BY o.channel, t.target_gmv ORDER BY o.channel",
        )
        .unwrap(),
    );
    assert_text_eq(
        "+-------------+--------+------------+\n\
         | channel     | gmv    | target_gmv |\n\
         +-------------+--------+------------+\n\
         | live_stream | 898.00 | 800        |\n\
         | search      | 896.40 | 1000       |\n\
         +-------------+--------+------------+",
        &result,
    );
    let result = table(&query(&db, "SELECT count(*) AS n FROM extra_orders").unwrap());
    assert_text_eq("+---+\n| n |\n+---+\n| 2 |\n+---+", &result);
}

#[test]
fn several_statements_run_in_order_and_the_last_result_is_returned() {
    let db = small_promo();
    let result = table(
        &query(
            &db,
            "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 400; \
             SELECT order_id FROM big_orders ORDER BY order_id;",
        )
        .unwrap(),
    );
    assert_text_eq(
        "+----------+\n| order_id |\n+----------+\n| 1001     |\n| 1002     |\n| 1006     |\n+----------+",
        &result,
    );
}

#[test]
fn a_table_created_from_a_query_is_spread_over_the_partitions() {
    let db = PromoDb::builder()
        .with_target_partitions(2)
        .in_memory()
        .expect("db");
    // One Parquet file of four row groups is read as one partition.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("last_year.parquet");
    let schema = Arc::new(Schema::new(vec![promodb::arrow::datatypes::Field::new(
        "x",
        promodb::arrow::datatypes::DataType::Int64,
        false,
    )]));
    let mut writer = ArrowWriter::try_new(
        File::create(&path).expect("file"),
        Arc::clone(&schema),
        None,
    )
    .expect("writer");
    for part in 0..4i64 {
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![part, part + 10]))],
        )
        .expect("batch");
        writer.write(&batch).expect("write");
        writer.flush().expect("row group");
    }
    writer.close().expect("close");
    let script = format!(
        "CREATE EXTERNAL TABLE f STORED AS PARQUET LOCATION '{}'; \
         CREATE TABLE t AS SELECT * FROM f; \
         EXPLAIN SELECT sum(x) FROM t",
        path.display()
    );
    let plan = table(&query(&db, &script).expect("script"));
    let sizes: Vec<usize> = plan
        .split("partition_sizes=[")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no partition_sizes in plan:\n{plan}"))
        .split(',')
        .map(|s| s.trim().parse().expect("a size"))
        .collect();
    assert_eq!(sizes.len(), 2, "{plan}");
    assert!(sizes.iter().all(|&n| n > 0), "{plan}");
    let sum = table(&query(&db, "SELECT sum(x) AS s, count(*) AS n FROM t").expect("sum"));
    assert_text_eq(
        "+----+---+\n| s  | n |\n+----+---+\n| 52 | 8 |\n+----+---+",
        &sum,
    );
}
