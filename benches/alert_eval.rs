//! cargo bench -p promodb-benches --bench alert_eval [-- EVENTS]
//!
//! What each alert rule costs per evaluation on a whole promo (default 10M user events
//! and the tables that scale with it, loaded in memory, last year's tables registered):
//! adding it (planning, and reading last year's baseline), its first evaluation 20 hours
//! into the promo (it reads the promo so far and decides every minute up to then), and
//! each following tick one simulated minute apart (the steady state: incremental rules
//! re-read only the last minutes). The SQL stock-out forecast over the `stock_risk` view
//! is measured beside its incremental, curve-aware counterpart to show what re-scanning
//! history each tick costs.

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use promodb::PromoDb;
use promodb::alerts::{Alerts, PromoCalendar, Rule};
use promodb_datagen::{PromoConfig, generate};

const TICKS: usize = 30;

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> promodb::Result<()> {
    let events: usize = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(10_000_000);
    let started = Instant::now();
    let promo = generate(&PromoConfig::new(events));
    let db = PromoDb::in_memory()?;
    let rows = promo.load_into(&db)?;
    eprintln!(
        "{rows} rows generated and loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let calendar = PromoCalendar::new(promo.config().start);
    let mut rules = Rule::promo_anomalies(calendar);
    rules.push(Rule::stock_out_forecast_by_curve(
        calendar,
        Duration::minutes(60),
    ));
    rules.push(
        Rule::stock_out_forecast(Duration::minutes(60))
            .with_name("stock-out forecast, SQL over stock_risk"),
    );
    let mut alerts = Alerts::new(&db)?;
    let mut added = Vec::new();
    for rule in rules {
        let t = Instant::now();
        alerts.add(rule).await?;
        added.push(t.elapsed());
    }
    let first_at = calendar.start + Duration::hours(20);
    alerts.evaluate(first_at).await?;
    let first = alerts.stats();
    for minute in 1..=TICKS {
        alerts
            .evaluate(first_at + Duration::minutes(minute as i64))
            .await?;
    }
    println!(
        "| rule | add: plan + baseline (ms) | first evaluation, 20 h in (ms) | per tick, mean of {TICKS} (ms) |"
    );
    println!("|---|---|---|---|");
    for ((add, (name, first)), (_, after)) in added.iter().zip(first).zip(alerts.stats()) {
        let ticks = after.total_time - first.total_time;
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} |",
            ms(*add),
            ms(first.total_time),
            ms(ticks / TICKS as u32)
        );
    }
    Ok(())
}
