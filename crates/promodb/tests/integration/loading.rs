//! Loading files into canonical tables, and ad-hoc tables over files.

use std::fs::File;
use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::Schema;
use promodb::datafusion::parquet::arrow::ArrowWriter;
use promodb::schema::Table;

use crate::common::{assert_text_eq, fixture, query, small_promo, table, text_order_fields};

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

fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let file = File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn a_directory_and_a_glob_load_every_matching_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("date=2026-11-11");
    std::fs::create_dir(&nested).unwrap();
    write_parquet(&nested.join("part-0.parquet"), &orders_batch(&[1, 2, 3]));
    write_parquet(&dir.path().join("part-1.parquet"), &orders_batch(&[4]));
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
    write_parquet(&extra, &orders_batch(&[7, 8]));

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
