//! cargo run --release --example live_warroom [-- --scale N --speed X --every MINUTES]
//!
//! The war room during the promo: replays a generated Double 11 through the append API
//! in arrival order, at X times real time (default 3600: a promo hour per second; 0 runs
//! unpaced), and every N simulated minutes (default 60) prints what the ops team watches,
//! with its freshness: how long after the rows were appended the query saw them all.
//! The war room's alert rules run every 5 simulated minutes (deciding each minute): the
//! promo-aware anomaly and efficiency rules against last year's promo (traffic, orders,
//! GMV, orders per channel, payment success per method, ad conversion) and the stock-out
//! forecast along last year's demand curve. Their firing and resolved alerts are printed
//! as they happen: with the default incidents, a wechat payment outage at 09:36, an ads
//! conversion collapse at 13:12 and a traffic drop at 16:48. At the end, the alerts per
//! owner from `alert_events`, and the full war-room summary.

use std::time::Instant;

use chrono::Duration;
use promodb::PromoDb;
use promodb::alerts::{Alerts, PromoCalendar, Rule, Transition};
use promodb::arrow::array::AsArray;
use promodb::arrow::datatypes::Int64Type;
use promodb::arrow::util::display::array_value_to_string;
use promodb_datagen::{PromoConfig, Replay, generate};
use promodb_examples::{WAR_ROOM, option, print_section, scale};

/// "Now" is the latest order (`latest_ts`), a constant of each tick's plan: the last five
/// minutes of orders and payments are read, not the whole promo.
const TICK: &str = "
    SELECT (SELECT count(*) FROM user_events) AS events_seen,
           (SELECT sum(amount) FROM orders) AS gmv,
           (SELECT count(DISTINCT order_id) FROM orders
             WHERE ts > latest_ts('orders') - INTERVAL '5 minutes') / 5 AS orders_per_min,
           (SELECT round(100 * safe_div(count(*) FILTER (WHERE status = 'success'), count(*)), 1)
              FROM payments WHERE ts > latest_ts('orders') - INTERVAL '5 minutes')
               AS pay_ok_pct_5min,
           (SELECT count(*) FROM stock_risk WHERE on_hand <= 0) AS sold_out_skus,
           (SELECT count(*) FROM stock_risk WHERE minutes_to_stockout > 0
              AND minutes_to_stockout < 30) AS skus_under_30min";

/// The closed loop after the promo: what each owner was alerted to, and for how long.
const ALERTS_PER_OWNER: &str = "
    WITH episodes AS (
        SELECT f.owner, f.rule, f.key, f.ts AS fired_at, min(r.ts) AS resolved_at
        FROM alert_events f
        LEFT JOIN alert_events r
          ON r.rule = f.rule AND r.key = f.key AND r.transition = 'resolved' AND r.ts > f.ts
        WHERE f.transition = 'firing'
        GROUP BY f.owner, f.rule, f.key, f.ts)
    SELECT owner, rule, count(*) AS alerts,
           round(avg(CAST(resolved_at AS BIGINT) - CAST(fired_at AS BIGINT)) / 60e6, 1)
               AS avg_minutes_up
    FROM episodes GROUP BY owner, rule ORDER BY owner, rule";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let config = PromoConfig::new(scale(300_000)?);
    let speed: f64 = option("--speed", "PROMODB_SPEED", 3600.0)?;
    let every: i64 = option("--every", "PROMODB_EVERY", 60)?;
    let promo = generate(&config);
    let db = PromoDb::in_memory()?;
    let mut replay = Replay::new(&promo, &db)?;
    let mut alerts = Alerts::new(&db)?;
    let calendar = PromoCalendar::new(config.start);
    for rule in Rule::promo_anomalies(calendar) {
        alerts.add(rule).await?;
    }
    alerts
        .add(Rule::stock_out_forecast_by_curve(
            calendar,
            Duration::minutes(60),
        ))
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
    print_section(&db, "alerts per owner", ALERTS_PER_OWNER).await?;
    for (title, sql) in WAR_ROOM {
        print_section(&db, title, sql).await?;
    }
    Ok(())
}
