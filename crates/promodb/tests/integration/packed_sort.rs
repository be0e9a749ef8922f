//! Sorts by fixed-width keys run on packed keys (`PackedSortExec`) and give exactly the
//! rows DataFusion's own `SortExec` gives: every direction and NULL placement, keys of
//! several types and expressions, window functions over them, any number of
//! partitions, and keys too wide to pack.

use crate::common::{query, table};
use crate::keyed_aggregate::{batches, datafusion_alone, promodb_with, run};

/// Each query selects only its sort keys, so that rows tied on the keys are equal and
/// the output does not depend on how ties are ordered; `packed` says whether the plan
/// must sort on packed keys.
const QUERIES: [(&str, bool); 8] = [
    // 52 + 8 + 14 bits and the row index: a 128-bit key.
    (
        "SELECT k_i64, v, amount FROM t ORDER BY k_i64 DESC NULLS LAST, v, amount NULLS FIRST",
        true,
    ),
    // Timestamps, and unsigned keys near u64::MAX.
    (
        "SELECT k_ts, k_u64 FROM t ORDER BY k_ts NULLS FIRST, k_u64 DESC",
        true,
    ),
    // Decimals and dates.
    (
        "SELECT amount, k_date FROM t ORDER BY amount DESC NULLS FIRST, k_date DESC NULLS LAST",
        true,
    ),
    // Expressions, and floats (negative, zero, NULL).
    (
        "SELECT v % 7 AS m, CAST(v AS DOUBLE) / 3 AS f, k_i32 FROM t \
         ORDER BY v % 7 NULLS FIRST, CAST(v AS DOUBLE) / 3 DESC, k_i32",
        true,
    ),
    // A window function over the whole table: rank() does not depend on tie order.
    (
        "SELECT k_date, v, rank() OVER (ORDER BY k_date DESC, v NULLS FIRST) AS r \
         FROM t ORDER BY r, k_date, v",
        true,
    ),
    // Per-partition windows sort by the partition key first.
    (
        "SELECT k_i32 % 5 AS p, v, dense_rank() OVER (PARTITION BY k_i32 % 5 ORDER BY v DESC) AS r \
         FROM t ORDER BY p NULLS FIRST, r, v",
        true,
    ),
    // Three keys of 52+ bits each: too wide to pack, sorted by arrow over all rows.
    (
        "SELECT k_i64, k_i64 + v AS a, k_i64 - v AS b FROM t ORDER BY k_i64, k_i64 + v, k_i64 - v DESC",
        true,
    ),
    // A text key: DataFusion's sort.
    ("SELECT s, v FROM t ORDER BY s NULLS FIRST, v DESC", false),
];

#[test]
fn sorts_on_packed_keys_match_datafusions_own() {
    let batches = batches();
    // Rows gathered from 40 batches, and taken from one.
    for (partitions, batches) in [
        (1, &batches[..]),
        (2, &batches[..]),
        (3, &batches[..]),
        (1, &batches[..1]),
    ] {
        let db = promodb_with(partitions, batches);
        let plain = datafusion_alone(partitions, batches);
        let rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
        for (sql, packed) in QUERIES {
            let plan = table(&query(&db, &format!("EXPLAIN {sql}")).expect("explain"));
            assert_eq!(
                plan.contains("PackedSortExec"),
                packed,
                "{sql}, {partitions} partitions:\n{plan}"
            );
            let ours = query(&db, sql).expect(sql);
            let theirs = run(&plain, sql);
            assert_eq!(ours[0].schema(), theirs[0].schema(), "{sql}");
            let expected = table(&theirs);
            assert_eq!(table(&ours), expected, "{sql}, {partitions} partitions");
            assert!(expected.lines().count() > rows, "{sql}");
        }
    }
}

#[test]
fn a_sort_by_a_limit_stays_datafusions_top_k() {
    let db = promodb_with(2, &batches());
    let sql = "EXPLAIN SELECT k_i64, v FROM t ORDER BY k_i64, v LIMIT 5";
    let plan = table(&query(&db, sql).expect("explain"));
    assert!(plan.contains("SortExec: TopK"), "{plan}");
    assert!(!plan.contains("PackedSortExec"), "{plan}");
}
