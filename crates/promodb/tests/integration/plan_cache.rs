//! A query run again with the same text runs from its kept physical plan, and gives what
//! planning it again gives: runtime filters and shared aggregations made anew each run,
//! appends, table and setting changes, and changed files seen.

use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{Int64Array, RecordBatch};
use promodb::arrow::datatypes::{DataType, Field, Schema};
use promodb::schema::Table;

use crate::common::{all_rows, query, small_promo, table, write_parquet};

/// Rows of `sql` planned afresh (a DataFrame is never kept), as a table.
fn planned_afresh(db: &PromoDb, sql: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rows = runtime.block_on(async {
        db.dataframe(sql)
            .await?
            .collect()
            .await
            .map_err(promodb::Error::from)
    });
    table(&rows.unwrap())
}

fn rows(db: &PromoDb, sql: &str) -> String {
    table(&query(db, sql).unwrap())
}

/// Queries whose plans hold run state: a top-k and its runtime filter, hash joins and
/// their key filters, a min/max aggregate's filter, an aggregation shared by two reads
/// of a view, a window, a distinct count.
const STATEFUL_QUERIES: &[&str] = &[
    "SELECT order_id, amount FROM orders ORDER BY amount DESC, order_id LIMIT 3",
    "SELECT s.order_id, s.stage FROM shipments s
     WHERE s.order_id IN (SELECT order_id FROM orders WHERE user_id IN (1, 2))
     ORDER BY s.order_id, s.stage",
    "SELECT o.channel, count(*) AS n, sum(p.amount) AS paid FROM orders o
     JOIN payments p ON p.order_id = o.order_id GROUP BY o.channel ORDER BY o.channel",
    "SELECT min(qty) AS fewest, max(ts) AS last FROM orders WHERE channel <> 'none'",
    "SELECT min(ts) AS first, max(ts) AS last FROM orders",
    "SELECT * FROM kpi_minute ORDER BY minute",
    "SELECT r.sku_id, r.on_hand, w.warehouses, r.minutes_to_stockout
     FROM stock_risk r
     JOIN (SELECT sku_id, count(*) FILTER (WHERE on_hand > 0) AS warehouses
           FROM current_stock GROUP BY sku_id) w ON w.sku_id = r.sku_id
     ORDER BY r.minutes_to_stockout NULLS LAST, r.sku_id LIMIT 5",
    "SELECT user_id, amount, rank() OVER (PARTITION BY channel ORDER BY amount DESC) AS r
     FROM orders ORDER BY user_id, amount, r LIMIT 8",
    "SELECT channel, count(DISTINCT user_id) AS buyers FROM orders GROUP BY channel
     ORDER BY channel",
];

#[test]
fn a_kept_plan_gives_the_rows_of_planning_again_run_after_run() {
    let db = small_promo();
    for sql in STATEFUL_QUERIES {
        let expected = planned_afresh(&db, sql);
        assert!(expected.lines().count() > 4, "{sql}\n{expected}");
        let reruns = db.cached_plan_runs();
        for run in 0..3 {
            assert_eq!(rows(&db, sql), expected, "run {run} of {sql}");
        }
        assert_eq!(db.cached_plans(), 1, "{sql} was not kept");
        assert_eq!(db.cached_plan_runs(), reruns + 2, "{sql} was planned again");
    }
}

#[test]
fn a_kept_plan_over_attached_files_gives_the_rows_of_planning_again() {
    // The Parquet reader applies the runtime filters of top-k and min/max themselves:
    // a filter left from the last run would drop the rows that made it.
    let source = small_promo();
    let dir = tempfile::tempdir().unwrap();
    let db = PromoDb::in_memory().unwrap();
    for table in [Table::Orders, Table::Payments, Table::Shipments] {
        let path = dir.path().join(format!("{table}.parquet"));
        write_parquet(&path, &all_rows(&source, table), 7);
        db.attach(table.name(), path.to_str().unwrap()).unwrap();
    }
    for sql in &STATEFUL_QUERIES[..5] {
        let expected = planned_afresh(&db, sql);
        assert_eq!(expected, planned_afresh(&source, sql), "{sql}");
        let reruns = db.cached_plan_runs();
        for run in 0..3 {
            assert_eq!(rows(&db, sql), expected, "run {run} of {sql}");
        }
        assert_eq!(db.cached_plan_runs(), reruns + 2, "{sql} was planned again");
    }
}

#[test]
fn concurrent_runs_of_one_kept_plan_agree() {
    let db = small_promo();
    let sql = STATEFUL_QUERIES[6];
    let expected = planned_afresh(&db, sql);
    rows(&db, sql);
    assert_eq!(db.cached_plans(), 1);
    let reruns = db.cached_plan_runs();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    assert_eq!(rows(&db, sql), expected);
                }
            });
        }
    });
    assert_eq!(db.cached_plan_runs(), reruns + 20);
}

#[test]
fn an_append_is_seen_by_the_next_run() {
    let db = small_promo();
    // latest_ts is folded into the plan: a new latest order must move the window.
    let sql = "SELECT count(*) AS n, max(ts) AS last FROM orders
               WHERE ts > latest_ts('orders') - INTERVAL '1 minute'";
    let before = rows(&db, sql);
    assert_eq!(rows(&db, sql), before);
    let mut later = all_rows(&db, Table::Orders).slice(0, 1);
    later = shift_ts(&later, 86_400_000_000);
    db.append("orders", later).unwrap();
    let after = rows(&db, sql);
    assert_ne!(after, before);
    assert!(after.contains("| 1 "), "{after}");
    assert_eq!(after, planned_afresh(&db, sql));
    // An append to a table the query does not read keeps its plan.
    assert_eq!(rows(&db, sql), after);
    let kept = db.cached_plans();
    assert_eq!(kept, 1);
    let skus = all_rows(&db, Table::Skus).slice(0, 1);
    let mut sku = skus.clone();
    sku = with_int(&sku, "sku_id", 999_999);
    db.append("skus", sku).unwrap();
    assert_eq!(rows(&db, sql), after);
    assert_eq!(db.cached_plans(), kept);
}

#[test]
fn queries_reading_the_clock_or_random_are_planned_each_run() {
    let db = small_promo();
    for sql in [
        "SELECT count(*) AS n FROM orders WHERE ts < now()",
        "SELECT count(*) AS n FROM orders WHERE random() < 2.0",
        "EXPLAIN SELECT count(*) FROM orders",
        // Two runs at once would share one scalar subquery's result holder.
        "SELECT count(*) AS n FROM orders WHERE amount > (SELECT avg(amount) FROM orders)",
        // A table name computed by an expression is not followed for appends.
        "SELECT count(*) AS n FROM orders WHERE ts <= latest_ts(lower('ORDERS'))",
    ] {
        let first = rows(&db, sql);
        rows(&db, sql);
        assert_eq!(db.cached_plans(), 0, "{sql}");
        if !sql.contains("random") && !sql.starts_with("EXPLAIN") {
            assert_eq!(first, planned_afresh(&db, sql), "{sql}");
        }
    }
    // A file registered ad hoc may change on disk unseen: not kept either.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skus.parquet");
    write_parquet(&path, &all_rows(&db, Table::Skus), 1000);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(db.register_parquet("sku_file", path.to_str().unwrap()))
        .unwrap();
    rows(&db, "SELECT count(*) FROM sku_file");
    assert_eq!(db.cached_plans(), 0);
}

#[test]
fn replaced_tables_and_statements_that_change_things_replan() {
    let db = PromoDb::in_memory().unwrap();
    let numbers = |v: i64| {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![v, v]))]).unwrap()
    };
    let sql = "SELECT sum(v) AS total FROM numbers";
    db.register_batches("numbers", vec![numbers(1)]).unwrap();
    assert!(rows(&db, sql).contains("| 2 "));
    assert_eq!(db.cached_plans(), 1);
    db.session().deregister_table("numbers").unwrap();
    db.register_batches("numbers", vec![numbers(5)]).unwrap();
    assert!(rows(&db, sql).contains("| 10 "), "{}", rows(&db, sql));
    // A statement that is not a query forgets every plan, then replans.
    query(&db, "INSERT INTO numbers VALUES (7)").unwrap();
    assert_eq!(db.cached_plans(), 0);
    assert!(rows(&db, sql).contains("| 17 "), "{}", rows(&db, sql));
    query(&db, "SET datafusion.execution.batch_size = 1024").unwrap();
    assert_eq!(db.cached_plans(), 0);
    rows(&db, sql);
    // Rows inserted without a statement through PromoDb::sql (a DataFrame collected
    // later) are seen too.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let insert = runtime
        .block_on(db.dataframe("INSERT INTO numbers VALUES (100)"))
        .unwrap();
    assert!(rows(&db, sql).contains("| 17 "));
    assert_eq!(db.cached_plans(), 1);
    runtime.block_on(insert.collect()).unwrap();
    assert!(rows(&db, sql).contains("| 117 "), "{}", rows(&db, sql));
    // An UPDATE replaces only the columns it sets: the second one here.
    let pairs = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        pairs,
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int64Array::from(vec![10, 20])),
        ],
    )
    .unwrap();
    db.register_batches("pairs", vec![batch]).unwrap();
    let total = "SELECT sum(v) AS total FROM pairs";
    let update = runtime
        .block_on(db.dataframe("UPDATE pairs SET v = 0 WHERE k = 2"))
        .unwrap();
    assert!(rows(&db, total).contains("| 30 "), "{}", rows(&db, total));
    runtime.block_on(update.collect()).unwrap();
    assert!(rows(&db, total).contains("| 10 "), "{}", rows(&db, total));
    // `SELECT ... INTO` parses as a query and creates a table: it runs as DDL.
    query(&db, "SELECT v * 2 AS w INTO doubled FROM numbers").unwrap();
    assert_eq!(db.cached_plans(), 0);
    assert!(rows(&db, "SELECT sum(w) AS s FROM doubled").contains("| 234 "));
    db.clear_cached_plans();
    assert_eq!(db.cached_plans(), 0);
}

#[test]
fn a_kept_plan_of_a_changed_file_fails_as_planning_again_does() {
    let source = small_promo();
    let skus = all_rows(&source, Table::Skus);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skus.parquet");
    write_parquet(&path, &skus, 1000);
    let db = PromoDb::in_memory().unwrap();
    db.attach("skus", path.to_str().unwrap()).unwrap();
    let sql = "SELECT count(*) AS n FROM skus";
    assert!(rows(&db, sql).contains(&format!("| {} ", skus.num_rows())));
    assert_eq!(db.cached_plans(), 1);
    write_parquet(&path, &skus.slice(0, 1), 1000);
    let error = query(&db, sql).unwrap_err();
    assert!(
        error.to_string().contains("changed since it was attached"),
        "{error}"
    );
}

/// `batch` with its `ts` column moved by `micros`.
fn shift_ts(batch: &RecordBatch, micros: i64) -> RecordBatch {
    use promodb::arrow::array::{Array, TimestampMicrosecondArray};
    let index = batch.schema().index_of("ts").unwrap();
    let ts = batch
        .column(index)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    let shifted: TimestampMicrosecondArray = ts
        .iter()
        .map(|t| t.map(|t| t + micros))
        .collect::<TimestampMicrosecondArray>()
        .with_timezone_opt(ts.timezone().map(str::to_string));
    replace_column(batch, index, Arc::new(shifted))
}

/// `batch` with every value of BIGINT column `name` set to `value`.
fn with_int(batch: &RecordBatch, name: &str, value: i64) -> RecordBatch {
    let index = batch.schema().index_of(name).unwrap();
    let values = Int64Array::from(vec![value; batch.num_rows()]);
    replace_column(batch, index, Arc::new(values))
}

fn replace_column(
    batch: &RecordBatch,
    index: usize,
    column: promodb::arrow::array::ArrayRef,
) -> RecordBatch {
    let mut columns = batch.columns().to_vec();
    columns[index] = column;
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}
