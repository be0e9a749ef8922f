//! Typed rows: pushed one at a time, visible at once, sealed into segments by size.

use chrono::{TimeZone, Utc};
use promodb::PromoDb;
use promodb::ingest::{InventorySnapshot, Order, Sku};
use promodb::schema::Money;

use crate::common::{assert_text_eq, query, table};

fn order(i: i64) -> Order {
    Order {
        ts: Utc.timestamp_opt(1_794_355_200 + i, 0).unwrap(),
        order_id: i,
        user_id: i % 7,
        sku_id: i % 3,
        qty: 1,
        unit_price: None,
        amount: Money::from_cents(1_000 + i).unwrap(),
        channel: if i % 2 == 0 {
            Some("search".into())
        } else {
            None
        },
        campaign_id: None,
        region: None,
    }
}

#[test]
fn pushed_rows_are_visible_to_the_next_query_and_sealed_by_size() {
    let db = PromoDb::builder().with_seal_rows(100).in_memory().unwrap();
    db.push(order(0)).unwrap();
    let first = table(&query(&db, "SELECT order_id, amount, channel FROM orders").unwrap());
    assert_text_eq(
        "+----------+--------+---------+\n\
         | order_id | amount | channel |\n\
         +----------+--------+---------+\n\
         | 0        | 10.00  | search  |\n\
         +----------+--------+---------+",
        &first,
    );
    assert_eq!(db.push_all((1..1_000).map(order)).unwrap(), 999);
    let snapshot = db.snapshot("orders").unwrap();
    assert_eq!(snapshot.num_rows(), 1_000);
    assert!(
        snapshot.segments().len() <= 12,
        "rows were not sealed in bulk: {} segments",
        snapshot.segments().len()
    );
    let totals = table(
        &query(
            &db,
            "SELECT count(*) AS n, sum(amount) AS gmv, count(channel) AS with_channel FROM orders",
        )
        .unwrap(),
    );
    // sum(1000 + i for i in 0..1000) cents = 1_499_500 cents
    assert_text_eq(
        "+------+----------+--------------+\n\
         | n    | gmv      | with_channel |\n\
         +------+----------+--------------+\n\
         | 1000 | 14995.00 | 500          |\n\
         +------+----------+--------------+",
        &totals,
    );
}

#[test]
fn rows_of_different_tables_land_in_their_tables() {
    let db = PromoDb::in_memory().unwrap();
    db.push(Sku {
        sku_id: 1,
        name: Some("Down Jacket".into()),
        category: Some("apparel".into()),
        brand: None,
        list_price: Some("599".parse().unwrap()),
        unit_cost: None,
    })
    .unwrap();
    db.push(InventorySnapshot {
        ts: Utc.timestamp_opt(1_794_355_200, 0).unwrap(),
        sku_id: 1,
        warehouse: "hangzhou".into(),
        on_hand: 12,
    })
    .unwrap();
    let result = table(
        &query(
            &db,
            "SELECT s.name, s.list_price, i.on_hand, i.ts FROM skus s JOIN inventory i USING (sku_id)",
        )
        .unwrap(),
    );
    assert_text_eq(
        "+-------------+------------+---------+----------------------+\n\
         | name        | list_price | on_hand | ts                   |\n\
         +-------------+------------+---------+----------------------+\n\
         | Down Jacket | 599.00     | 12      | 2026-11-11T00:00:00Z |\n\
         +-------------+------------+---------+----------------------+",
        &result,
    );
}

#[test]
fn stale_pushed_rows_are_sealed_by_age() {
    let db = PromoDb::builder()
        .with_seal_interval(std::time::Duration::from_millis(20))
        .in_memory()
        .unwrap();
    db.push(order(1)).unwrap();
    assert_eq!(db.pending_rows("orders").unwrap(), 1);
    // Without a query, the sealer thread seals the open buffer once it is stale.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if db.pending_rows("orders").unwrap() == 0 {
            assert_eq!(db.row_count("orders").unwrap(), 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "open buffer never sealed by age"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
