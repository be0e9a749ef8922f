//! COUNT(DISTINCT integer) per group: promodb's per-group value lists give DataFusion's answers,
//! and the single-distinct rewrite is skipped only where they run.

use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::Schema;

use crate::common::{query, table, text_order_fields};

/// 40 small batches of order lines over 2 hours: orders of 1-3 lines, repeat buyers,
/// lines of one order sometimes split across batches, and a few order ids far from the
/// others.
fn many_orders() -> PromoDb {
    let db = PromoDb::builder()
        .with_target_partitions(2)
        .with_seal_rows(64)
        .in_memory()
        .expect("db");
    let schema = Arc::new(Schema::new(text_order_fields()));
    let mut line = 0i64;
    for _ in 0..40 {
        let rows: Vec<i64> = (line..line + 97).collect();
        line += 97;
        let column = |f: &dyn Fn(i64) -> i64| {
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|&r| f(r))))
        };
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| {
                    let second = r * 7 % 7200;
                    format!(
                        "2026-11-11T{:02}:{:02}:{:02}Z",
                        second / 3600,
                        second / 60 % 60,
                        second % 60
                    )
                }))),
                column(&|r| {
                    if r % 1000 == 999 {
                        1_000_000_000_000 + r
                    } else {
                        r / 3 + r % 2
                    }
                }),
                column(&|r| r * 31 % 613),
                column(&|r| r % 17),
                column(&|r| 1 + r % 3),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| format!("{}.50", r % 90)),
                )),
            ],
        )
        .expect("batch");
        db.append("orders", batch).expect("append");
    }
    db
}

#[test]
fn grouped_integer_distincts_match_datafusions_own_count() {
    let db = many_orders();
    // DataFusion's own paths: the string casts keep the rewrite and its accumulators.
    let theirs = "SELECT date_trunc('minute', ts) AS minute, sku_id % 5 AS k, \
                         count(DISTINCT CAST(order_id AS VARCHAR)) AS orders, \
                         count(DISTINCT CAST(user_id AS VARCHAR)) AS buyers, sum(qty) AS units, \
                         count(DISTINCT CAST(ts AS VARCHAR)) AS times \
                  FROM orders GROUP BY 1, 2 ORDER BY 1, 2";
    let ours = "SELECT date_trunc('minute', ts) AS minute, sku_id % 5 AS k, \
                       count(DISTINCT order_id) AS orders, count(DISTINCT user_id) AS buyers, \
                       sum(qty) AS units, count(DISTINCT ts) AS times \
                FROM orders GROUP BY 1, 2 ORDER BY 1, 2";
    let expected = table(&query(&db, theirs).expect("theirs"));
    assert_eq!(table(&query(&db, ours).expect("ours")), expected);
    assert!(expected.lines().count() > 400, "{expected}");

    // Per hour, order ids and buyers lie close together and are counted as bits, until a
    // far order id turns them back into a list.
    let hourly_theirs = "SELECT date_trunc('hour', ts) AS hour, \
                         count(DISTINCT CAST(order_id AS VARCHAR)) AS orders, \
                         count(DISTINCT CAST(user_id AS VARCHAR)) AS buyers, \
                         count(DISTINCT CAST(ts AS VARCHAR)) AS times \
                         FROM orders GROUP BY 1 ORDER BY 1";
    let hourly_ours = "SELECT date_trunc('hour', ts) AS hour, count(DISTINCT order_id) AS orders, \
                       count(DISTINCT user_id) AS buyers, count(DISTINCT ts) AS times \
                       FROM orders GROUP BY 1 ORDER BY 1";
    let hourly = table(&query(&db, hourly_theirs).expect("theirs"));
    assert_eq!(table(&query(&db, hourly_ours).expect("ours")), hourly);
    assert_eq!(hourly.lines().count(), 2 + 4, "{hourly}");

    let single_theirs = "SELECT sku_id, count(DISTINCT CAST(user_id AS VARCHAR)) AS buyers \
                         FROM orders GROUP BY 1 ORDER BY 1";
    let single_ours = "SELECT sku_id, count(DISTINCT user_id) AS buyers FROM orders \
                       GROUP BY 1 ORDER BY 1";
    assert_eq!(
        table(&query(&db, single_ours).expect("ours")),
        table(&query(&db, single_theirs).expect("theirs"))
    );
}

#[test]
fn the_single_distinct_rewrite_is_skipped_only_for_grouped_integers() {
    let db = many_orders();
    let plan = |sql: &str| table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
    let integers = plan("SELECT sku_id, count(DISTINCT user_id) FROM orders GROUP BY 1");
    assert!(
        integers.contains("count(DISTINCT orders.user_id)"),
        "{integers}"
    );
    assert!(!integers.contains("alias1"), "{integers}");

    let strings =
        plan("SELECT sku_id, count(DISTINCT CAST(user_id AS VARCHAR)) FROM orders GROUP BY 1");
    assert!(strings.contains("alias1"), "{strings}");
    let ungrouped = plan("SELECT count(DISTINCT user_id) FROM orders");
    assert!(ungrouped.contains("alias1"), "{ungrouped}");
    // Only count has per-group value lists: a grouped sum(DISTINCT) keeps the rewrite.
    let summed = plan("SELECT sku_id, sum(DISTINCT user_id) FROM orders GROUP BY 1");
    assert!(summed.contains("alias1"), "{summed}");
}
