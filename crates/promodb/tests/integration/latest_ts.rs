//! `latest_ts(table, ...)`: the latest `ts` of canonical tables, a constant of the plan
//! that prunes by time like a literal, and fresh in every query.

use chrono::{TimeZone, Utc};
use promodb::ingest::Order;
use promodb::schema::Table;
use promodb::{ErrorKind, PromoDb};

use crate::attach::{hour_of_orders, hourly_order_files};
use crate::common::{file_minutes, query, small_promo, table, write_parquet};

fn one_value(db: &PromoDb, sql: &str) -> String {
    table(&query(db, sql).unwrap_or_else(|e| panic!("{sql}: {e}")))
}

#[test]
fn it_is_the_latest_ts_of_the_named_tables() {
    let db = small_promo();
    assert_eq!(
        one_value(&db, "SELECT latest_ts('orders') AS t"),
        one_value(&db, "SELECT max(ts) AS t FROM orders")
    );
    assert_eq!(
        one_value(
            &db,
            "SELECT latest_ts('orders', 'inventory', 'user_events') AS t"
        ),
        one_value(
            &db,
            "SELECT max(ts) AS t FROM (SELECT ts FROM orders UNION ALL SELECT ts FROM inventory \
             UNION ALL SELECT ts FROM user_events)"
        )
    );
    // The small promo's tables do not all end together: the test tells them apart.
    assert_ne!(
        one_value(&db, "SELECT latest_ts('orders') AS t"),
        one_value(&db, "SELECT latest_ts('user_events') AS t")
    );
}

/// Rows appended or pushed (still in the open buffer) and files attached move it, query by
/// query;
/// a database without rows gives NULL.
#[test]
fn every_query_sees_the_rows_there_are_when_it_is_planned() {
    let db = PromoDb::in_memory().unwrap();
    let latest = |db: &PromoDb| one_value(db, "SELECT CAST(latest_ts('orders') AS VARCHAR) AS t");
    let none = one_value(&db, "SELECT latest_ts('orders') IS NULL AS none");
    assert!(none.contains("| true |"), "{none}");
    db.append("orders", hour_of_orders(3)).unwrap();
    assert!(
        latest(&db).contains("2026-11-11T03:30:00"),
        "{}",
        latest(&db)
    );
    db.append("orders", hour_of_orders(5)).unwrap();
    assert!(
        latest(&db).contains("2026-11-11T05:30:00"),
        "{}",
        latest(&db)
    );
    // A pushed row waits in the open buffer until a query seals it: it counts.
    db.push(Order {
        ts: Utc.with_ymd_and_hms(2026, 11, 11, 6, 45, 0).unwrap(),
        order_id: 70,
        user_id: 7,
        sku_id: 7,
        qty: 1,
        unit_price: None,
        amount: "1.00".parse().unwrap(),
        channel: None,
        campaign_id: None,
        region: None,
    })
    .unwrap();
    assert_eq!(db.pending_rows("orders").unwrap(), 1);
    assert!(
        latest(&db).contains("2026-11-11T06:45:00"),
        "{}",
        latest(&db)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h9.parquet");
    write_parquet(&file, &hour_of_orders(9), 8);
    db.attach("orders", file.to_str().unwrap()).unwrap();
    assert!(
        latest(&db).contains("2026-11-11T09:30:00"),
        "{}",
        latest(&db)
    );
}

/// A filter against it prunes like a literal: only the file of the last hour is read,
/// and the stock_risk view reads orders without a join to its clock.
#[test]
fn a_filter_against_it_prunes_the_files_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = hourly_order_files(dir.path(), &[1, 5, 9]);
    let sql = "SELECT sum(qty) AS units FROM orders \
               WHERE ts > latest_ts('orders') - INTERVAL '15 minutes'";
    let plan = one_value(&db, &format!("EXPLAIN {sql}"));
    assert!(plan.contains("h9.parquet"), "{plan}");
    assert!(
        !plan.contains("h1.parquet") && !plan.contains("h5.parquet"),
        "{plan}"
    );
    // The 09:30 order only (its qty is the hour, 9; with 09:00's it would be 18).
    assert!(
        one_value(&db, sql).contains("| 9     |"),
        "{}",
        one_value(&db, sql)
    );

    let plan = one_value(&db, "EXPLAIN SELECT * FROM stock_risk");
    assert!(!plan.contains("NestedLoopJoinExec"), "{plan}");
    assert!(!plan.contains("latest_ts"), "{plan}");
    assert!(
        !plan.contains("h1.parquet") && !plan.contains("h5.parquet"),
        "{plan}"
    );
}

#[test]
fn it_takes_names_of_canonical_tables_with_a_ts() {
    let db = small_promo();
    for (sql, says) in [
        ("SELECT latest_ts('order_lines')", "order_lines"),
        ("SELECT latest_ts('skus')", "no ts column"),
        ("SELECT latest_ts()", "one or more canonical tables"),
        ("SELECT latest_ts(3)", "table names as text"),
        ("SELECT latest_ts(channel) FROM orders", "text literals"),
    ] {
        let error = query(&db, sql).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Sql, "{sql}: {error}");
        assert!(error.to_string().contains(says), "{sql}: {error}");
    }
}

/// A file written without statistics gets its `ts` range when attached, by reading the
/// column once: its rows count for `latest_ts`, and a time filter prunes it.
#[test]
fn files_without_statistics_count_too() {
    use promodb::datafusion::parquet::arrow::ArrowWriter;
    use promodb::datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

    let dir = tempfile::tempdir().unwrap();
    let (db, _) = hourly_order_files(dir.path(), &[1]);
    let bare = dir.path().join("bare").join("h9.parquet");
    std::fs::create_dir(bare.parent().unwrap()).unwrap();
    let batch = hour_of_orders(9);
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(1))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&bare).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    db.attach("orders", bare.to_str().unwrap()).unwrap();

    assert_eq!(file_minutes(&db, Table::Orders), [Some(30), Some(30)]);
    let latest = one_value(&db, "SELECT CAST(latest_ts('orders') AS VARCHAR) AS t");
    assert!(latest.contains("2026-11-11T09:30:00"), "{latest}");
    let plan = one_value(
        &db,
        "EXPLAIN SELECT * FROM orders WHERE ts < '2026-11-11T05:00:00Z'",
    );
    assert!(!plan.contains("bare"), "{plan}");
}
