//! cargo run --release --example live_warroom [-- --scale N --speed X --every MINUTES]
//!
//! The war room during the promo: replays a generated Double 11 through the append API
//! in arrival order, at X times real time (default 3600: a promo hour per second; 0 runs
//! unpaced), and every N simulated minutes (default 60) prints what the ops team watches,
//! with its freshness: how long after the rows were appended the query saw them all.
//! At the end, the full war-room summary.

use std::time::Instant;

use chrono::Duration;
use promodb::PromoDb;
use promodb::arrow::array::AsArray;
use promodb::arrow::datatypes::Int64Type;
use promodb::arrow::util::display::array_value_to_string;
use promodb_datagen::{PromoConfig, Replay, generate};
use promodb_examples::{WAR_ROOM, option, print_section, scale};

const TICK: &str = "
    WITH clock AS (SELECT max(ts) AS now FROM orders)
    SELECT (SELECT count(*) FROM user_events) AS events_seen,
           (SELECT sum(amount) FROM orders) AS gmv,
           (SELECT count(DISTINCT order_id) FROM orders, clock
             WHERE ts > now - INTERVAL '5 minutes') / 5 AS orders_per_min,
           (SELECT round(100 * safe_div(count(*) FILTER (WHERE status = 'success'), count(*)), 1)
              FROM payments, clock WHERE ts > now - INTERVAL '5 minutes') AS pay_ok_pct_5min,
           (SELECT count(*) FROM stock_risk WHERE on_hand <= 0) AS sold_out_skus,
           (SELECT count(*) FROM stock_risk WHERE minutes_to_stockout > 0
              AND minutes_to_stockout < 30) AS skus_under_30min";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = PromoConfig::new(scale(300_000)?);
    let speed: f64 = option("--speed", "PROMODB_SPEED", 3600.0)?;
    let every: i64 = option("--every", "PROMODB_EVERY", 60)?;
    let promo = generate(&config);
    let db = PromoDb::in_memory()?;
    let mut replay = Replay::new(&promo, &db)?;
    println!(
        "replaying {} at {}, a line every {every} simulated minutes\n",
        config.start.format("%Y-%m-%d"),
        if speed > 0.0 {
            format!("{speed}x real time")
        } else {
            "full speed".into()
        }
    );
    println!(
        "{:>5} {:>11} {:>14} {:>9} {:>8} {:>8} {:>10} {:>10}",
        "clock", "events", "gmv", "orders/m", "pay ok%", "sold out", "<30 min", "fresh ms"
    );
    let runtime = tokio::runtime::Handle::current();
    let mut ticks = Vec::new();
    replay.run_until(
        config.end(),
        Duration::minutes(every.max(1)),
        (speed > 0.0).then_some(speed),
        |tick| {
            // Every row appended up to now must be visible to the very next query.
            let appended = Instant::now();
            let batches = tokio::task::block_in_place(|| runtime.block_on(db.sql(TICK)))?;
            let fresh_ms = appended.elapsed().as_secs_f64() * 1e3;
            let row = &batches[0];
            let seen = row.column(0).as_primitive::<Int64Type>().value(0);
            let expected = db.row_count("user_events")? as i64;
            assert_eq!(seen, expected, "a query missed appended rows");
            let cell = |i: usize| array_value_to_string(row.column(i), 0).unwrap_or_default();
            println!(
                "{:>5} {:>11} {:>14} {:>9} {:>8} {:>8} {:>10} {:>10.1}",
                tick.clock.format("%H:%M"),
                seen,
                cell(1),
                cell(2),
                cell(3),
                cell(4),
                cell(5),
                fresh_ms
            );
            ticks.push(fresh_ms);
            Ok(())
        },
    )?;
    ticks.sort_by(f64::total_cmp);
    if let Some(worst) = ticks.last() {
        println!(
            "\nfreshness (append returned -> query saw every row): median {:.1} ms, worst {worst:.1} ms\n",
            ticks[ticks.len() / 2]
        );
    }
    for (title, sql) in WAR_ROOM {
        print_section(&db, title, sql).await?;
    }
    Ok(())
}
