//! Built-in views on data built row by row: a live stock forecast, an empty database, and
//! a table that grew a user column after the views were planned. (The views over the
//! small fixture are checked in `testdata/slt/views/`.)

use std::sync::Arc;

use promodb::PromoDb;
use promodb::arrow::array::{Int64Array, RecordBatch, StringArray};
use promodb::arrow::datatypes::{DataType, Field, Schema};
use promodb::ingest::{InventorySnapshot, Order};
use promodb::views::BUILTIN_VIEWS;

use crate::common::{assert_text_eq, query, table, text_order_fields};

fn order(ts: &str, order_id: i64, sku_id: i64, qty: i64) -> Order {
    Order {
        ts: ts.parse().expect("timestamp"),
        order_id,
        user_id: order_id,
        sku_id,
        qty,
        unit_price: None,
        amount: "10.00".parse().expect("money"),
        channel: None,
        campaign_id: None,
        region: None,
    }
}

fn stock(ts: &str, sku_id: i64, warehouse: &str, on_hand: i64) -> InventorySnapshot {
    InventorySnapshot {
        ts: ts.parse().expect("timestamp"),
        sku_id,
        warehouse: warehouse.to_string(),
        on_hand,
    }
}

const STOCK_RISK: &str = "SELECT sku_id, on_hand, sell_rate, minutes_to_stockout, days_of_cover \
                          FROM stock_risk ORDER BY sku_id";

#[test]
fn stock_risk_forecasts_from_the_last_15_minutes_of_data() {
    let db = PromoDb::in_memory().unwrap();
    db.push_all([
        stock("2026-11-11T10:00:00Z", 7, "a", 100),
        stock("2026-11-11T10:00:00Z", 7, "b", 50),
        stock("2026-11-11T10:00:00Z", 8, "a", 10),
        stock("2026-11-11T10:00:00Z", 9, "a", 0),
    ])
    .unwrap();
    db.push_all([
        // Now is 10:10 (the latest ts): the window is (09:55, 10:10], so the order at
        // exactly 09:55 is out and sku 7 sold 3 + 12 = 15 units: 1 per minute.
        order("2026-11-11T09:55:00Z", 1, 7, 1000),
        order("2026-11-11T10:00:00Z", 2, 7, 3),
        order("2026-11-11T10:10:00Z", 3, 7, 12),
        // sku 8 sold nothing in the window: no forecast (NULL), not "never".
        order("2026-11-11T09:00:00Z", 4, 8, 5),
        // sku 9 is already out: 0 minutes left, whatever it sells.
        order("2026-11-11T10:05:00Z", 5, 9, 3),
    ])
    .unwrap();
    assert_text_eq(
        "+--------+---------+-----------+---------------------+---------------------+
| sku_id | on_hand | sell_rate | minutes_to_stockout | days_of_cover       |
+--------+---------+-----------+---------------------+---------------------+
| 7      | 150     | 1.0       | 150.0               | 0.10416666666666667 |
| 8      | 10      | 0.0       |                     |                     |
| 9      | 0       | 0.2       | 0.0                 | 0.0                 |
+--------+---------+-----------+---------------------+---------------------+",
        &table(&query(&db, STOCK_RISK).unwrap()),
    );

    // Views are live: a later order moves now to 10:20, the window to (10:05, 10:20],
    // and sku 7's rate to (12 + 30) / 15 = 2.8 per minute.
    db.push(order("2026-11-11T10:20:00Z", 6, 7, 30)).unwrap();
    assert_text_eq(
        "+--------+---------+-----------+---------------------+---------------------+
| sku_id | on_hand | sell_rate | minutes_to_stockout | days_of_cover       |
+--------+---------+-----------+---------------------+---------------------+
| 7      | 150     | 2.8       | 53.57142857142858   | 0.03720238095238096 |
| 8      | 10      | 0.0       |                     |                     |
| 9      | 0       | 0.0       | 0.0                 | 0.0                 |
+--------+---------+-----------+---------------------+---------------------+",
        &table(&query(&db, STOCK_RISK).unwrap()),
    );
}

#[test]
fn every_view_answers_on_an_empty_database() {
    let db = PromoDb::in_memory().unwrap();
    for view in BUILTIN_VIEWS {
        let batches = query(&db, &format!("SELECT * FROM {}", view.name))
            .unwrap_or_else(|e| panic!("{}: {e}", view.name));
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 0, "{} on an empty database", view.name);
    }
}

#[test]
fn views_keep_working_after_a_table_grows_a_user_column() {
    let db = PromoDb::in_memory().unwrap();
    db.push(order("2026-11-11T00:00:00Z", 1, 7, 2)).unwrap();
    let mut fields = text_order_fields();
    fields.push(Field::new("coupon", DataType::Utf8, true));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["2026-11-11T00:01:00Z"])),
            Arc::new(Int64Array::from(vec![2])),
            Arc::new(Int64Array::from(vec![2])),
            Arc::new(Int64Array::from(vec![7])),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["5.50"])),
            Arc::new(StringArray::from(vec![Some("DOUBLE11")])),
        ],
    )
    .unwrap();
    db.append("orders", batch).unwrap();
    assert_text_eq(
        "+----------------------+-------+--------+
| minute               | gmv   | orders |
+----------------------+-------+--------+
| 2026-11-11T00:00:00Z | 10.00 | 1      |
| 2026-11-11T00:01:00Z | 5.50  | 1      |
+----------------------+-------+--------+",
        &table(
            &query(
                &db,
                "SELECT minute, gmv, orders FROM kpi_minute ORDER BY minute",
            )
            .unwrap(),
        ),
    );
}

#[test]
fn rfm_recency_keeps_fractions_of_a_second() {
    let db = PromoDb::in_memory().unwrap();
    db.push(order("2026-11-11T00:00:00.250Z", 1, 7, 1)).unwrap();
    db.push(order("2026-11-11T00:00:30Z", 2, 7, 1)).unwrap();
    let rows = query(
        &db,
        "SELECT user_id, recency FROM customer_rfm ORDER BY user_id",
    )
    .unwrap();
    // 29.75 s = 0.4958333... minutes.
    assert_text_eq(
        "
+---------+---------------------+
| user_id | recency             |
+---------+---------------------+
| 1       | 0.49583333333333335 |
| 2       | 0.0                 |
+---------+---------------------+",
        &table(&rows),
    );
}
