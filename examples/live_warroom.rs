//! cargo run --release --example live_warroom [-- --scale N --speed X --every MINUTES]
//!
//! The war room during the promo: replays a generated Double 11 through the append API
//! in arrival order, at X times real time (default 3600: a promo hour per second; 0 runs
//! unpaced), and every N simulated minutes (default 60) prints what the ops team watches,
//! with its freshness: how long after the rows were appended the query saw them all.
//! Alert rules (a stock-out forecast and a failing payment method) run every 5 simulated
//! minutes; their firing and resolved alerts are printed as they happen. At the end, the
//! full war-room summary.

use std::time::Instant;

use chrono::Duration;
use promodb::PromoDb;
use promodb::alerts::{Alerts, Rule, Severity, Transition};
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

/// Payment methods whose success rate over the last 10 minutes of payments is under 60%.
const PAYMENT_FAILING: &str = "
    SELECT method, success_rate, attempts FROM (
        SELECT method, count(*) AS attempts,
               safe_div(count(*) FILTER (WHERE status = 'success'), count(*)) AS success_rate
        FROM payments
        WHERE method IS NOT NULL
          AND ts > (SELECT max(ts) FROM payments) - INTERVAL '10 minutes'
        GROUP BY method)
    WHERE attempts >= 10 AND success_rate < 0.6";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let config = PromoConfig::new(scale(300_000)?);
    let speed: f64 = option("--speed", "PROMODB_SPEED", 3600.0)?;
    let every: i64 = option("--every", "PROMODB_EVERY", 60)?;
    let promo = generate(&config);
    let db = PromoDb::in_memory()?;
    let mut replay = Replay::new(&promo, &db)?;
    let mut alerts = Alerts::new(&db)?;
    alerts
        .add(Rule::stock_out_forecast(Duration::minutes(60)))
        .await?;
    alerts
        .add(
            Rule::sql("payment method failing", PAYMENT_FAILING)
                .keyed_by(["method"])
                .with_value("success_rate")
                .with_message("{method}: {attempts} attempts, success rate {success_rate}")
                .with_severity(Severity::Critical)
                .with_owner("payments"),
        )
        .await?;
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
        Duration::minutes(5),
        (speed > 0.0).then_some(speed),
        |tick| {
            let events =
                tokio::task::block_in_place(|| runtime.block_on(alerts.evaluate(tick.clock)))?;
            for event in events.iter().filter(|e| e.transition.notifies()) {
                if event.rule != "stock-out forecast" || event.transition != Transition::Repeat {
                    println!(
                        "{:>5} ALERT {:<8} {:<22} {}",
                        tick.clock.format("%H:%M"),
                        event.transition.name(),
                        event.rule,
                        event.message
                    );
                }
            }
            let minutes = (tick.clock - config.start).num_minutes();
            if minutes % every.max(1) != 0 {
                return Ok(());
            }
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
