//! A filter on `ts`, or one pinning a BIGINT column to keys, skips whole segments: shown
//! by the plan's partition sizes. So does a hash join's build side, at run time: shown
//! by `EXPLAIN ANALYZE`.

use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::Schema;

use crate::common::{assert_text_eq, query, table, text_order_fields};

/// Ten batches, one per hour of 2026-11-11, each with `qty` = hour and order ids
/// `2 * hour` and `2 * hour + 1`.
fn hourly_orders() -> PromoDb {
    let db = PromoDb::builder()
        .with_target_partitions(2)
        // Two-row batches count as full segments: no merging, one segment per hour.
        .with_seal_rows(2)
        .in_memory()
        .expect("db");
    for hour in 0..10i64 {
        append_hour(&db, hour, [hour * 2, hour * 2 + 1]);
    }
    db
}

/// Two order lines in hour `hour` of 2026-11-11 (24 and on: the next day), `qty` = hour.
fn append_hour(db: &PromoDb, hour: i64, order_ids: [i64; 2]) {
    let schema = Arc::new(Schema::new(text_order_fields()));
    let (day, hour_of_day) = (11 + hour / 24, hour % 24);
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![
                format!("2026-11-{day}T{hour_of_day:02}:00:00Z"),
                format!("2026-11-{day}T{hour_of_day:02}:59:59Z"),
            ])),
            Arc::new(Int64Array::from(order_ids.to_vec())),
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int64Array::from(vec![1, 1])),
            Arc::new(Int64Array::from(vec![hour, hour])),
            Arc::new(StringArray::from(vec!["1.00", "2.00"])),
        ],
    )
    .expect("batch");
    db.append("orders", batch).expect("append");
}

/// The single value of a one-row, one-column result ("" when it has no row).
fn single_value(db: &PromoDb, sql: &str) -> String {
    let result = table(&query(db, sql).expect("query"));
    result
        .lines()
        .nth(3)
        .unwrap_or_default()
        .trim_matches(['|', ' '])
        .to_string()
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
        assert_eq!(single_value(&db, sql), sum, "{sql}");
    }
}

#[test]
fn a_key_lookup_skips_segments_that_cannot_hold_its_keys() {
    let db = hourly_orders();
    let one = "SELECT sum(qty) FROM orders WHERE order_id = 7";
    let flipped = "SELECT sum(qty) FROM orders WHERE 7 = order_id";
    let two = "SELECT sum(qty) FROM orders WHERE order_id IN (1, 19)";
    let either = "SELECT sum(qty) FROM orders WHERE order_id = 1 OR order_id = 19";
    let many = "SELECT sum(qty) FROM orders WHERE order_id IN (1, 19, 500, 501, 502, 503)";
    let absent = "SELECT sum(qty) FROM orders WHERE order_id = 100";
    let with_time = "SELECT sum(qty) FROM orders \
                     WHERE order_id = 7 AND ts >= '2026-11-11T05:00:00Z'";
    let with_other = "SELECT sum(qty) FROM orders WHERE order_id = 7 AND qty > 0";
    let cases = [
        (one, 1, "3"),
        (flipped, 1, "3"),
        (two, 2, "9"),
        (either, 2, "9"),
        (many, 2, "9"),
        (absent, 0, ""),
        (with_time, 0, ""),
        (with_other, 1, "3"),
    ];
    for (sql, batches, sum) in cases {
        assert_eq!(scanned_batches(&db, sql), batches, "{sql}");
        assert_eq!(single_value(&db, sql), sum, "{sql}");
    }
}

#[test]
fn a_key_lookup_sees_segments_appended_after_its_filters_were_built() {
    let db = hourly_orders();
    let sql = "SELECT sum(qty) FROM orders WHERE order_id = 7";
    assert_eq!(single_value(&db, sql), "3");
    // Order 7 again, in hour 30: a new segment, without a filter until looked up.
    append_hour(&db, 30, [7, 500]);
    assert_eq!(scanned_batches(&db, sql), 2);
    assert_eq!(single_value(&db, sql), "33");
}

#[test]
fn lookups_a_key_filter_cannot_answer_scan_everything_and_stay_exact() {
    let db = hourly_orders();
    let cases = [
        (
            "SELECT count(*) FROM orders WHERE order_id = 7 OR qty = 9",
            "3",
        ),
        ("SELECT count(*) FROM orders WHERE order_id <> 7", "19"),
        (
            "SELECT count(*) FROM orders WHERE order_id NOT IN (7, 8)",
            "18",
        ),
        ("SELECT count(*) FROM orders WHERE order_id = qty", "1"),
        ("SELECT count(*) FROM orders WHERE order_id * 2 = 14", "1"),
    ];
    for (sql, count) in cases {
        assert_eq!(scanned_batches(&db, sql), 10, "{sql}");
        assert_eq!(single_value(&db, sql), count, "{sql}");
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

#[test]
fn the_first_lookup_over_many_rows_builds_its_filters_on_several_threads_and_prunes() {
    let db = PromoDb::builder()
        .with_target_partitions(2)
        .in_memory()
        .expect("db");
    // 40 segments of 8,192 lines, order ids numbered in row order: 327,680 rows, above
    // the row count at which the missing filters are built in parallel.
    let schema = Arc::new(Schema::new(text_order_fields()));
    let rows = 8192i64;
    for segment in 0..40i64 {
        let ids: Vec<i64> = (segment * rows..(segment + 1) * rows).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![
                    "2026-11-11T00:00:00Z";
                    rows as usize
                ])),
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Int64Array::from(vec![1; rows as usize])),
                Arc::new(Int64Array::from(vec![1; rows as usize])),
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(vec!["1.00"; rows as usize])),
            ],
        )
        .expect("batch");
        db.append("orders", batch).expect("append");
    }
    let sql = "SELECT sum(qty) FROM orders WHERE order_id IN (5, 200000, -3)";
    // 2 segments hold the keys; each filter lets an absent key through about 4% of the
    // time, so with 3 keys about 4 of the other 38 segments are scanned too.
    let scanned = scanned_batches(&db, sql);
    assert!(
        (2..=12).contains(&scanned),
        "{scanned} of 40 segments scanned"
    );
    assert_eq!(single_value(&db, sql), "200005");
}

/// The segments the in-memory scans of `sql` skipped at run time, by the
/// `skipped_segments` of `EXPLAIN ANALYZE` (None when no scan took a runtime filter).
fn skipped_at_run_time(db: &PromoDb, sql: &str) -> Option<usize> {
    let plan = table(&query(db, &format!("EXPLAIN ANALYZE {sql}")).expect("explain"));
    let counts: Vec<usize> = plan
        .split("skipped_segments=")
        .skip(1)
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("a count")
        })
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

#[test]
fn a_join_skips_the_probe_segments_that_cannot_hold_its_build_keys() {
    let db = hourly_orders();
    // The build side is the lines of hour 3 (orders 6 and 7); of the ten hourly segments
    // the outer scan only needs hour 3's.
    let semi = "SELECT sum(qty) FROM orders \
                WHERE order_id IN (SELECT order_id FROM orders WHERE qty = 3)";
    let inner = "SELECT sum(o.qty) FROM orders o \
                 JOIN (SELECT DISTINCT order_id FROM orders WHERE qty = 3) k \
                 ON o.order_id = k.order_id";
    let renamed = "SELECT sum(q) FROM (SELECT qty AS q, order_id AS id FROM orders) o \
                   WHERE id IN (SELECT order_id FROM orders WHERE qty = 3)";
    for sql in [semi, inner, renamed] {
        assert_eq!(skipped_at_run_time(&db, sql), Some(9), "{sql}");
        assert_eq!(single_value(&db, sql), "6", "{sql}");
    }
    // An empty build side skips nothing it did not have to: the join returns no row.
    let none = "SELECT count(*) FROM orders \
                WHERE order_id IN (SELECT order_id FROM orders WHERE qty = 100)";
    assert_eq!(single_value(&db, none), "0");
}

#[test]
fn joins_a_key_filter_cannot_answer_skip_nothing_and_stay_exact() {
    let db = hourly_orders();
    // The probe key is an expression, not a column: the scan takes no filter.
    let expression = "SELECT sum(qty) FROM orders \
                      WHERE order_id + 0 IN (SELECT order_id FROM orders WHERE qty = 3)";
    assert_eq!(single_value(&db, expression), "6");
    assert_eq!(skipped_at_run_time(&db, expression), None);
    // Every line of the table is a build key: the filter is taken, all 10 segments pass.
    let everything = "SELECT sum(qty) FROM orders \
                      WHERE order_id IN (SELECT order_id FROM orders WHERE qty >= 0)";
    assert_eq!(single_value(&db, everything), "90");
    assert_eq!(skipped_at_run_time(&db, everything), Some(0));
    // A scan with a limit takes no filter: skipping would change which rows come first.
    let limited = "SELECT sum(o.qty) FROM (SELECT * FROM orders LIMIT 20) o \
                   WHERE o.order_id IN (SELECT order_id FROM orders WHERE qty = 3)";
    assert_eq!(single_value(&db, limited), "6");
    assert_eq!(skipped_at_run_time(&db, limited), None);
}

#[test]
fn a_partitioned_join_and_a_join_over_files_and_segments_stay_exact() {
    let db = hourly_orders();
    // Both sides hashed into partitions: the runtime filter routes each key to its
    // partition's list.
    for setting in [
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
    ] {
        query(&db, setting).expect("set");
    }
    let semi = "SELECT sum(qty) FROM orders \
                WHERE order_id IN (SELECT order_id FROM orders WHERE qty IN (3, 8))";
    let plan = table(&query(&db, &format!("EXPLAIN {semi}")).expect("explain"));
    assert!(plan.contains("mode=Partitioned"), "{plan}");
    assert_eq!(single_value(&db, semi), "22");

    // Orders of hours 12 and 13 in attached files, hours 0-2 appended: the filter goes
    // to both the Parquet scan and the segments.
    let dir = tempfile::tempdir().expect("dir");
    let (db, _) = crate::attach::hourly_order_files(dir.path(), &[12, 13]);
    for hour in 0..3 {
        append_hour(&db, hour, [hour * 2, hour * 2 + 1]);
    }
    let sql = "SELECT sum(qty) FROM orders \
               WHERE order_id IN (SELECT order_id FROM orders WHERE qty IN (1, 13))";
    assert_eq!(single_value(&db, sql), "28");
}

#[test]
fn runtime_filters_that_cannot_pin_keys_are_left_to_their_operators() {
    let db = hourly_orders();
    // A top-k and a min push runtime bounds on `ts`; the scan does not take them, so
    // their operators do not keep them up to date for nothing.
    for sql in [
        "SELECT order_id FROM orders ORDER BY ts DESC LIMIT 3",
        "SELECT min(ts) FROM orders",
    ] {
        let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
        assert!(!plan.contains("runtime_filters"), "{sql}:\n{plan}");
    }
    let join = "SELECT sum(qty) FROM orders \
                WHERE order_id IN (SELECT order_id FROM orders WHERE qty = 3)";
    let plan = table(&query(&db, &format!("EXPLAIN {join}")).expect("explain"));
    assert!(plan.contains("runtime_filters"), "{join}:\n{plan}");
}
