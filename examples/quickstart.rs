//! cargo run --release --example quickstart
//!
//! Loads the small promo of `testdata/fixtures/small/` into an in-memory database and
//! prints a first war-room summary: headline KPIs, GMV by channel, payment health and the
//! latest stock per SKU.

use promodb::PromoDb;
use promodb::arrow::util::pretty::pretty_format_batches;
use promodb_examples::load_small_fixture;

const SECTIONS: [(&str, &str); 4] = [
    (
        "Headline KPIs",
        "SELECT sum(amount) AS gmv,
                count(DISTINCT order_id) AS orders,
                count(DISTINCT user_id) AS buyers,
                CAST(sum(amount) AS DOUBLE) / NULLIF(count(DISTINCT order_id), 0) AS aov
         FROM orders",
    ),
    (
        "GMV by channel",
        "SELECT coalesce(channel, '(unattributed)') AS channel, sum(amount) AS gmv,
                count(DISTINCT order_id) AS orders
         FROM orders GROUP BY 1 ORDER BY gmv DESC",
    ),
    (
        "Payment health",
        "SELECT coalesce(method, '(unknown)') AS method, count(*) AS attempts,
                count(*) FILTER (WHERE status = 'success') AS successes
         FROM payments GROUP BY 1 ORDER BY attempts DESC, method",
    ),
    (
        "Current stock",
        "SELECT sku_id, warehouse, on_hand, ts AS as_of FROM (
           SELECT *, row_number() OVER (PARTITION BY sku_id, warehouse ORDER BY ts DESC) AS rn
           FROM inventory)
         WHERE rn = 1 ORDER BY on_hand, sku_id",
    ),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = PromoDb::in_memory()?;
    let rows = load_small_fixture(&db)?;
    println!("loaded {rows} rows of the small Double 11 fixture\n");
    for (title, sql) in SECTIONS {
        let batches = db.sql(sql).await?;
        println!("== {title}\n{}\n", pretty_format_batches(&batches)?);
    }
    Ok(())
}
