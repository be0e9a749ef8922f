//! A filter on `ts` skips whole segments: shown by the plan's partition sizes.

use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::Schema;

use crate::common::{assert_text_eq, query, table, text_order_fields};

/// Ten batches, one per hour of 2026-11-11, each with `qty` = hour.
fn hourly_orders() -> PromoDb {
    let db = PromoDb::builder()
        .with_target_partitions(2)
        // Two-row batches count as full segments: no merging, one segment per hour.
        .with_seal_rows(2)
        .in_memory()
        .expect("db");
    let schema = Arc::new(Schema::new(text_order_fields()));
    for hour in 0..10i64 {
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![
                    format!("2026-11-11T{hour:02}:00:00Z"),
                    format!("2026-11-11T{hour:02}:59:59Z"),
                ])),
                Arc::new(Int64Array::from(vec![hour * 2, hour * 2 + 1])),
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(Int64Array::from(vec![1, 1])),
                Arc::new(Int64Array::from(vec![hour, hour])),
                Arc::new(StringArray::from(vec!["1.00", "2.00"])),
            ],
        )
        .expect("batch");
        db.append("orders", batch).expect("append");
    }
    db
}

/// Batches the in-memory scan of the plan reads: the sum of its `partition_sizes`.
fn scanned_batches(db: &PromoDb, sql: &str) -> usize {
    let plan = table(&query(db, &format!("EXPLAIN {sql}")).expect("explain"));
    let sizes = plan
        .split("partition_sizes=[")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no partition_sizes in plan:\n{plan}"));
    sizes
        .split(',')
        .map(|s| s.trim().parse::<usize>().expect("a size"))
        .sum()
}

#[test]
fn a_ts_filter_skips_segments_outside_its_range() {
    let db = hourly_orders();
    let all = "SELECT sum(qty) FROM orders";
    let late = "SELECT sum(qty) FROM orders WHERE ts >= '2026-11-11T07:00:00Z'";
    let window = "SELECT sum(qty) FROM orders \
                  WHERE ts BETWEEN '2026-11-11T02:30:00Z' AND '2026-11-11T03:30:00Z'";
    let none = "SELECT sum(qty) FROM orders WHERE ts < '2026-11-10T00:00:00Z'";
    assert_eq!(scanned_batches(&db, all), 10);
    assert_eq!(scanned_batches(&db, late), 3);
    assert_eq!(scanned_batches(&db, window), 2);
    assert_eq!(scanned_batches(&db, none), 0);

    // Pruning never changes the answer.
    let expect = [(all, "90"), (late, "48"), (window, "5"), (none, "")];
    for (sql, sum) in expect {
        let result = table(&query(&db, sql).expect("query"));
        let value = result
            .lines()
            .nth(3)
            .unwrap_or_default()
            .trim_matches(['|', ' '])
            .to_string();
        assert_eq!(value, sum, "{sql}\n{result}");
    }
}

#[test]
fn a_filter_on_another_column_prunes_nothing_and_stays_exact() {
    let db = hourly_orders();
    assert_eq!(
        scanned_batches(&db, "SELECT count(*) FROM orders WHERE qty > 5"),
        10
    );
    let result = table(&query(&db, "SELECT count(*) AS n FROM orders WHERE qty > 5").unwrap());
    assert_text_eq("+---+\n| n |\n+---+\n| 8 |\n+---+", &result);
}
