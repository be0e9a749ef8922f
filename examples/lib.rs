//! Shared helpers for the examples: the war-room queries, printing, and the scale option.

use std::path::PathBuf;

use promodb::PromoDb;
use promodb::arrow::util::pretty::pretty_format_batches;
use promodb::schema::Table;

/// `testdata/fixtures/small/`, the small hand-checkable promo shipped with the repository.
pub fn small_fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures/small")
}

/// Loads every canonical table of the small fixture into `db`.
pub fn load_small_fixture(db: &PromoDb) -> promodb::Result<usize> {
    let mut rows = 0;
    for table in Table::ALL {
        let path = small_fixture_dir().join(format!("{}.csv", table.name()));
        rows += db.load(table.name(), &path.to_string_lossy())?.rows;
    }
    Ok(rows)
}

/// The promo size of an example: `--scale N` on the command line, else the
/// `PROMODB_SCALE` environment variable (CI runs every example small), else `default`.
pub fn scale(default: usize) -> anyhow::Result<usize> {
    option("--scale", "PROMODB_SCALE", default)
}

/// A numeric option: `flag VALUE` on the command line, else the environment variable
/// `env`, else `default`.
pub fn option<T>(flag: &str, env: &str, default: T) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == flag {
            let value = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
            return Ok(value.parse()?);
        }
    }
    match std::env::var(env) {
        Ok(value) => Ok(value.parse()?),
        Err(_) => Ok(default),
    }
}

/// Runs `sql` and prints its result under `title`.
pub async fn print_section(db: &PromoDb, title: &str, sql: &str) -> anyhow::Result<()> {
    let batches = db.sql(sql).await?;
    println!("== {title}\n{}\n", pretty_format_batches(&batches)?);
    Ok(())
}

/// The war-room summary: (title, SQL) over the canonical tables, the built-in views, and
/// `last_year_orders` and `targets` (see `promodb_datagen::Promo::load_into`).
pub const WAR_ROOM: [(&str, &str); 6] = [
    (
        "Headline KPIs",
        "WITH sales AS (SELECT sum(amount) AS gmv, count(DISTINCT order_id) AS orders,
                               count(DISTINCT user_id) AS buyers FROM orders),
              visits AS (SELECT count(DISTINCT user_id) AS visitors FROM user_events),
              pay AS (SELECT count(*) FILTER (WHERE status = 'success') AS ok, count(*) AS tries
                      FROM payments)
         SELECT gmv, orders, buyers, round(safe_div(gmv, orders), 2) AS aov,
                round(100 * safe_div(buyers, visitors), 2) AS conversion_pct,
                round(100 * safe_div(ok, tries), 2) AS payment_success_pct
         FROM sales, visits, pay",
    ),
    (
        "GMV by hour against last year and target",
        "WITH now AS (SELECT date_trunc('hour', ts) AS hour, sum(amount) AS gmv
                      FROM orders GROUP BY 1),
              ly AS (SELECT date_trunc('hour', ts) + INTERVAL '365 days' AS hour, sum(amount) AS gmv
                     FROM last_year_orders GROUP BY 1)
         SELECT t.hour, coalesce(n.gmv, 0) AS gmv, ly.gmv AS last_year, t.gmv_target AS target,
                round(100 * safe_div(n.gmv, t.gmv_target), 1) AS pct_of_target
         FROM targets t LEFT JOIN now n ON n.hour = t.hour LEFT JOIN ly ON ly.hour = t.hour
         ORDER BY t.hour",
    ),
    (
        "Top SKUs by GMV",
        "SELECT o.sku_id, s.name, s.category, sum(o.qty) AS units, sum(o.amount) AS gmv
         FROM orders o LEFT JOIN skus s ON s.sku_id = o.sku_id
         GROUP BY o.sku_id, s.name, s.category ORDER BY gmv DESC, o.sku_id LIMIT 10",
    ),
    (
        "Channels: ROAS and ROI",
        "SELECT coalesce(channel, '(unattributed)') AS channel, cost, orders, gmv,
                round(ctr, 4) AS ctr, round(cvr, 4) AS cvr, round(roas, 2) AS roas,
                round(roi, 2) AS roi
         FROM channel_performance ORDER BY gmv DESC",
    ),
    (
        "Funnel: view -> add_to_cart -> checkout -> pay (30 minutes)",
        "SELECT coalesce(channel, '(none)') AS first_touch, users, viewed, added_to_cart,
                checked_out, paid, round(100 * view_to_pay, 2) AS view_to_pay_pct
         FROM funnel_by_channel ORDER BY users DESC",
    ),
    (
        "SKUs at risk of stock-out (sold out, or under 2 hours of cover)",
        "SELECT r.sku_id, s.name, r.on_hand, round(r.sell_rate, 2) AS units_per_min,
                round(r.minutes_to_stockout, 0) AS minutes_left
         FROM stock_risk r LEFT JOIN skus s ON s.sku_id = r.sku_id
         WHERE r.minutes_to_stockout < 120
         ORDER BY r.on_hand <= 0, r.minutes_to_stockout, r.sku_id LIMIT 15",
    ),
];
